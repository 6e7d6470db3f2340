package ws

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// Server accepts WebSocket connections. Create one with NewServer, register
// OnConnection, then mount it with ServeHTTP or run ListenAndServe. Its
// methods are safe for concurrent use. A Server starts its background
// goroutines (the poller and the keep-alive sweeper) with the first
// connection; Shutdown stops them.
type Server struct {
	opts   Options
	onConn func(*Conn)
	onErr  func(error)

	clock     atomic.Int64  // unix nanoseconds, advanced by the sweeper
	tickEvery time.Duration // SetTickInterval; 0: the keep-alive settings alone
	metrics   counters
	tasks     sync.WaitGroup // readers, writers and the sweeper
	ready     chan *Conn     // raw connections with frames to write
	queues    sync.Pool      // *[queueArray][]byte: send-queue arrays of connections gone idle
	taskMu    sync.RWMutex   // orders tasks.Add before Shutdown's tasks.Wait
	tasksDone bool           // Shutdown is waiting for the tasks; no new ones
	poller    *poller        // raw-mode input; nil: every connection in stream mode
	wpoller   *poller        // raw-mode output space

	nextPollID atomic.Uint32

	startOnce sync.Once
	stopOnce  sync.Once
	stop      chan struct{} // closed by Shutdown once no connection is left: ends the sweeper and the writers

	mu       sync.Mutex
	conns    map[*Conn]struct{}
	shutdown bool
	httpSrv  *http.Server
}

// NewServer returns a Server with opts, zero fields set to their defaults.
func NewServer(opts Options) *Server {
	s := &Server{
		opts:  opts.withDefaults(),
		stop:  make(chan struct{}),
		conns: make(map[*Conn]struct{}),
	}
	s.clock.Store(time.Now().UnixNano())
	return s
}

// OnConnection sets the function called with each accepted connection, on
// the handshake's goroutine, before the connection reads its first frame.
// Set the connection's hooks there.
func (s *Server) OnConnection(f func(c *Conn)) { s.onConn = f }

// OnError sets the function called with server-level errors: failed
// handshakes and programming errors such as an Accept function selecting a
// sub-protocol the client did not offer.
func (s *Server) OnError(f func(err error)) { s.onErr = f }

// Options returns the server's options, defaults filled in.
func (s *Server) Options() Options { return s.opts }

func (s *Server) reportError(err error) {
	if s.onErr != nil {
		s.onErr(err)
	}
}

// start launches the background goroutines on first use.
func (s *Server) start() {
	s.startOnce.Do(func() {
		r, w, err := newPollers(s)
		if err != nil {
			s.reportError(fmt.Errorf("ws: poller unavailable, one goroutine per connection: %w", err))
		}
		s.poller, s.wpoller = r, w
		s.clock.Store(time.Now().UnixNano()) // the first connection stamps the time it came
		s.goTask(s.sweep)
		s.startWriters()
	})
}

// goTask runs f on a goroutine that Shutdown waits for. Once Shutdown has
// begun waiting, f runs on a goroutine Shutdown does not wait for: by then
// it can only be a no-op on a closed connection, or the tail of a handshake
// that outlived Shutdown's deadline. (Not on the caller's goroutine: callers
// may hold the connection's lock, which f may take.)
func (s *Server) goTask(f func()) {
	s.taskMu.RLock()
	if s.tasksDone {
		s.taskMu.RUnlock()
		go f()
		return
	}
	s.tasks.Add(1)
	s.taskMu.RUnlock()
	go func() {
		defer s.tasks.Done()
		f()
	}()
}

// newPollID returns a registration id for the pollers; never 0, which
// means "not registered".
func (s *Server) newPollID() uint32 {
	for {
		if id := s.nextPollID.Add(1); id != 0 {
			return id
		}
	}
}

