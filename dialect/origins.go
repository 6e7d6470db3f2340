package dialect

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Origins is the origin policy every dialect applies to browser requests
// (WebSocket handshakes and cross-origin HTTP calls): a request with no
// Origin header (not a browser) is allowed; with one, it is allowed when
// the policy allows any origin or lists this one. Origins are compared in
// the form scheme://host[:port], lower case, so "https://Example.com/"
// matches "https://example.com". The zero Origins allows any origin.
type Origins struct {
	list []string // normalised; nil: any
}

// AnyOrigin allows every origin.
var AnyOrigin = Origins{}

// NewOrigins returns the policy that allows the origins of list; an empty
// list, or one holding "*", allows any.
func NewOrigins(list []string) Origins {
	if len(list) == 0 || slices.Contains(list, "*") {
		return AnyOrigin
	}
	o := Origins{list: make([]string, 0, len(list))}
	for _, s := range list {
		o.list = append(o.list, normOrigin(s))
	}
	return o
}

// Allowed reports whether a request whose Origin header is origin ("" for
// none) is allowed.
func (o Origins) Allowed(origin string) bool {
	if o.list == nil || origin == "" {
		return true
	}
	return slices.Contains(o.list, normOrigin(origin))
}

// Check applies the policy to r's Origin header: a ws.Options.CheckOrigin.
func (o Origins) Check(r *http.Request) bool { return o.Allowed(r.Header.Get("Origin")) }

// normOrigin is the form in which origins are compared: scheme://host[:port]
// in lower case when s parses as such, else s in lower case without a
// trailing '/'.
func normOrigin(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.Host != "" {
		return u.Scheme + "://" + u.Host
	}
	return strings.TrimSuffix(s, "/")
}
