package atmosphere

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/switchboard-rt/switchboard/config"
)

// This file keeps users, their sessions and API keys, and the login rate
// limit (users.go changes users and keys). Everything lives in memory on this node: users and API keys come
// from config (or the publisher API); sessions are made by user/auth.

// bcryptCost is the cost of password hashes made by the publisher API.
const bcryptCost = 10

// maxLimiterEntries bounds the login rate limiter's memory. When it is
// full, logins from new addresses are refused (error 105) until the
// periodic sweep forgets refilled entries.
const maxLimiterEntries = 100_000

// dummyHash is compared against when a login is unknown, so that an
// unknown login takes as long as a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("switchboard"), bcryptCost)

// user is one user of user/auth.
type user struct {
	login    string
	pwHash   []byte
	trackers map[int64]struct{} // replaced, never modified, once published
	dealerID int64
	sessions map[*session]struct{} // sessions and API keys acting for the user
}

// sortedTrackers returns the user's tracker ids in ascending order.
func (u *user) sortedTrackers() []int64 {
	out := make([]int64, 0, len(u.trackers))
	for id := range u.trackers {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// session is what a subscription hash stands for: a user/auth session or
// an API key. Its fields other than clients and lastUsed never change.
type session struct {
	tag    string // a short, non-secret prefix of the hash, for logs
	user   *user
	apiKey bool
	secret string             // the hash (sessions) or the key's SHA-256 (API keys)
	scope  map[int64]struct{} // API keys: the trackers allowed; nil for all of the user's

	// Guarded by auth.mu.
	lastUsed time.Time
	clients  map[*client]struct{} // clients with subscriptions made with it
	ended    bool
}

// trackerStatus is a tracker's status in a subscribe response.
type trackerStatus string

// Tracker statuses (spec §2.3).
const (
	statusNormal     trackerStatus = "normal"
	statusBlocked    trackerStatus = "blocked"
	statusUnknown    trackerStatus = "unknown"
	statusDisallowed trackerStatus = "disallowed"
)

// auth holds users, sessions, API keys and login attempts.
type auth struct {
	ttl         time.Duration
	maxPerUser  int
	loginBurst  int
	loginPeriod time.Duration
	mu          sync.RWMutex
	users       map[string]*user
	sessions    map[string]*session // by hash
	keys        map[string]*session // by hex SHA-256 of the key
	limiter     map[string]*bucket  // "a:<address>" and "l:<login>"
}

func newAuth(cfg config.Atmosphere) *auth {
	a := &auth{
		ttl:         cfg.SessionTTL.Std(),
		maxPerUser:  cfg.MaxSessionsPerUser,
		loginBurst:  cfg.LoginAttempts,
		loginPeriod: cfg.LoginWindow.Std(),
		users:       map[string]*user{},
		sessions:    map[string]*session{},
		keys:        map[string]*session{},
		limiter:     map[string]*bucket{},
	}
	for _, u := range cfg.Users {
		a.users[u.Login] = &user{
			login: u.Login, pwHash: []byte(u.PasswordHash), trackers: idSet(u.Trackers),
			dealerID: u.DealerID, sessions: map[*session]struct{}{},
		}
	}
	for _, k := range cfg.APIKeys {
		if u := a.users[k.Login]; u != nil {
			a.addKeyLocked(u, lowerHex(k.KeySHA256), k.Trackers)
		}
	}
	return a
}

func idSet(ids []int64) map[int64]struct{} {
	m := make(map[int64]struct{}, len(ids))
	for _, id := range ids {
		m[id] = struct{}{}
	}
	return m
}

func (a *auth) addKeyLocked(u *user, sum string, trackers []int64) *session {
	s := &session{tag: "key:" + sum[:6], user: u, apiKey: true, secret: sum, clients: map[*client]struct{}{}}
	if trackers != nil {
		s.scope = idSet(trackers)
	}
	a.keys[sum] = s
	u.sessions[s] = struct{}{}
	return s
}

// loginAllowed takes a login attempt for the client address addr and for
// login, reporting whether both are under the limit.
func (a *auth) loginAllowed(addr, login string, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	ok := true
	for _, k := range []string{"a:" + addr, "l:" + login} {
		b := a.limiter[k]
		if b == nil {
			if len(a.limiter) >= maxLimiterEntries {
				ok = false
				continue
			}
			b = &bucket{}
			a.limiter[k] = b
		}
		if !b.allow(now, a.loginBurst, a.loginPeriod) {
			ok = false
		}
	}
	return ok
}

// login checks a password and opens a session, returning its hash. The
// slow bcrypt comparison runs without the lock.
func (a *auth) login(login, password string, dealerID int64, now time.Time) (string, *Error) {
	a.mu.RLock()
	u := a.users[login]
	var pw []byte
	if u != nil {
		pw = u.pwHash
	}
	a.mu.RUnlock()
	if u == nil {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return "", apiErr(CodeWrongLogin, nil)
	}
	if bcrypt.CompareHashAndPassword(pw, []byte(password)) != nil || (dealerID != 0 && dealerID != u.dealerID) {
		return "", apiErr(CodeWrongLogin, nil)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.users[login] != u {
		return "", apiErr(CodeWrongLogin, nil) // removed or replaced meanwhile
	}
	n := 0
	for s := range u.sessions {
		if !s.apiKey {
			n++
		}
	}
	if n >= a.maxPerUser {
		return "", apiErr(CodeLoginsLimit, nil)
	}
	hash := randomHex(16)
	s := &session{tag: hash[:6], user: u, secret: hash, lastUsed: now, clients: map[*client]struct{}{}}
	a.sessions[hash] = s
	u.sessions[s] = struct{}{}
	return hash, nil
}

// lookup returns the live session or API key of hash and marks it used, or
// nil.
func (a *auth) lookup(hash string, now time.Time) *session {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s := a.sessions[hash]; s != nil {
		if now.Sub(s.lastUsed) >= a.ttl {
			return nil // the sweep ends it and tells its clients
		}
		s.lastUsed = now
		return s
	}
	return a.keys[sha256Hex(hash)]
}

// register notes that c made a subscription with s; it reports false when
// s has ended meanwhile.
func (a *auth) register(s *session, c *client) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s.ended {
		return false
	}
	s.clients[c] = struct{}{}
	return true
}

// unregister notes that c has no subscription made with s any more.
func (a *auth) unregister(s *session, c *client) {
	a.mu.Lock()
	delete(s.clients, c)
	a.mu.Unlock()
}

// endLocked ends s and returns the clients to tell.
func (a *auth) endLocked(s *session) []*client {
	if s.ended {
		return nil
	}
	s.ended = true
	if s.apiKey {
		delete(a.keys, s.secret)
	} else {
		delete(a.sessions, s.secret)
	}
	delete(s.user.sessions, s)
	out := make([]*client, 0, len(s.clients))
	for c := range s.clients {
		out = append(out, c)
	}
	clear(s.clients)
	return out
}

// logout ends the session of hash (never an API key), returning it and the
// clients to tell, or nil when there is no such session.
func (a *auth) logout(hash string) (*session, []*client) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessions[hash]
	if s == nil {
		return nil, nil
	}
	return s, a.endLocked(s)
}

// ended is a session that just ended and the clients to tell.
type ended struct {
	s       *session
	clients []*client
}

// sweep ends the sessions unused for the TTL and forgets refilled login
// limiter entries.
func (a *auth) sweep(now time.Time) []ended {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []ended
	for _, s := range a.sessions {
		if now.Sub(s.lastUsed) >= a.ttl {
			out = append(out, ended{s, a.endLocked(s)})
		}
	}
	for k, b := range a.limiter {
		if b.full(now, a.loginBurst, a.loginPeriod) {
			delete(a.limiter, k)
		}
	}
	return out
}

// status returns tracker id's status for s; blocked reports whether the
// tracker is blocked.
func (a *auth) status(s *session, id int64, blocked func(int64) bool) trackerStatus {
	a.mu.RLock()
	_, mine := s.user.trackers[id]
	a.mu.RUnlock()
	switch {
	case !mine:
		return statusUnknown
	case s.scope != nil:
		if _, ok := s.scope[id]; !ok {
			return statusDisallowed
		}
	}
	if blocked(id) {
		return statusBlocked
	}
	return statusNormal
}

// allTrackers returns every tracker of s's user.
func (a *auth) allTrackers(s *session) []int64 {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return s.user.sortedTrackers()
}

// sha256Hex returns the hex SHA-256 of s.
func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// randomHex returns n random bytes as 2n lower-case hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
