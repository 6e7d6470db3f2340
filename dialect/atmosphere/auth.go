package atmosphere

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/switchboard-rt/switchboard/config"
)

// This file keeps users, their sessions and API keys, and the login rate
// limit (users.go changes users and keys). Users and API keys live in
// memory on this node: they come from config (or the publisher API).
// Sessions are made by user/auth on any node and are valid on every node:
// this node keeps a copy of those used here, and cluster.go keeps the
// copies in step with the hub's SharedStore.

// bcryptCost is the cost of password hashes made by the publisher API.
const bcryptCost = 10

// maxLimiterEntries bounds the login rate limiter's memory: each entry is
// a fixed-size key (a hash) and a bucket. When it is full, the least
// recently used entry is forgotten for a new one, so a flood of new
// addresses or logins never locks anyone else out.
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
// an API key. Its fields other than clients, lastUsed, checked and ended
// never change.
type session struct {
	tag    string // a short, non-secret prefix of the hash, for logs
	user   *user
	apiKey bool
	secret string             // the hex SHA-256 of the hash or key: its key in auth and in the shared store
	scope  map[int64]struct{} // API keys: the trackers allowed; nil for all of the user's

	// Guarded by auth.mu.
	lastUsed time.Time            // its last use known here, on any node
	checked  time.Time            // when it was last checked against the shared store
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

// loginsPerUser is how many times login_attempts one login may take per
// login_window, from all addresses together (see loginAllowed).
const loginsPerUser = 10

// burstOf returns the login limiter's burst for a key of kind ('a' an
// address, 'l' a login).
func (a *auth) burstOf(kind byte) int {
	if kind == 'l' {
		return loginsPerUser * a.loginBurst
	}
	return a.loginBurst
}

// auth holds users, sessions, API keys and login attempts.
type auth struct {
	ttl         time.Duration
	maxPerUser  int
	loginBurst  int
	loginPeriod time.Duration
	mu          sync.RWMutex
	users       map[string]*user
	sessions    map[string]*session // by hex SHA-256 of the hash
	keys        map[string]*session // by hex SHA-256 of the key
	limiter     *limiter            // login attempts per client address and per login
	// endedHere are the sessions this node ended whose end the shared store
	// has not recorded yet (it was unavailable), by hex SHA-256. They are
	// refused here even if the store still has them.
	endedHere map[string]struct{}
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
		limiter:     newLimiter(maxLimiterEntries),
		endedHere:   map[string]struct{}{},
	}
	for _, u := range cfg.Users {
		a.users[u.Login] = &user{
			login: u.Login, pwHash: []byte(u.PasswordHash), trackers: idSet(u.Trackers),
			dealerID: u.DealerID, sessions: map[*session]struct{}{},
		}
	}
	for _, k := range cfg.APIKeys {
		if u := a.users[k.Login]; u != nil {
			a.addKeyLocked(u, strings.ToLower(k.KeySHA256), k.Trackers)
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
// login, reporting whether both are under the limit. An address has
// loginBurst attempts per loginPeriod; a login has loginsPerUser times as
// many, so that one address (which runs out long before) cannot lock a
// user out, while the guesses at one password stay bounded whatever the
// number of addresses. The address is checked first: an attempt refused
// for its address takes nothing from the login's bucket, and makes no
// entry for it, so one address cannot fill the table with logins either.
func (a *auth) loginAllowed(addr, login string, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.limiter.take(limiterKey('a', addr), now, a.burstOf('a'), a.loginPeriod) {
		return false
	}
	return a.limiter.take(limiterKey('l', login), now, a.burstOf('l'), a.loginPeriod)
}

// login checks a password and opens a session, returning its hash. The
// slow bcrypt comparison runs without the lock. The caller shares the
// session with the other nodes.
func (a *auth) login(login, password string, dealerID int64, now time.Time) (string, *session, *Error) {
	a.mu.RLock()
	u := a.users[login]
	var pw []byte
	if u != nil {
		pw = u.pwHash
	}
	a.mu.RUnlock()
	if u == nil {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return "", nil, apiErr(CodeWrongLogin, nil)
	}
	if bcrypt.CompareHashAndPassword(pw, []byte(password)) != nil || (dealerID != 0 && dealerID != u.dealerID) {
		return "", nil, apiErr(CodeWrongLogin, nil)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.users[login] != u {
		return "", nil, apiErr(CodeWrongLogin, nil) // removed or replaced meanwhile
	}
	n := 0
	for s := range u.sessions {
		if !s.apiKey {
			n++
		}
	}
	if n >= a.maxPerUser {
		return "", nil, apiErr(CodeLoginsLimit, nil)
	}
	hash := randomHex(16)
	return hash, a.addSessionLocked(hash, u, now), nil
}

// addSessionLocked adds the session of hash for u, used at now.
func (a *auth) addSessionLocked(hash string, u *user, now time.Time) *session {
	sum := sha256Hex(hash)
	s := &session{tag: hash[:6], user: u, secret: sum, lastUsed: now, checked: now, clients: map[*client]struct{}{}}
	a.sessions[sum] = s
	u.sessions[s] = struct{}{}
	return s
}

// local returns this node's API key or copy of the session whose hash has
// the hex SHA-256 sum, either nil; ended reports that this node ended the
// session and the shared store does not know yet.
func (a *auth) local(sum string) (key, s *session, ended bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if k := a.keys[sum]; k != nil {
		return k, nil, false
	}
	_, ended = a.endedHere[sum]
	return nil, a.sessions[sum], ended
}

// use marks s used at now and returns it, or returns nil when s is nil,
// ended, or unused for the TTL (the sweep then ends it and tells its
// clients).
func (a *auth) use(s *session, now time.Time) *session {
	if s == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if s.ended || now.Sub(s.lastUsed) >= a.ttl {
		return nil
	}
	s.lastUsed = now
	return s
}

// usedAt notes that s was used at t, on some node.
func (a *auth) usedAt(s *session, t time.Time) {
	a.mu.Lock()
	if t.After(s.lastUsed) {
		s.lastUsed = t
	}
	a.mu.Unlock()
}

// adopt makes this node's copy of the session of hash, of user login, made
// on another node; it returns nil when this node has no such user. If a
// copy was made meanwhile, it returns that.
func (a *auth) adopt(hash, login string, now time.Time) *session {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s := a.sessions[sha256Hex(hash)]; s != nil {
		return s
	}
	u := a.users[login]
	if u == nil {
		return nil
	}
	return a.addSessionLocked(hash, u, now)
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

// end ends this node's copy of the session whose hash has the hex SHA-256
// sum (never an API key), returning it and the clients to tell, or nil
// when there is no such copy.
func (a *auth) end(sum string) (*session, []*client) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessions[sum]
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

// sweep returns the sessions to check against the shared store (at most
// maxChecks): those unused here for the TTL, which end unless another node
// used them, and those with clients not checked for verifyEvery, which may
// have ended on another node unbeknown to this one. It marks them checked
// and forgets refilled login limiter entries.
func (a *auth) sweep(now time.Time, maxChecks int) []*session {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []*session
	for _, s := range a.sessions {
		if len(out) == maxChecks {
			break
		}
		if now.Sub(s.lastUsed) >= a.ttl || (len(s.clients) > 0 && now.Sub(s.checked) >= verifyEvery) {
			s.checked = now
			out = append(out, s)
		}
	}
	a.limiter.forgetFull(now, a.burstOf, a.loginPeriod)
	return out
}

// expire ends s if it is unused for the TTL, returning the clients to tell.
func (a *auth) expire(s *session, now time.Time) (bool, []*client) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s.ended || now.Sub(s.lastUsed) < a.ttl {
		return false, nil
	}
	return true, a.endLocked(s)
}

// endedLocally records that this node ended the session sum, which the
// shared store has yet to learn. The record is bounded: when it holds
// maxEndedHere sessions, half of them are dropped (the other nodes then
// learn of those ends only by expiry).
func (a *auth) endedLocally(sum string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.endedHere) >= maxEndedHere {
		for k := range a.endedHere {
			delete(a.endedHere, k)
			if len(a.endedHere) <= maxEndedHere/2 {
				break
			}
		}
	}
	a.endedHere[sum] = struct{}{}
}

// pendingEnds returns the sessions ended here that the store has yet to
// learn of.
func (a *auth) pendingEnds() []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]string, 0, len(a.endedHere))
	for k := range a.endedHere {
		out = append(out, k)
	}
	return out
}

// recorded forgets that the store had to learn of the end of sum.
func (a *auth) recorded(sum string) {
	a.mu.Lock()
	delete(a.endedHere, sum)
	a.mu.Unlock()
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
