package tokens

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"

	"github.com/switchboard-rt/switchboard/internal/localreq"
)

// Authorization failures of the HTTP API.
var (
	errKeyMissing = &apiError{http.StatusUnauthorized, "API key required: send it in the X-Api-Key header, as Authorization: Bearer <key>, or in the api_key field of a form or JSON body"}
	errKeyInURL   = &apiError{http.StatusUnauthorized, "the API key is not accepted in the URL, which ends up in access logs: send it in the X-Api-Key header, as Authorization: Bearer <key>, or in the api_key field of a form or JSON body (and change it: it has been exposed)"}
	errKeyWrong   = &apiError{http.StatusForbidden, "wrong API key"}
	errNotLocal   = &apiError{http.StatusForbidden, "the HTTP API answers loopback clients only (from 127.0.0.1 or ::1, to localhost, not through a proxy, not from a web page of another host); set tokens.api_key (ApiKey) to let others call it"}
)

// authorize decides whether r may call the API. With tokens.api_key set,
// every caller must send the key. Without it, only a request that is
// plainly local is answered: from a loopback address, addressed to a
// loopback host (which defeats DNS rebinding), without proxy headers (a
// reverse proxy on the same host makes every caller look local), and, if
// it comes from a web page, from a page of a loopback host (which defeats
// cross-site requests from a browser on this machine, such as a form post
// or an image whose URL calls the API).
//
// The key is taken from a header or the body, never from the query string:
// URLs end up in the access logs of proxies and servers.
func (d *Dialect) authorize(r *http.Request, body url.Values) error {
	if d.cfg.APIKey != "" {
		key := requestKey(r, body)
		if key == "" {
			if q := r.URL.Query(); q.Get("api_key") != "" || q.Get("key") != "" {
				return errKeyInURL
			}
			return errKeyMissing
		}
		// Hashing first makes the comparison's time independent of the
		// lengths too.
		want, got := sha256.Sum256([]byte(d.cfg.APIKey)), sha256.Sum256([]byte(key))
		if subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
			return errKeyWrong
		}
		return nil
	}
	if !localreq.Is(r) {
		return errNotLocal
	}
	return nil
}

// requestKey returns the API key r carries: the X-Api-Key header, an
// Authorization: Bearer header, or the api_key (or key) field of the body.
func requestKey(r *http.Request, body url.Values) string {
	if k := r.Header.Get("X-Api-Key"); k != "" {
		return k
	}
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	if k := body.Get("api_key"); k != "" {
		return k
	}
	return body.Get("key")
}
