package atmosphere

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/switchboard-rt/switchboard/internal/localreq"
)

// This file holds what the HTTP endpoints share: origins and CORS, cache
// headers, reading parameters, and who counts as local.

// cors sets the CORS headers of an allowed cross-origin request, and
// refuses (403) one from an origin that is not allowed. It reports whether
// to go on.
func (d *Dialect) cors(w http.ResponseWriter, r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	if !d.origins.Check(r) {
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", o)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Expose-Headers", "X-Atmosphere-tracking-id, X-Atmosphere-error")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h.Set("Access-Control-Allow-Headers", req)
		}
		h.Set("Access-Control-Max-Age", "600")
	}
	return true
}

// noCache sets the headers that keep proxies and browsers from caching a
// transport response (spec §1.6).
func noCache(h http.Header) {
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", "0")
}

// maxFormBody bounds the body of user/auth and user/logout.
const maxFormBody = 64 << 10

// formParams returns the parameters of an API call given as a JSON object
// body, a form body or the query string (Navixy accepts all three). JSON
// values that are not strings are kept in their JSON text.
func formParams(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Method == http.MethodPost && ct == "application/json" {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBody))
		if err != nil {
			return nil, false
		}
		vals := r.URL.Query()
		if len(bytes.TrimSpace(body)) == 0 {
			return vals, true
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(body, &m) != nil {
			return nil, false
		}
		for k, v := range m {
			var s string
			if json.Unmarshal(v, &s) != nil {
				s = string(bytes.TrimSpace(v))
			}
			vals.Set(k, s)
		}
		return vals, true
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		return nil, false
	}
	return r.Form, true
}

// remoteHost returns the client's address without the port.
func remoteHost(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// clientAddr returns the address the per-address limits (login attempts,
// long-polling sessions) count: the peer's, or, when the peer is a
// loopback address (a reverse proxy on this host), the last address of
// X-Forwarded-For or else X-Real-IP, which such a proxy sets. Only a local
// peer is believed, so a remote client cannot choose its address. Without
// those headers every client of a local proxy shares the proxy's address.
func clientAddr(r *http.Request) string {
	host := remoteHost(r)
	if !localreq.LoopbackHost(host) {
		return host
	}
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		last := xff[len(xff)-1]
		if i := strings.LastIndexByte(last, ','); i >= 0 {
			last = last[i+1:]
		}
		if a := strings.TrimSpace(last); a != "" && len(a) <= 64 {
			return a
		}
	}
	if a := strings.TrimSpace(r.Header.Get("X-Real-Ip")); a != "" && len(a) <= 64 {
		return a
	}
	return host
}