// ServeHTTP answers a WebSocket handshake: 101 and a new connection, or an
// HTTP error (400 bad handshake, 403 origin or Accept refused, 405 not GET,
// 426 wrong version, 503 over MaxConnections or shutting down).
//
// The OnConnection callback runs after the handshake is validated and before
// the 101 response is written, so whatever it sets up (subscriptions, say)
// is in place by the time the client learns it is connected; frames it
// sends are written right behind the 101.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.start()
	if !s.checkOrigin(r) {
		http.Error(w, "websocket: origin not allowed", http.StatusForbidden)
		return
	}
	if !s.reserve() {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "websocket: too many connections", http.StatusServiceUnavailable)
		return
	}
	up, c, ok := s.prepare(w, r)
	if !ok {
		s.metrics.conns.Add(-1)
		return
	}
	s.metrics.accepted.Add(1)
	if s.onConn != nil {
		s.onConn(c)
	}
	// Only now is the connection visible to the sweeper, Clients and
	// Shutdown: its hooks are set. (Shutdown still waits for it: it is
	// counted since reserve.)
	s.mu.Lock()
	if !c.finished {
		s.conns[c] = struct{}{}
	}
	s.mu.Unlock()
	c.mu.Lock()
	if c.hs != nil {
		c.hs.req = nil
	}
	if s.opts.KeepRequest {
		c.extraLocked().req = handshakeRequest(r)
	}
	c.mu.Unlock()
	nc, brw, _, err := up.Upgrade(r, w)
	if err != nil {
		if nc != nil {
			_ = nc.Close()
		}
		s.reportError(fmt.Errorf("ws: handshake from %s: %w", r.RemoteAddr, err))
		c.terminate(StatusAbnormalClosure, "")
		return
	}
	var early []byte
	if n := brw.Reader.Buffered(); n > 0 {
		// The client sent frames right behind its handshake: they are
		// read before the poller takes over.
		early, _ = brw.Reader.Peek(n)
		early = append([]byte(nil), early...)
	}
	if s.shuttingDown() { // Shutdown began during the handshake
		_ = c.Close(s.opts.ShutdownCode, s.opts.ShutdownReason)
	}
	c.attach(nc, early)
}

// reserve counts a connection in, refusing it over MaxConnections or during
// shutdown.
func (s *Server) reserve() bool {
	// Under s.mu, so that Shutdown, which sets the flag under it, either
	// refuses this handshake or waits for it.
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		return false
	}
	n := s.metrics.conns.Add(1)
	if max := s.opts.MaxConnections; max > 0 && n > int64(max) {
		s.metrics.conns.Add(-1)
		return false
	}
	return true
}

// prepare checks a handshake and builds the upgrader and the connection for
// it. When the handshake is malformed, or refused by Accept, it answers with
// the error status itself and returns ok=false.
func (s *Server) prepare(w http.ResponseWriter, r *http.Request) (ws.HTTPUpgrader, *Conn, bool) {
	up := ws.HTTPUpgrader{Timeout: s.opts.WriteTimeout}
	if !wellFormed(r) {
		// gobwas/ws answers with the precise status (400, 405, 426).
		if nc, _, _, err := up.Upgrade(r, w); err == nil || nc != nil {
			_ = nc.Close()
		}
		return up, nil, false
	}
	var proto string
	if s.opts.Accept != nil {
		offered := offeredProtocols(r)
		var ok bool
		if proto, ok = s.opts.Accept(r, offered); !ok {
			http.Error(w, "websocket: connection refused", http.StatusForbidden)
			return up, nil, false
		}
		if proto != "" && !slices.Contains(offered, proto) {
			s.reportError(fmt.Errorf("ws: Accept selected sub-protocol %q, which the client did not offer (%q)", proto, offered))
			http.Error(w, "websocket: server selected an unoffered sub-protocol", http.StatusInternalServerError)
			return up, nil, false
		}
		if proto != "" {
			up.Protocol = func(p string) bool { return p == proto }
		}
	}
	compress := deflateOff
	if s.opts.Compression {
		answer, mode, err := negotiateDeflate(r)
		if err != nil {
			http.Error(w, "websocket: bad Sec-WebSocket-Extensions: "+err.Error(), http.StatusBadRequest)
			return up, nil, false
		}
		if compress = mode; compress.on() {
			up.Negotiate = deflateNegotiator(answer)
		}
	}
	c := &Conn{srv: s, compress: compress, hs: &handshake{req: r}}
	if proto != "" {
		c.extraLocked().subprotocol = proto // not shared yet: no lock needed
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		c.hs.remote = net.TCPAddrFromAddrPort(ap)
	}
	c.lastActivity.Store(s.clock.Load())
	return up, c, true
}

