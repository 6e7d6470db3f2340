package tokens

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// MaxAPIBody is the largest HTTP API request body read.
const MaxAPIBody = 4 << 20

// CORS headers of every API response, as the original broker sent them
// (X-Api-Key added, for browsers that send the key in a header).
const (
	corsMethods = "POST, GET, OPTIONS, PUT, DELETE"
	corsHeaders = "Accept, Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token, Authorization, X-Api-Key"
)

// apiPage is the answer to a GET of the API path without a method.
const apiPage = `Switchboard token broker HTTP API.

POST here with method=broadcast&message=<recipients>|<text>, get_clients,
registerToken&token=<t>, unregisterToken&token=<t>, registeredTokenList,
registerHttpClient&token=<t>&endpoint=<url> or httpClientsList,
as a form (application/x-www-form-urlencoded) or a JSON object.
WebSocket clients connect to %s?RegisterToken=<token>.
`

// apiError is an API failure: an HTTP status and a message for the caller.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(msg string) *apiError { return &apiError{http.StatusBadRequest, msg} }

// serveAPI answers the HTTP form API (see docs/token-broker.md).
func (d *Dialect) serveAPI(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if v := d.cfg.ResponseHeaders; v != "" {
		h.Set("Access-Control-Allow-Origin", v)
	}
	h.Set("Access-Control-Allow-Methods", corsMethods)
	h.Set("Access-Control-Allow-Headers", corsHeaders)
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusOK)
		return
	}
	params, body, err := readParams(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	method := params.Get("method")
	if method == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, apiPage, d.cfg.Path)
		return
	}
	if err := d.authorize(r, body); err != nil {
		writeError(w, err)
		return
	}
	var result any
	switch method {
	case "broadcast":
		result, err = d.apiBroadcast(r, params)
	case "get_clients":
		result = d.clientList()
	case "registerToken", "unregisterToken":
		result, err = d.apiSetToken(r, params, method)
	case "registeredTokenList":
		result = d.tokenList(r.Context())
	case "registerHttpClient":
		result, err = d.apiRegisterPush(r, params)
	case "httpClientsList":
		result = d.pushList()
	case "":
		err = badRequest("method required: broadcast, get_clients, registerToken, unregisterToken, registeredTokenList, registerHttpClient or httpClientsList")
	default:
		err = badRequest(fmt.Sprintf("unknown method %q: use broadcast, get_clients, registerToken, unregisterToken, registeredTokenList, registerHttpClient or httpClientsList", method))
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, result)
}

// ok is the answer of a method that returns nothing else.
var ok = map[string]bool{"ok": true}

func (d *Dialect) apiBroadcast(r *http.Request, params url.Values) (any, error) {
	msg, found := params["message"]
	if !found || len(msg) == 0 || msg[0] == "" {
		return nil, badRequest("message required: recipients|text, e.g. abc1,group/|Hello")
	}
	rcpt, payload, hasBar := strings.Cut(msg[0], "|")
	if !hasBar {
		return nil, badRequest("message must be recipients|text, e.g. abc1,group/|Hello: it has no '|'")
	}
	rc := ParseRecipients(rcpt)
	if rc.Len() == 0 {
		return nil, badRequest("message names no recipient: put tokens and groups before the '|', e.g. abc1,group/|Hello")
	}
	if rc.Len() > MaxRecipients {
		return nil, badRequest(fmt.Sprintf("too many recipients: %d, at most %d", rc.Len(), MaxRecipients))
	}
	if err := d.route(r.Context(), rc, payload); err != nil {
		d.log.Error("broadcast failed", "err", err)
		return nil, &apiError{http.StatusServiceUnavailable, "broadcast failed: " + err.Error()}
	}
	return ok, nil
}

func (d *Dialect) apiRegisterPush(r *http.Request, params url.Values) (any, error) {
	endpoint, err := pushEndpoint(params.Get("endpoint"))
	if err != nil {
		return nil, err
	}
	token := strings.TrimSpace(params.Get("token"))
	if token == "" {
		token = UnregisteredToken
	}
	if p := tokenProblem(token); p != "" {
		return nil, badRequest(p)
	}
	if !d.cfg.AllowUnregisteredHTTPClients && !d.isRegistered(r.Context(), token) {
		return nil, &apiError{http.StatusForbidden, "unregistered token: register it first, or set tokens.allow_unregistered_http_clients"}
	}
	if err := d.registerPush(token, endpoint); err != nil {
		d.log.Error("registerHttpClient failed", "err", err)
		return nil, &apiError{http.StatusServiceUnavailable, "registerHttpClient failed: " + err.Error()}
	}
	return ok, nil
}

func (d *Dialect) apiSetToken(r *http.Request, params url.Values, method string) (any, error) {
	// The original broker read "token"; its README said "message".
	token := strings.TrimSpace(params.Get("token"))
	if token == "" {
		token = strings.TrimSpace(params.Get("message"))
	}
	if p := tokenProblem(token); p != "" {
		return nil, badRequest(p)
	}
	if err := d.setRegistered(r.Context(), token, method == "registerToken"); err != nil {
		return nil, unavailable(method, err) // logged once per outage by setRegistered
	}
	return ok, nil
}

// clientList returns this node's connections: remote address -> token.
func (d *Dialect) clientList() map[string]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]string, len(d.conns))
	for c := range d.conns {
		out[c.conn.RemoteAddr().String()] = *c.token.Load()
	}
	return out
}

// readParams returns the request's parameters: the query string merged
// with a form body (application/x-www-form-urlencoded) or a JSON object
// body (application/json) whose values are strings; body holds the
// body's alone (where the API key may be).
func readParams(w http.ResponseWriter, r *http.Request) (params, body url.Values, err error) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxAPIBody)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/json" {
		if err := r.ParseForm(); err != nil {
			return nil, nil, bodyError(err)
		}
		return r.Form, r.PostForm, nil
	}
	params, body = r.URL.Query(), url.Values{}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, nil, bodyError(err)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return params, body, nil
	}
	var obj map[string]any
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, nil, badRequest("body is not a JSON object such as {\"method\":\"broadcast\",\"message\":\"abc1|Hello\"}: " + err.Error())
	}
	for k, v := range obj {
		s, isString := v.(string)
		if !isString {
			return nil, nil, badRequest(fmt.Sprintf("field %q must be a string", k))
		}
		params.Set(k, s)
		body.Set(k, s)
	}
	return params, body, nil
}

func bodyError(err error) error {
	if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
		return &apiError{http.StatusRequestEntityTooLarge, "request body larger than 4 MiB"}
	}
	return badRequest("cannot read the request: " + err.Error())
}

func writeError(w http.ResponseWriter, err error) {
	e, isAPI := errors.AsType[*apiError](err)
	if !isAPI {
		e = &apiError{http.StatusInternalServerError, err.Error()}
	}
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="switchboard"`)
	}
	writeJSON(w, e.status, map[string]string{"error": e.msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // maps of strings and bools always encode
		status, b = http.StatusInternalServerError, []byte(`{"error":"cannot encode the response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
