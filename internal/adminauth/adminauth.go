// Package adminauth guards Switchboard's admin surfaces, the console and
// the admin API: who may use them, and what a refused caller is told.
//
// Without a configured admin token only plainly local requests are let in
// (internal/localreq: from and to a loopback address, through no proxy, not
// from another site's page). With a token, every request must carry it, as
// "Authorization: Bearer TOKEN" or, so that a browser can sign in with its
// own dialog, as HTTP Basic credentials with any user name and the token as
// the password. It knows nothing of what the surfaces do.
package adminauth

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/switchboard-rt/switchboard/internal/localreq"
	"github.com/switchboard-rt/switchboard/internal/secret"
)

// Realm is the HTTP Basic realm a browser shows when it asks for the token.
const Realm = "Switchboard admin"

// Refusals, each saying how to get in.
const (
	msgNotLocal = "the console and admin API answer loopback clients only (from 127.0.0.1 or ::1, to localhost, not through a proxy, not from another site's page); set admin.token in the config to open them to other hosts"
	msgMissing  = "admin token required: send Authorization: Bearer <token>, or sign in with any user name and the token as the password"
	msgWrong    = "wrong admin token"
)

// Denial is why a request was refused: the HTTP status to answer and a
// message that says how to get in.
type Denial struct {
	Status  int
	Message string
}

func (d *Denial) Error() string { return fmt.Sprintf("%d %s", d.Status, d.Message) }

// Guard decides whether a request may use an admin surface. It is safe for
// concurrent use and never changes after New.
type Guard struct {
	token secret.Secret
}

// New returns a Guard for the configured admin token: "" lets loopback
// clients only in; otherwise the token itself or "sha256:" and the 64 hex
// digits of its SHA-256.
func New(token string) (*Guard, error) {
	s, err := secret.Parse(token)
	if err != nil {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	return &Guard{token: s}, nil
}

// TokenSet reports whether an admin token is configured, that is whether
// callers from other hosts can be let in.
func (g *Guard) TokenSet() bool { return g.token.IsSet() }

// Check returns nil when r may use an admin surface, or the Denial to
// answer it with.
func (g *Guard) Check(r *http.Request) *Denial {
	if !g.token.IsSet() {
		if localreq.Is(r) {
			return nil
		}
		return &Denial{http.StatusForbidden, msgNotLocal}
	}
	got, ok := presented(r)
	if !ok {
		return &Denial{http.StatusUnauthorized, msgMissing}
	}
	if !g.token.Match(got) {
		return &Denial{http.StatusUnauthorized, msgWrong}
	}
	return nil
}

// Wrap serves h only to requests that pass Check. A refused request gets
// the Denial's status with a JSON body {"error": message}; a 401 also
// carries a Basic challenge, so that a browser asks for the token.
func (g *Guard) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := g.Check(r); d != nil {
			Refuse(w, d)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Refuse writes d as the response.
func Refuse(w http.ResponseWriter, d *Denial) {
	if d.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+Realm+`", charset="UTF-8"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(d.Status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": d.Message})
}

// presented returns the token r carries: a Bearer token, or the password
// of Basic credentials.
func presented(r *http.Request) (string, bool) {
	if _, pass, ok := r.BasicAuth(); ok {
		return pass, true
	}
	a := r.Header.Get("Authorization")
	if len(a) > len("bearer ") && strings.EqualFold(a[:len("bearer ")], "bearer ") {
		return strings.TrimSpace(a[len("bearer "):]), true
	}
	return "", false
}