// wellFormed reports whether r is a handshake gobwas/ws will accept, so that
// a connection is only announced for handshakes that will succeed.
func wellFormed(r *http.Request) bool {
	key, err := base64.StdEncoding.DecodeString(r.Header.Get("Sec-WebSocket-Key"))
	return r.Method == http.MethodGet && r.ProtoAtLeast(1, 1) && r.Host != "" &&
		strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
		headerHasToken(r.Header.Values("Connection"), "upgrade") &&
		err == nil && len(key) == 16 &&
		r.Header.Get("Sec-WebSocket-Version") == "13"
}

func headerHasToken(values []string, token string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// handshakeRequest keeps what a connection may need of its handshake
// request, dropping its body and context.
func handshakeRequest(r *http.Request) *http.Request {
	return &http.Request{
		Method:     r.Method,
		URL:        r.URL,
		Proto:      r.Proto,
		ProtoMajor: r.ProtoMajor,
		ProtoMinor: r.ProtoMinor,
		Header:     r.Header,
		Host:       r.Host,
		RemoteAddr: r.RemoteAddr,
		RequestURI: r.RequestURI,
		TLS:        r.TLS,
	}
}

func offeredProtocols(r *http.Request) []string {
	var out []string
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func (s *Server) checkOrigin(r *http.Request) bool {
	if s.opts.CheckOrigin != nil {
		return s.opts.CheckOrigin(r)
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// forget removes a finished connection.
func (s *Server) forget(c *Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	c.finished = true
	s.mu.Unlock()
}

// Clients returns a snapshot of the open connections, or nil unless
// Options.ClientTracking is set.
func (s *Server) Clients() []*Conn {
	if !s.opts.ClientTracking {
		return nil
	}
	return s.snapshot(nil)
}

func (s *Server) snapshot(dst []*Conn) []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		dst = append(dst, c)
	}
	return dst
}

// ListenAndServe listens on Options.Addr and serves WebSocket handshakes on
// every path until ctx is done, then shuts down, waiting up to
// Options.WriteTimeout for connections to close.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("ws: listen: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves WebSocket handshakes on ln until ctx is done, then shuts
// down as ListenAndServe does.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	s.httpSrv = hs
	s.mu.Unlock()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("ws: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.WriteTimeout)
	defer cancel()
	err := s.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// Shutdown stops accepting handshakes, sends every connection a Close with
// Options.ShutdownCode, and waits for them to end or for ctx; connections
// still open then are dropped. It returns ctx's error if it had to drop any.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	hs := s.httpSrv
	s.mu.Unlock()
	if hs != nil {
		_ = hs.Shutdown(ctx) // hijacked connections are not its concern
	}
	s.start() // so that stopping below is the same on every path
	for _, c := range s.snapshot(nil) {
		_ = c.Close(s.opts.ShutdownCode, s.opts.ShutdownReason)
	}
	err := s.drain(ctx)
	s.stopOnce.Do(func() { close(s.stop) })
	s.poller.close()
	s.wpoller.close()
	s.taskMu.Lock()
	s.tasksDone = true
	s.taskMu.Unlock()
	if err == nil {
		s.tasks.Wait()
	}
	return err
}

// shutdownGrace is how long Shutdown waits for OnClose hooks after it
// dropped the connections left at its deadline.
const shutdownGrace = time.Second

// drain waits until no connection is open or half-way through its
// handshake. At ctx's deadline it drops the ones left and gives their hooks
// shutdownGrace to finish.
func (s *Server) drain(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var grace <-chan time.Time
	for s.metrics.conns.Load() > 0 {
		select {
		case <-ctx.Done():
			for _, c := range s.snapshot(nil) {
				c.Terminate()
			}
			grace = time.After(shutdownGrace)
			ctx = context.Background() // ctx is done with; wait on grace alone
		case <-grace:
			return context.DeadlineExceeded
		case <-tick.C:
		}
	}
	if grace != nil {
		return context.DeadlineExceeded
	}
	return nil
}

func (s *Server) shuttingDown() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shutdown
}

// sweep advances the server clock, pings connections that have been silent
// for PingInterval, closes those that did not answer within PongTimeout, and
// runs each connection's OnTick: one goroutine for all connections instead
// of a timer each, and for the dialect's keep-alive rules too.
func (s *Server) sweep() {
	t := time.NewTicker(s.sweepInterval())
	defer t.Stop()
	var batch []*Conn
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.clock.Store(now.UnixNano())
			batch = s.snapshot(batch[:0])
			for _, c := range batch {
				s.keepAlive(c, now.UnixNano())
				if c.onTick != nil && !c.closing() {
					c.onTick(now.UnixNano())
				}
			}
			clear(batch)
		}
	}
}

