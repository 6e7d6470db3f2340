package atmosphere

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/switchboard-rt/switchboard/hub"
)

// This file makes user/auth sessions valid on every node, through the hub's
// SharedStore (Redis in a cluster, memory on one node) and one hub channel.
//
//   - user/auth writes the session to sessionSpace; every use (a subscribe
//     or unsubscribe action) on any node writes it again, with the time of
//     the use, so the store knows the last use anywhere.
//   - A node that does not know a hash asks the store, and keeps a copy of
//     the session if the store has it, unused for less than the TTL, and
//     this node has its user. Concurrent reads of one hash are one call, a
//     failed read is not repeated for lookupErrorTTL, and a hash the store
//     does not know is refused without asking for unknownTTL (lookup.go).
//   - Every use checks the store first: a session ended elsewhere (in
//     endedSpace) is refused, and this node's copy ends.
//   - An end (user/logout, a new password, a deleted user) is written to
//     endedSpace and announced on authChannel: each node ends its copy and
//     sends the logout event to its subscribers within a tick (50 ms).
//   - Expiry: a copy unused here for the TTL ends only if the store has no
//     use within the TTL either; copies with subscribers are checked
//     against the store every verifyEvery, which catches an end whose
//     announcement this node missed (Redis was down).
//
// While the store is unavailable (Redis down) a node serves from its
// copies: hashes it knows work, others are refused, logins work here
// (written to the store at their next use), ends are kept in
// auth.endedHere and written when the store answers, and expiry waits. The
// failure is logged once, and the recovery once.
const (
	// sessionSpace holds the sessions: key the hex SHA-256 of the hash
	// (never the hash), value a sessionRecord, expiring a TTL after the
	// last use.
	sessionSpace = "atmosphere/sessions"
	// endedSpace holds the sessions that ended before their TTL: key as in
	// sessionSpace, value "1", expiring a TTL after the end (by then no
	// copy anywhere is unused for less than the TTL).
	endedSpace = "atmosphere/ended"
	// authChannel carries the hex SHA-256 of each ended session to every
	// node.
	authChannel = "atmo:auth"
	// sharedTimeout bounds the shared store calls of one action, login,
	// logout or sweep.
	sharedTimeout = 2 * time.Second
	// verifyEvery is how often a copy with subscribers is checked against
	// the store; maxChecksPerSweep bounds the checks of one sweep (one a
	// second), and so the store calls of an idle node.
	verifyEvery       = time.Minute
	maxChecksPerSweep = 64
	// maxEndedHere bounds auth.endedHere; maxNotices bounds the
	// announcements waiting for the next tick (more are dropped: the
	// verification catches them).
	maxEndedHere = 100_000
	maxNotices   = 65_536
)

// sessionRecord is a session in the shared store.
type sessionRecord struct {
	Login string `json:"login"`
	Used  int64  `json:"used"` // unix milliseconds of the last use
}

// sharedSession is what the shared store says of one session.
type sharedSession struct {
	ended bool           // it ended before its TTL
	rec   *sessionRecord // nil when the store has no live record
}

// notices receives the ends announced on authChannel, for the ticker: a
// delivery must not block, and ending a copy takes client locks.
type notices struct {
	mu   sync.Mutex
	sums []string
}

// Deliver queues one announced end. It makes notices a hub.Subscriber.
func (n *notices) Deliver(m *hub.Message) error {
	sum := string(m.Payload())
	if len(sum) != 64 {
		return nil // not ours
	}
	n.mu.Lock()
	if len(n.sums) < maxNotices {
		n.sums = append(n.sums, sum)
	}
	n.mu.Unlock()
	return nil
}

var _ hub.Subscriber = (*notices)(nil)

// take returns and forgets the queued ends.
func (n *notices) take() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := n.sums
	n.sums = nil
	return out
}

// errRecentFailure answers a read of a session whose read failed less than
// lookupErrorTTL before (lookups).
var errRecentFailure = errors.New("atmosphere: the shared store failed for this session less than a second ago")

