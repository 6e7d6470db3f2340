package atmosphere

import (
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/ws"
)

// This file is the long-polling transport (spec §1.6): a session per
// tracking id outlives the HTTP requests; it holds the client's
// subscriptions and a bounded queue of messages for its next poll. At most
// one poll is held per session. No timer or goroutine is kept per session:
// the dialect's sweep answers polls that reached the poll timeout and ends
// sessions that stopped polling.

// wake reasons of a held poll.
const (
	wakeData       = iota + 1 // messages are queued
	wakeTimeout               // the poll timeout passed: answer the heartbeat
	wakeSuperseded            // a newer poll of the same session arrived
	wakeEnded                 // the session ended
)

// poll is one held GET.
type poll struct {
	wake   chan struct{} // signalled once
	since  time.Time
	reason int // guarded by the session's mu
}

func (p *poll) signal(reason int) {
	if p.reason == 0 {
		p.reason = reason
		p.wake <- struct{}{} // capacity 1, signalled once
	}
}

// pollSession is one long-polling client.
type pollSession struct {
	id   string
	addr string // the client address it counts against (clientAddr)
	r    *pollRegistry
	c    *client

	mu       sync.Mutex
	queue    []*hub.Message
	burst    int // queued by sendBurst and not yet taken: allowed over the bound
	waiter   *poll
	lastPoll time.Time
	ended    bool
}

// send queues m for the next poll; it makes pollSession the client's outlet.
func (s *pollSession) send(m *hub.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return ws.ErrClosed
	}
	if len(s.queue) >= s.r.d.cfg.LongPolling.QueueSize+s.burst {
		s.endLocked() // the sweep unsubscribes it
		s.r.d.log.Info("long-polling session ended: slow consumer", "session", s.id)
		return ws.ErrQueueFull
	}
	s.queue = append(s.queue, m)
	if s.waiter != nil {
		s.waiter.signal(wakeData)
	}
	return nil
}

// sendBurst queues ms, the current data of a subscribe, whatever the queue
// bound: they follow the subscribe's response, which must arrive. The
// bound applies again, on top of them, until they are taken. Only the
// latest burst may go over the bound: a subscribe made while more than
// queue_size messages wait (an earlier burst not yet polled) ends the
// session as a slow consumer, so that subscribing without polling cannot
// grow the queue without bound.
func (s *pollSession) sendBurst(ms []*hub.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return ws.ErrClosed
	}
	if len(s.queue) > s.r.d.cfg.LongPolling.QueueSize {
		s.endLocked() // the sweep unsubscribes it
		s.r.d.log.Info("long-polling session ended: slow consumer", "session", s.id)
		return ws.ErrQueueFull
	}
	s.queue = append(s.queue, ms...)
	s.burst = len(ms)
	if s.waiter != nil {
		s.waiter.signal(wakeData)
	}
	return nil
}

// close ends the session; it makes pollSession the client's outlet.
func (s *pollSession) close(ws.StatusCode, string) {
	s.mu.Lock()
	s.endLocked()
	s.mu.Unlock()
}

func (s *pollSession) endLocked() {
	if s.ended {
		return
	}
	s.ended = true
	s.queue = nil
	if s.waiter != nil {
		s.waiter.signal(wakeEnded)
	}
}

// takeLocked removes what one response carries: every queued message with
// trackMessageLength (each is length-prefixed), else only the first, since
// the client would see two JSON documents glued together.
func (s *pollSession) takeLocked() []*hub.Message {
	n := 1
	if s.c.trackSize {
		n = len(s.queue)
	}
	out := s.queue[:n:n]
	s.queue = s.queue[n:]
	if len(s.queue) == 0 {
		s.queue = nil
	}
	s.burst = min(s.burst, len(s.queue))
	return out
}

// pollRegistry holds the long-polling sessions.
type pollRegistry struct {
	d        *Dialect
	mu       sync.Mutex
	sessions map[string]*pollSession
	perAddr  map[string]int // sessions by client address
	closed   bool
}

func newPollRegistry(d *Dialect) *pollRegistry {
	return &pollRegistry{d: d, sessions: map[string]*pollSession{}, perAddr: map[string]int{}}
}

// Why open makes no session.
const (
	openFull    = iota + 1 // max_sessions, or shut down
	openAddress            // max_sessions_per_address
)

// refuse answers a request for which open made no session.
func refuse(w http.ResponseWriter, why int) {
	w.Header().Set("Retry-After", "1")
	if why == openAddress {
		http.Error(w, "too many long-polling sessions from this address", http.StatusTooManyRequests)
		return
	}
	http.Error(w, "too many long-polling sessions", http.StatusServiceUnavailable)
}

func (r *pollRegistry) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sessions)
}