// sweepInterval is a second, or less when the keep-alive settings are
// shorter, so that a timeout is noticed within a quarter of itself, or
// when SetTickInterval asked for less.
func (s *Server) sweepInterval() time.Duration {
	d := time.Second
	if s.tickEvery > 0 && s.tickEvery < d {
		d = s.tickEvery
	}
	for _, v := range []time.Duration{s.opts.PingInterval / 4, s.opts.PongTimeout / 4, s.opts.ReadTimeout / 4, s.opts.WriteTimeout / 4} {
		if v > 0 && v < d {
			d = v
		}
	}
	return max(d, 10*time.Millisecond)
}

func (s *Server) keepAlive(c *Conn, now int64) {
	if t := c.writeStalled.Load(); t != 0 && time.Duration(now-t) >= s.opts.WriteTimeout {
		c.Terminate() // the peer has read nothing for WriteTimeout, not even our Close
		return
	}
	if c.closing() {
		return // bounded by the close timer or the write stall above
	}
	if t := c.readStalled.Load(); t != 0 && time.Duration(now-t) >= s.opts.ReadTimeout {
		c.fail(StatusPolicyViolation, "frame not completed in time", errors.New("ws: read: frame not completed in time"))
		return
	}
	if s.opts.PingInterval < 0 {
		return
	}
	if sent := c.pingSentAt.Load(); sent != 0 {
		if time.Duration(now-sent) >= s.opts.PongTimeout {
			c.fail(StatusGoingAway, "pong timeout", nil)
		}
		return
	}
	if time.Duration(now-c.lastActivity.Load()) >= s.opts.PingInterval {
		c.pingSentAt.Store(now)
		_ = c.enqueue(encodeFrame(ws.OpPing, nil, false), true)
	}
}

// Stats is a snapshot of a server's counters.
type Stats struct {
	Connections      int64  // open now
	Accepted         uint64 // handshakes completed
	MessagesReceived uint64
	BytesReceived    uint64
	FramesSent       uint64
	BytesSent        uint64
	Writes           uint64 // socket writes; FramesSent/Writes is the coalescing factor
	Overflows        uint64 // connections closed for a full send queue
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats { return s.metrics.snapshot() }

type counters struct {
	conns                       atomic.Int64
	accepted, msgsIn, bytesIn   atomic.Uint64
	framesOut, bytesOut, writes atomic.Uint64
	overflows                   atomic.Uint64
}

func (m *counters) received(n int) { m.msgsIn.Add(1); m.bytesIn.Add(uint64(n)) }
func (m *counters) overflow()      { m.overflows.Add(1) }
func (m *counters) wrote(frames, bytes int) {
	m.writes.Add(1)
	m.framesOut.Add(uint64(frames))
	m.bytesOut.Add(uint64(bytes))
}

func (m *counters) snapshot() Stats {
	return Stats{
		Connections:      m.conns.Load(),
		Accepted:         m.accepted.Load(),
		MessagesReceived: m.msgsIn.Load(),
		BytesReceived:    m.bytesIn.Load(),
		FramesSent:       m.framesOut.Load(),
		BytesSent:        m.bytesOut.Load(),
		Writes:           m.writes.Load(),
		Overflows:        m.overflows.Load(),
	}
}