// sharedState reads what the store says of the session sum.
func (d *Dialect) sharedState(ctx context.Context, sum string) (sharedSession, error) {
	st := d.hub.Shared()
	if _, ended, err := st.Get(ctx, endedSpace, sum); err != nil {
		return sharedSession{}, d.sharedFailed(err)
	} else if ended {
		d.sharedOK()
		return sharedSession{ended: true}, nil
	}
	b, found, err := st.Get(ctx, sessionSpace, sum)
	if err != nil {
		return sharedSession{}, d.sharedFailed(err)
	}
	d.sharedOK()
	var rec sessionRecord
	if !found || json.Unmarshal(b, &rec) != nil {
		return sharedSession{}, nil
	}
	return sharedSession{rec: &rec}, nil
}

// shareUse writes s to the store as used at t, unused for the TTL after t.
// A failure is logged (once) and otherwise ignored: the next use writes it.
func (d *Dialect) shareUse(ctx context.Context, s *session, t time.Time) {
	ttl := d.auth.ttl - d.now().Sub(t)
	if ttl <= 0 {
		return
	}
	b, _ := json.Marshal(sessionRecord{Login: s.user.login, Used: t.UnixMilli()}) // always encodes
	if err := d.hub.Shared().Set(ctx, sessionSpace, s.secret, b, ttl); err != nil {
		d.sharedFailed(err)
		return
	}
	d.sharedOK()
}

// session returns the live session or API key of hash and marks it used,
// or nil. It may ask the shared store (no lock is held).
func (d *Dialect) session(hash string, now time.Time) *session {
	sum := sha256Hex(hash)
	key, s, endedHere := d.auth.local(sum)
	switch {
	case key != nil:
		return key
	case endedHere:
		return nil
	}
	if s == nil && d.lookups.isUnknown(sum, now) {
		return nil // the store did not know it a moment ago
	}
	ctx, cancel := context.WithTimeout(d.ctx, sharedTimeout)
	defer cancel()
	st, err := d.lookups.do(sum, now, func() (sharedSession, error) { return d.sharedState(ctx, sum) })
	switch {
	case err != nil:
		return d.auth.use(s, now) // serve from this node's copy
	case st.ended:
		if s != nil {
			d.endCopy(sum, "session ended on another node")
		}
		return nil
	}
	if st.rec != nil {
		used := time.UnixMilli(st.rec.Used)
		if s == nil && now.Sub(used) < d.auth.ttl {
			s = d.auth.adopt(hash, st.rec.Login, now)
		}
		if s != nil {
			d.auth.usedAt(s, used)
		}
	}
	// A copy the store lacks is written back below: its login was written
	// while the store was down, or the store lost it (Redis restarted).
	if s = d.auth.use(s, now); s != nil {
		d.shareUse(ctx, s, now)
	} else if !st.ended && st.rec == nil {
		d.lookups.markUnknown(sum, now)
	}
	return s
}

// shareLogin writes a new session to the store.
func (d *Dialect) shareLogin(s *session, now time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	d.shareUse(ctx, s, now)
}

