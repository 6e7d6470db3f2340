package pusher

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
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

func (d *Dialect) serveREST(r *http.Request, h restHandler) (any, *restError) {
	a := d.byID[r.PathValue("app_id")]
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
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return unauthorized("Malformed query string: %v", err)
	}
	if q.Get("auth_key") != a.key {
		return unauthorized("Unknown auth_key: sign requests with the app's key")
	}
	ts, err := strconv.ParseInt(q.Get("auth_timestamp"), 10, 64)
	if err != nil {
		return unauthorized("Missing or malformed auth_timestamp")
	}
	if skew := now.Sub(time.Unix(ts, 0)); skew > maxClockSkew || skew < -maxClockSkew {
		return unauthorized("Timestamp expired: given timestamp %d is not within %d s of the server time %d", ts, int(maxClockSkew/time.Second), now.Unix())
	}
	if v := q.Get("auth_version"); v != "" && v != "1.0" {
		return unauthorized("Unsupported auth_version %q: use 1.0", truncate(v, 10))
	}
	if len(body) > 0 {
		sum := md5.Sum(body)
		if !strings.EqualFold(q.Get("body_md5"), hex.EncodeToString(sum[:])) {
			return unauthorized("body_md5 does not match the MD5 of the body")
		}
	}
	sig := q.Get("auth_signature")
	if sig == "" {
		return unauthorized("Missing auth_signature")
	}
	query := signedQuery(q)
	for _, path := range []string{r.URL.Path, r.URL.EscapedPath()} {
		if validSignature(a.secret, r.Method+"\n"+path+"\n"+query, sig) {
			return nil
		}
	}
	return unauthorized("Invalid signature: expected HMAC-SHA256 hex digest of %q", r.Method+"\\n"+r.URL.Path+"\\n"+query)
}

// signedQuery is the QUERY part of the string a REST call signs.
func signedQuery(q url.Values) string {
	type kv struct{ k, v string }
	var pairs []kv
	for k, vs := range q {
		if k == "auth_signature" {
			continue
		}
		for _, v := range vs {
			pairs = append(pairs, kv{strings.ToLower(k), v})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// writeJSON writes v as the JSON response body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding the response failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
