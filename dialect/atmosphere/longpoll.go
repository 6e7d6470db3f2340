package atmosphere

import (
	"io"
	"net/http"
	"sync"
	"time"

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
	id string
	r  *pollRegistry
	c  *client

	mu       sync.Mutex
	queue    []*ws.PreparedMessage
	waiter   *poll
	lastPoll time.Time
	ended    bool
}

// send queues m for the next poll; it makes pollSession the client's outlet.
func (s *pollSession) send(m *ws.PreparedMessage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return ws.ErrClosed
	}
	if len(s.queue) >= s.r.d.cfg.LongPolling.QueueSize {
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
func (s *pollSession) takeLocked() []*ws.PreparedMessage {
	n := 1
	if s.c.trackSize {
		n = len(s.queue)
	}
	out := s.queue[:n:n]
	s.queue = s.queue[n:]
	if len(s.queue) == 0 {
		s.queue = nil
	}
	return out
}

// pollRegistry holds the long-polling sessions.
type pollRegistry struct {
	d        *Dialect
	mu       sync.Mutex
	sessions map[string]*pollSession
	closed   bool
}

func newPollRegistry(d *Dialect) *pollRegistry {
	return &pollRegistry{d: d, sessions: map[string]*pollSession{}}
}

func (r *pollRegistry) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sessions)
}

// open returns the session id, making it when there is none. It returns
// nil when the registry is full or closed.
func (r *pollRegistry) open(id string, p params) *pollSession {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.sessions[id]; s != nil {
		return s
	}
	if r.closed || len(r.sessions) >= r.d.cfg.LongPolling.MaxSessions {
		return nil
	}
	s := &pollSession{id: id, r: r, lastPoll: r.d.now()}
	s.c = r.d.newClient(s, p)
	s.c.heartbeat = 0 // a poll timeout answers the heartbeat instead
	r.sessions[id] = s
	return s
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
	delete(r.sessions, id)
	r.mu.Unlock()
	if s != nil {
		s.close(ws.StatusNormalClosure, "")
		s.c.close()
	}
}

// sweep answers polls held for the poll timeout and ends sessions that
// ended or have not polled for the session expiry.
func (r *pollRegistry) sweep(now time.Time) {
	lp := r.d.cfg.LongPolling
	expiry := lp.SessionExpiry.Std()
	if expiry <= 0 {
		expiry = 2 * lp.PollTimeout.Std()
	}
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
		expired := s.ended || (s.waiter == nil && now.Sub(s.lastPoll) >= expiry)
		s.mu.Unlock()
		if expired {
			r.mu.Lock()
			if r.sessions[s.id] == s {
				delete(r.sessions, s.id)
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
	r.mu.Unlock()
	for _, s := range list {
		s.close(ws.StatusGoingAway, "")
		s.c.close()
	}
}

// get serves a long-polling GET: the handshake for a new client, else a
// poll held until a message is queued, the poll timeout passes, or a newer
// poll of the session arrives.
func (r *pollRegistry) get(w http.ResponseWriter, req *http.Request, p params) {
	h := w.Header()
	noCache(h)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	id := p.trackingID
	handshake := p.wantsHandshake()
	if p.newClient() {
		id = newUUID()
	} else if !validTrackingID(id) {
		http.Error(w, "bad X-Atmosphere-tracking-id", http.StatusBadRequest)
		return
	}
	s := r.open(id, p)
	if s == nil {
		h.Set("Retry-After", "1")
		http.Error(w, "too many long-polling sessions", http.StatusServiceUnavailable)
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
	if s.ended {
		s.mu.Unlock()
		w.WriteHeader(http.StatusOK)
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
	case <-d.stop:
	}
	s.mu.Lock()
	if s.waiter == p {
		s.waiter = nil
	}
	s.lastPoll = d.now()
	var msgs []*ws.PreparedMessage
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

func writeMessages(w http.ResponseWriter, msgs []*ws.PreparedMessage) {
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
// to its next poll, the POST itself gets an empty 200.
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
	s := r.open(p.trackingID, p)
	if s == nil {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many long-polling sessions", http.StatusServiceUnavailable)
		return
	}
	s.c.handle(body)
	w.WriteHeader(http.StatusOK)
}