// logout ends the session of hash on every node: this node's copy at once,
// with the logout event to its subscribers, and the others' through the
// store and authChannel. It returns the login, or an error when no node
// has the session (or this node has no copy and the store is unavailable).
func (d *Dialect) logout(hash string) (login, tag string, e *Error) {
	sum := sha256Hex(hash)
	key, _, endedHere := d.auth.local(sum)
	if key != nil || endedHere {
		return "", "", apiErr(CodeSessionNotFound, nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	if s, clients := d.auth.end(sum); s != nil {
		d.tellEnded(ended{s, clients})
		d.shareEnd(ctx, sum)
		return s.user.login, s.tag, nil
	}
	st, err := d.sharedState(ctx, sum)
	switch {
	case err != nil:
		return "", "", apiErr(CodeUnexpected, "the session is not known to this node and the shared session store is unavailable; try again")
	case st.ended || st.rec == nil || d.now().Sub(time.UnixMilli(st.rec.Used)) >= d.auth.ttl:
		return "", "", apiErr(CodeSessionNotFound, nil)
	}
	d.shareEnd(ctx, sum)
	return st.rec.Login, hash[:6], nil
}

// shareEnd records in the store that the session sum ended and announces
// it to every node. When the store is unavailable, this node remembers it
// and retries at each sweep.
func (d *Dialect) shareEnd(ctx context.Context, sum string) {
	st := d.hub.Shared()
	if err := st.Set(ctx, endedSpace, sum, []byte("1"), d.auth.ttl); err != nil {
		d.sharedFailed(err)
		d.auth.endedLocally(sum)
		return
	}
	d.sharedOK()
	d.auth.recorded(sum)
	_ = st.Delete(ctx, sessionSpace, sum) // it expires anyway
	// Nodes that miss the announcement (Redis down) learn at the next use
	// or check of their copy.
	_ = d.hub.Publish(ctx, authChannel, []byte(sum), hub.NoID)
}

// endCopy ends this node's copy of the session sum, if any, with the
// logout event to its subscribers.
func (d *Dialect) endCopy(sum, why string) {
	if s, clients := d.auth.end(sum); s != nil {
		d.log.Info(why, "session", s.tag, "login", s.user.login)
		d.tellEnded(ended{s, clients})
	}
}

// endAnnounced ends the copies of the sessions announced on authChannel.
// The ticker calls it.
func (d *Dialect) endAnnounced() {
	for _, sum := range d.notices.take() {
		d.endCopy(sum, "session ended on another node")
	}
}

// sweepSessions checks the sessions the sweep picked against the store (see
// the top of this file) and writes the ends the store missed.
// It runs on the session sweeper (dialect.go), never on the ticker: up to
// maxChecksPerSweep sequential store reads (SharedStore has no multi-get),
// bounded by sharedTimeout and ended by Shutdown through ctx.
func (d *Dialect) sweepSessions(ctx context.Context, now time.Time) {
	ctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	defer cancel()
	for _, sum := range d.auth.pendingEnds() {
		d.shareEnd(ctx, sum)
		if d.shared.Load() == sharedDown {
			break // the rest at the next sweep
		}
	}
	for _, s := range d.auth.sweep(now, maxChecksPerSweep) {
		if ctx.Err() != nil {
			return
		}
		st, err := d.sharedState(ctx, s.secret)
		switch {
		case err != nil:
			continue // expiry waits for the store
		case st.ended:
			d.endCopy(s.secret, "session ended on another node")
			continue
		case st.rec != nil:
			d.auth.usedAt(s, time.UnixMilli(st.rec.Used))
		}
		if ok, clients := d.auth.expire(s, now); ok {
			d.log.Info("session expired", "session", s.tag, "login", s.user.login)
			d.tellEnded(ended{s, clients})
		} else if st.rec == nil {
			d.auth.mu.RLock()
			used := s.lastUsed
			d.auth.mu.RUnlock()
			d.shareUse(ctx, s, used) // the store lost it, or never had it
		}
	}
}

// States of the shared store as this node last found it (Dialect.shared).
const (
	sharedUnknown int32 = iota // no call has answered yet: a cluster bus may still be connecting
	sharedUp
	sharedDown
)

// sharedFailed notes a failed shared store call, logging the first after a
// success, and returns err. Failures before the first success are not
// logged: at start the cluster bus connects, and it reports an unreachable
// Redis itself.
func (d *Dialect) sharedFailed(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	if d.shared.Swap(sharedDown) == sharedUp {
		d.sharedLogged.Store(true)
		d.log.Warn("sessions: shared store unavailable; serving from this node's copies until it answers", "err", err)
	}
	return err
}

// sharedOK notes a successful shared store call, logging it when the store
// had failed after a success.
func (d *Dialect) sharedOK() {
	if d.shared.Load() == sharedUp {
		return
	}
	d.shared.Store(sharedUp)
	if d.sharedLogged.CompareAndSwap(true, false) {
		d.log.Info("sessions: shared store answers again")
	}
}
