package pusher

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxClockSkew is how far auth_timestamp may be from the server's clock.
const maxClockSkew = 600 * time.Second

// restError is a REST answer other than 200: a status and a reason, sent as
// {"error": reason}.
type restError struct {
	status int
	msg    string
}

func (e *restError) Error() string { return fmt.Sprintf("%d %s", e.status, e.msg) }

func badRequest(format string, args ...any) *restError {
	return &restError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func unauthorized(format string, args ...any) *restError {
	return &restError{http.StatusUnauthorized, fmt.Sprintf(format, args...)}
}

// restHandler serves one REST endpoint of an authenticated app. It returns
// the response value (marshalled to JSON) or a *restError.
type restHandler func(r *http.Request, a *app, body []byte) (any, *restError)

// rest wraps h with what every REST call needs, in Pusher's order: the app
// (404), the body size (413), the signature (401), the app being enabled
// (403); then it writes h's answer as JSON.
func (d *Dialect) rest(h restHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d.stats.restRequests.Add(1)
		v, err := d.serveREST(r, h)
		if err != nil {
			d.stats.restErrors.Add(1)
			if err.status == http.StatusUnauthorized {
				d.stats.restAuthFailures.Add(1)
			}
			writeJSON(w, err.status, map[string]string{"error": err.msg})
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

// restNotFound answers, under /apps/, what no REST route takes: 405 with
// Allow for a REST path with another method, 404 for any other path, both
// as JSON errors, as the API's other errors.
func (d *Dialect) restNotFound(w http.ResponseWriter, r *http.Request) {
	d.stats.restRequests.Add(1)
	d.stats.restErrors.Add(1)
	if _, pattern := d.restPaths.Handler(r); pattern != "" {
		allow := d.allow[pattern]
		w.Header().Set("Allow", allow)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{
			"error": fmt.Sprintf("Method %s is not allowed on %s: use %s", truncate(r.Method, 20), truncate(r.URL.Path, 200), allow),
		})
		return
	}
	writeJSON(w, http.StatusNotFound, map[string]string{
		"error": fmt.Sprintf("Not found: %s is not a path of the REST API", truncate(r.URL.Path, 200)),
	})
}

func (d *Dialect) serveREST(r *http.Request, h restHandler) (any, *restError) {
	a := d.apps().byID[r.PathValue("app_id")]
	if a == nil {
		return nil, &restError{http.StatusNotFound, fmt.Sprintf("Unknown app id %q", truncate(r.PathValue("app_id"), 40))}
	}
	limit := int64(a.maxPayload)*int64(a.maxBatch+1) + 64<<10
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, badRequest("Reading the request body failed: %v", err)
	}
	if int64(len(body)) > limit {
		return nil, &restError{http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body is larger than %d bytes", limit)}
	}
	if e := a.verifyREST(r, body, time.Now()); e != nil {
		return nil, e
	}
	if !a.enabled {
		return nil, &restError{http.StatusForbidden, "App is disabled"}
	}
	return h(r, a, body)
}

// verifyREST checks a REST call's signature as the Pusher SDKs make it:
// auth_key is the app's key, auth_timestamp within maxClockSkew of now,
// body_md5 the MD5 of a non-empty body, and auth_signature the HMAC-SHA256
// of "METHOD\nPATH\nQUERY", QUERY being every other parameter, keys
// lower-cased and sorted, joined as k=v with & and not escaped.
func (a *app) verifyREST(r *http.Request, body []byte, now time.Time) *restError {
	var buf [16]param
	q, err := parseParams(buf[:0], r.URL.RawQuery)
	if err != nil {
		return unauthorized("Malformed query string: %v", err)
	}
	if q.get("auth_key") != a.key {
		return unauthorized("Unknown auth_key: sign requests with the app's key")
	}
	ts, err := strconv.ParseInt(q.get("auth_timestamp"), 10, 64)
	if err != nil {
		return unauthorized("Missing or malformed auth_timestamp")
	}
	if skew := now.Sub(time.Unix(ts, 0)); skew > maxClockSkew || skew < -maxClockSkew {
		return unauthorized("Timestamp expired: given timestamp %d is not within %d s of the server time %d", ts, int(maxClockSkew/time.Second), now.Unix())
	}
	if v := q.get("auth_version"); v != "" && v != "1.0" {
		return unauthorized("Unsupported auth_version %q: use 1.0", truncate(v, 10))
	}
	if len(body) > 0 {
		sum := md5.Sum(body)
		if !hexEqualFold(q.get("body_md5"), sum[:]) {
			return unauthorized("body_md5 does not match the MD5 of the body")
		}
	}
	sig := q.get("auth_signature")
	if sig == "" {
		return unauthorized("Missing auth_signature")
	}
	badSignature := func(query string) *restError {
		return unauthorized("Invalid signature: expected HMAC-SHA256 hex digest of %q", r.Method+"\\n"+r.URL.Path+"\\n"+query)
	}
	var want [sha256.Size]byte
	if len(sig) != hex.EncodedLen(len(want)) {
		return badSignature(q.signed())
	}
	if _, err := hex.Decode(want[:], []byte(sig)); err != nil {
		return badSignature(q.signed())
	}
	mac := a.macs.Get().(*restMAC)
	defer a.macs.Put(mac)
	mac.query = q.appendSigned(mac.query[:0])
	if mac.matches(r.Method, r.URL.Path, want[:]) {
		return nil
	}
	if p := r.URL.EscapedPath(); p != r.URL.Path && mac.matches(r.Method, p, want[:]) {
		return nil
	}
	if a.prevValid(now) && a.matchesPrev(r, mac.query, want[:]) {
		return nil
	}
	return badSignature(string(mac.query))
}

// matchesPrev is the signature check of verifyREST with the previous
// secret, for calls made within the grace period after a rotation.
func (a *app) matchesPrev(r *http.Request, query []byte, want []byte) bool {
	mac := a.prevMACs.Get().(*restMAC)
	defer a.prevMACs.Put(mac)
	mac.query = append(mac.query[:0], query...)
	if mac.matches(r.Method, r.URL.Path, want) {
		return true
	}
	p := r.URL.EscapedPath()
	return p != r.URL.Path && mac.matches(r.Method, p, want)
}

// restMAC is an app's HMAC-SHA256 with its secret and the buffers one REST
// signature check needs, pooled per app: building them for every call was
// a fifth of the publish handler's allocations.
type restMAC struct {
	h          hash.Hash
	query, msg []byte
	sum        [sha256.Size]byte
}

// matches reports whether want is the signature of "METHOD\nPATH\nQUERY",
// QUERY being m.query.
func (m *restMAC) matches(method, path string, want []byte) bool {
	m.msg = append(append(append(append(m.msg[:0], method...), '\n'), path...), '\n')
	m.msg = append(m.msg, m.query...)
	m.h.Reset()
	m.h.Write(m.msg)
	return hmac.Equal(m.h.Sum(m.sum[:0]), want)
}

// newMACPool returns the pool of restMACs for secret.
func newMACPool(secret []byte) *sync.Pool {
	return &sync.Pool{New: func() any { return &restMAC{h: hmac.New(sha256.New, secret)} }}
}

// hexEqualFold reports whether s is the hex encoding of b, in either case,
// as strings.EqualFold(s, hex.EncodeToString(b)) does, without allocating.
func hexEqualFold(s string, b []byte) bool {
	if len(s) != 2*len(b) {
		return false
	}
	for i, c := range b {
		if lower(s[2*i]) != hexDigits[c>>4] || lower(s[2*i+1]) != hexDigits[c&0xf] {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// param is one key=value of a query string, unescaped.
type param struct{ k, v string }

// params are a query string's parameters in their order, as url.ParseQuery
// reads them.
type params []param

// parseParams appends the parameters of query to dst. A query with nothing
// to unescape and no more parameters than dst has room for (what the SDKs
// send) is split in place without allocating; any other goes through
// url.ParseQuery, whose errors it returns.
func parseParams(dst params, query string) (params, error) {
	if strings.Count(query, "&") < cap(dst) && !strings.ContainsAny(query, "%+;") {
		for part := range strings.SplitSeq(query, "&") {
			if part == "" {
				continue
			}
			k, v, _ := strings.Cut(part, "=")
			dst = append(dst, param{k, v})
		}
		return dst, nil
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, err
	}
	for k, vs := range q {
		for _, v := range vs {
			dst = append(dst, param{k, v})
		}
	}
	return dst, nil
}

// get returns the first value of key, or "".
func (ps params) get(key string) string {
	for _, p := range ps {
		if p.k == key {
			return p.v
		}
	}
	return ""
}

// appendSigned appends the QUERY part of the string a REST call signs:
// every parameter but auth_signature, keys lower-cased, sorted by key and
// value, joined as k=v with & and not escaped. It sorts ps in place.
func (ps params) appendSigned(b []byte) []byte {
	for i := range ps {
		ps[i].k = strings.ToLower(ps[i].k)
	}
	slices.SortFunc(ps, func(x, y param) int {
		if c := strings.Compare(x.k, y.k); c != 0 {
			return c
		}
		return strings.Compare(x.v, y.v)
	})
	first := true
	for _, p := range ps {
		if p.k == "auth_signature" {
			continue
		}
		if !first {
			b = append(b, '&')
		}
		first = false
		b = append(append(append(b, p.k...), '='), p.v...)
	}
	return b
}

// signed returns appendSigned as a string, for error messages.
func (ps params) signed() string { return string(ps.appendSigned(nil)) }

// emptyObject is the JSON answer {} with its newline.
var emptyObject = []byte("{}\n")

// writeJSON writes v as the JSON response body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	if _, ok := v.(struct{}); ok { // a publish's answer: skip the reflection
		w.Header()["Content-Type"] = []string{"application/json"}
		w.WriteHeader(status)
		_, _ = w.Write(emptyObject)
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding the response failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
