// Package localreq tells whether an HTTP request plainly comes from, and is
// addressed to, this machine. The token broker's API and the Atmosphere
// publisher API answer only such requests when no API key is configured.
//
// It cannot tell a reverse proxy that rewrites Host and adds no proxy
// headers (nginx's plain proxy_pass) from a local client: callers must warn
// of that when they rely on it.
package localreq

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// proxyHeaders are the headers a forwarding proxy adds; a request carrying
// any of them came from somewhere else.
var proxyHeaders = []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Real-Ip"}

// Is reports whether r is from a loopback address, to a loopback host name,
// carries no proxy headers, and was not made by a page of another site (a
// browser names the page in Origin or Referer, and says in Sec-Fetch-Site
// whether it is another site's).
func Is(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil || !LoopbackHost(host) {
		return false
	}
	for _, h := range proxyHeaders {
		if r.Header.Get(h) != "" {
			return false
		}
	}
	if !LoopbackHost(hostOnly(r.Host)) {
		return false
	}
	for _, h := range []string{"Origin", "Referer"} {
		if v := r.Header.Get(h); v != "" {
			u, err := url.Parse(v)
			if err != nil || !LoopbackHost(u.Hostname()) {
				return false
			}
		}
	}
	return r.Header.Get("Sec-Fetch-Site") != "cross-site"
}

// LoopbackHost reports whether host is "localhost", a name under
// ".localhost", or a loopback IP address (brackets allowed).
func LoopbackHost(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hostOnly strips the port from a Host header value.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}