// create makes session id for a client at addr, replacing old, which has
// ended (nil: none). It returns nil and why when the registry is full or
// closed, or addr has too many sessions.
func (r *pollRegistry) create(id, addr string, p params, old *pollSession) (*pollSession, int) {
	r.mu.Lock()
	if cur := r.sessions[id]; cur != nil && cur != old {
		r.mu.Unlock()
		return cur, 0 // made meanwhile by another request
	}
	if old != nil && r.sessions[id] == old {
		r.removeLocked(old)
	}
	lp := r.d.cfg.LongPolling
	var why int
	switch {
	case r.closed || len(r.sessions) >= lp.MaxSessions:
		why = openFull
	case r.perAddr[addr] >= lp.MaxSessionsPerAddress:
		why = openAddress
	}
	var s *pollSession
	if why == 0 {
		s = &pollSession{id: id, addr: addr, r: r, lastPoll: r.d.now()}
		s.c = r.d.newClient(s, p)
		s.c.heartbeat = 0 // a poll timeout answers the heartbeat instead
		r.sessions[id] = s
		r.perAddr[addr]++
	}
	r.mu.Unlock()
	if old != nil {
		old.close(ws.StatusGoingAway, "")
		old.c.close()
	}
	return s, why
}

// removeLocked forgets s. r.mu is held.
func (r *pollRegistry) removeLocked(s *pollSession) {
	delete(r.sessions, s.id)
	if r.perAddr[s.addr]--; r.perAddr[s.addr] <= 0 {
		delete(r.perAddr, s.addr)
	}
}

// live returns session id unless it is missing or has ended, and the
// ended one (nil: none).
func (r *pollRegistry) live(id string) (s, ended *pollSession) {
	s = r.lookup(id)
	if s == nil {
		return nil, nil
	}
	s.mu.Lock()
	gone := s.ended
	s.mu.Unlock()
	if gone {
		return nil, s
	}
	return s, nil
}

func (r *pollRegistry) lookup(id string) *pollSession {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sessions[id]
}

// end ends session id, if there is one.
func (r *pollRegistry) end(id string) {
	r.mu.Lock()
	s := r.sessions[id]
	if s != nil {
		r.removeLocked(s)
	}
	r.mu.Unlock()
	if s != nil {
		s.close(ws.StatusNormalClosure, "")
		s.c.close()
	}
}

// sweep answers polls held for the poll timeout and ends sessions that
// ended or have not polled for the session expiry (for the shorter
// unsubscribed_expiry if they never subscribed).
func (r *pollRegistry) sweep(now time.Time) {
	lp := r.d.cfg.LongPolling
	expiry := lp.SessionExpiry.Std()
	if expiry <= 0 {
		expiry = 2 * lp.PollTimeout.Std()
	}
	unsubscribed := min(expiry, lp.UnsubscribedExpiry.Std())
	r.mu.Lock()
	list := make([]*pollSession, 0, len(r.sessions))
	for _, s := range r.sessions {
		list = append(list, s)
	}
	r.mu.Unlock()
	for _, s := range list {
		s.mu.Lock()
		if w := s.waiter; w != nil && now.Sub(w.since) >= lp.PollTimeout.Std() {
			w.signal(wakeTimeout)
		}
		limit := expiry
		if !s.c.subscribed.Load() {
			limit = unsubscribed
		}
		expired := s.ended || (s.waiter == nil && now.Sub(s.lastPoll) >= limit)
		s.mu.Unlock()
		if expired {
			r.mu.Lock()
			if r.sessions[s.id] == s {
				r.removeLocked(s)
			}
			r.mu.Unlock()
			s.close(ws.StatusGoingAway, "")
			s.c.close()
		}
	}
}

// closeAll ends every session, answering held polls, and refuses new ones.
func (r *pollRegistry) closeAll() {
	r.mu.Lock()
	r.closed = true
	list := r.sessions
	r.sessions = map[string]*pollSession{}
	r.perAddr = map[string]int{}
	r.mu.Unlock()
	for _, s := range list {
		s.close(ws.StatusGoingAway, "")
		s.c.close()
	}
}

// sessionGone is the status of a poll or POST for a session that has ended
// or that this node does not know (expired, ended as a slow consumer,
// closed, made before a restart, or on another node): atmosphere.js 2.x
// (with its default reconnectOnServerError) and 5.x reconnect on any
// status that is not 2xx, and fire onReopen / reopen when the reconnection's
// poll is accepted, which is where clients subscribe again.
const sessionGone = http.StatusGone

// gone answers a request for a session that is gone.
func gone(w http.ResponseWriter) {
	w.Header().Set("X-Atmosphere-error", "long-polling session ended: reconnect and subscribe again")
	http.Error(w, "long-polling session ended: reconnect and subscribe again", sessionGone)
}

