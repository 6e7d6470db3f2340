package atmosphere

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// This file serves user/auth and user/logout (spec §2.1), in the common API
// format, with the parameters as a JSON body, a form body or the query
// string, by GET or POST.

// maxPassword is the longest password accepted: bcrypt's limit.
const maxPassword = 72

// maxLogin is the longest login accepted. Longer ones are refused before
// the login limiter, and are never logged.
const maxLogin = 256

// apiForm answers what the user/ calls share (apiPreamble) and reads the
// call's parameters; ok is false when the call has been answered.
func (d *Dialect) apiForm(w http.ResponseWriter, r *http.Request) (vals url.Values, ok bool) {
	if !d.apiPreamble(w, r) {
		return nil, false
	}
	if vals, ok = formParams(w, r); !ok {
		writeAPIError(w, apiErr(CodeWrongFormat, nil))
	}
	return vals, ok
}

// serveAuth serves user/auth: a login and password for a session hash.
func (d *Dialect) serveAuth(w http.ResponseWriter, r *http.Request) {
	vals, ok := d.apiForm(w, r)
	if !ok {
		return
	}
	login, password := vals.Get("login"), vals.Get("password")
	if len(login) > maxLogin {
		writeAPIError(w, apiErr(CodeInvalidParameters, "login and password (1 to 72 bytes) are required; a login has at most 256 bytes"))
		return
	}
	if !d.auth.loginAllowed(clientAddr(r), login, d.now()) {
		d.log.Warn("user/auth: login attempts limit", "login", login, "remote", clientAddr(r))
		writeAPIError(w, apiErr(CodeLoginAttemptsLimit, nil))
		return
	}
	if login == "" || password == "" || len(password) > maxPassword {
		writeAPIError(w, apiErr(CodeInvalidParameters, "login and password (1 to 72 bytes) are required"))
		return
	}
	var dealer int64
	if v := vals.Get("dealer_id"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			writeAPIError(w, apiErr(CodeInvalidParameters, "dealer_id must be an integer"))
			return
		}
		dealer = n
	}
	now := d.now()
	hash, s, e := d.auth.login(login, password, dealer, now)
	if e != nil {
		d.log.Info("user/auth failed", "login", login, "remote", clientAddr(r), "code", int(e.Code))
		writeAPIError(w, e)
		return
	}
	d.shareLogin(s, now) // for every node
	d.log.Info("user/auth", "login", login, "session", hash[:6])
	writeJSON(w, http.StatusOK, struct {
		Success bool   `json:"success"`
		Type    string `json:"type"`
		Hash    string `json:"hash"`
	}{true, "authenticated", hash})
}

// serveLogout serves user/logout: the session ends on every node and its
// subscribers get the logout event.
func (d *Dialect) serveLogout(w http.ResponseWriter, r *http.Request) {
	vals, ok := d.apiForm(w, r)
	if !ok {
		return
	}
	hash := vals.Get("hash")
	if !validHash(hash) {
		writeAPIError(w, apiErr(CodeWrongHash, nil))
		return
	}
	login, tag, e := d.logout(strings.ToLower(hash))
	if e != nil {
		writeAPIError(w, e)
		return
	}
	d.log.Info("user/logout", "login", login, "session", tag)
	writeJSON(w, http.StatusOK, struct {
		Success bool `json:"success"`
	}{true})
}

// apiPreamble handles CORS and the methods of user/auth and user/logout,
// reporting whether to go on.
func (d *Dialect) apiPreamble(w http.ResponseWriter, r *http.Request) bool {
	if !d.cors(w, r) {
		return false
	}
	switch r.Method {
	case http.MethodGet, http.MethodPost:
		return true
	case http.MethodOptions:
		w.WriteHeader(http.StatusNoContent)
		return false
	}
	w.Header().Set("Allow", "GET, POST, OPTIONS")
	writeAPIError(w, apiErr(CodeWrongFormat, "use GET or POST"))
	return false
}