// get serves a long-polling GET: the handshake for a new client, else a
// poll held until a message is queued, the poll timeout passes, or a newer
// poll of the session arrives. A poll for a session that is gone starts a
// new, empty one under the same tracking id and is answered 410, so that
// the client reconnects (its reconnection polls the new session) and
// subscribes again rather than wait on a session with no subscriptions.
func (r *pollRegistry) get(w http.ResponseWriter, req *http.Request, p params) {
	h := w.Header()
	noCache(h)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	id := p.trackingID
	handshake := p.wantsHandshake()
	addr := clientAddr(req)
	var s *pollSession
	if p.newClient() {
		id = newUUID()
		var why int
		if s, why = r.create(id, addr, p, nil); s == nil {
			refuse(w, why)
			return
		}
	} else if !validTrackingID(id) {
		http.Error(w, "bad X-Atmosphere-tracking-id", http.StatusBadRequest)
		return
	} else if live, ended := r.live(id); live != nil {
		s = live
	} else {
		if ns, why := r.create(id, addr, p, ended); ns == nil {
			refuse(w, why)
			return
		}
		h.Set(paramTrackingID, id)
		gone(w)
		return
	}
	h.Set(paramTrackingID, id)
	if handshake {
		s.mu.Lock()
		s.lastPoll = r.d.now()
		s.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(frame([]byte(handshakeFrame(id, r.d.cfg.ClientHeartbeat.Std())), p.trackSize))
		return
	}
	s.serve(w, req)
}

// serve holds one poll of s and writes its answer.
func (s *pollSession) serve(w http.ResponseWriter, req *http.Request) {
	d := s.r.d
	s.mu.Lock()
	s.lastPoll = d.now()
	if s.ended { // ended since get looked it up
		s.mu.Unlock()
		gone(w)
		return
	}
	if len(s.queue) > 0 {
		msgs := s.takeLocked()
		s.mu.Unlock()
		writeMessages(w, msgs)
		return
	}
	if s.waiter != nil {
		s.waiter.signal(wakeSuperseded)
	}
	p := &poll{wake: make(chan struct{}, 1), since: d.now()}
	s.waiter = p
	s.mu.Unlock()

	// Headers now: atmosphere.js 2.x opens a long-polling connection when
	// they arrive, not when the poll ends.
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	select {
	case <-p.wake:
	case <-req.Context().Done():
	case <-d.ctx.Done():
	}
	s.mu.Lock()
	if s.waiter == p {
		s.waiter = nil
	}
	s.lastPoll = d.now()
	var msgs []*hub.Message
	heartbeat := false
	gone := req.Context().Err() != nil // messages taken now would be lost
	switch {
	case gone:
	case p.reason == wakeData && len(s.queue) > 0:
		msgs = s.takeLocked()
	case p.reason == wakeTimeout:
		heartbeat = true
	}
	s.mu.Unlock()
	if heartbeat {
		// The heartbeat rather than an empty body: atmosphere.js 2.x
		// reports an empty long-polling answer as a reconnection.
		_, _ = w.Write(frame([]byte(heartbeatPadding), s.c.trackSize))
		return
	}
	writeMessages(w, msgs)
}

func writeMessages(w http.ResponseWriter, msgs []*hub.Message) {
	if len(msgs) == 1 {
		_, _ = w.Write(msgs[0].Payload())
		return
	}
	var n int
	for _, m := range msgs {
		n += len(m.Payload())
	}
	buf := make([]byte, 0, n)
	for _, m := range msgs {
		buf = append(buf, m.Payload()...)
	}
	_, _ = w.Write(buf)
}

// post serves a message POSTed by a long-polling client: the answer goes
// to its next poll, the POST itself gets an empty 200, or 410 when the
// session is gone (see get).
func (r *pollRegistry) post(w http.ResponseWriter, req *http.Request, p params) {
	noCache(w.Header())
	body, err := io.ReadAll(io.LimitReader(req.Body, int64(r.d.cfg.MaxRequestSize)+1))
	if err != nil {
		http.Error(w, "cannot read the message", http.StatusBadRequest)
		return
	}
	if p.newClient() || !validTrackingID(p.trackingID) {
		// No session to answer through: atmosphere.js 5.x sends this when
		// it pushes before reading the handshake.
		r.d.log.Debug("message without a tracking id dropped")
		http.Error(w, "X-Atmosphere-tracking-id must name the session (push after the handshake)", http.StatusBadRequest)
		return
	}
	s, _ := r.live(p.trackingID)
	if s == nil {
		// The next poll makes a new session and tells the client to
		// subscribe again; this message is dropped, as it would have been
		// by a session with no subscriptions.
		gone(w)
		return
	}
	s.c.handle(body)
	w.WriteHeader(http.StatusOK)
}
