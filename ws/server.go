package ws

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Server accepts WebSocket connections. Create one with NewServer, register
// OnConnection, then mount it with ServeHTTP or run ListenAndServe. Its
// methods are safe for concurrent use. A Server runs on an Engine (its own
// unless Options.Engine gives a shared one), which starts its background
// goroutines (the pollers, the writers and the keep-alive sweeper) with the
// first connection; Shutdown stops them when the Engine is the Server's
// own.
type Server struct {
	opts   Options
	onConn func(*Conn)
	onErr  func(error)

	engine    *Engine
	ownEngine bool          // made by NewServer: Shutdown stops it
	clock     atomic.Int64  // unix nanoseconds, advanced by the sweeper
	tickEvery time.Duration // SetTickInterval; 0: the keep-alive settings alone
	swept     []*Conn       // the sweeper's, reused from sweep to sweep
	metrics   counters
	// tasks are the goroutines a connection starts, one per wake-up (raw
	// reads, stream-mode writes, a handshake's tail, a lingering close):
	// a WaitGroup rather than a routine.Group, because they are the hot
	// path (one per read event) and need no context, and because a task
	// asked for after Shutdown's wait began must still run (goTask).
	tasks     sync.WaitGroup
	ready     chan *Conn   // the Engine's: raw connections with frames to write
	queues    sync.Pool    // *[queueArray][]byte: send-queue arrays of connections gone idle
	taskMu    sync.RWMutex // orders tasks.Add before Shutdown's tasks.Wait
	tasksDone bool         // Shutdown is waiting for the tasks; no new ones
	poller    *poller      // the Engine's raw-mode input; nil: every connection in stream mode
	wpoller   *poller      // the Engine's raw-mode output space

	ringEntries uint32    // each writer's io_uring size (ringEntries; tests make setup fail with it)
	ringFailed  sync.Once // the io_uring setup failure is reported once

	startOnce sync.Once
	stopOnce  sync.Once
	stop      chan struct{} // closed by Shutdown once no connection is left: ends lingering closes

	mu       sync.Mutex
	conns    map[*Conn]struct{}
	shutdown bool
	httpSrv  *http.Server
}

// NewServer returns a Server with opts, zero fields set to their defaults.
func NewServer(opts Options) *Server {
	s := &Server{
		opts:        opts.withDefaults(),
		stop:        make(chan struct{}),
		conns:       make(map[*Conn]struct{}),
		ringEntries: ringEntries,
	}
	s.engine = opts.Engine
	if s.engine == nil {
		s.engine, s.ownEngine = NewEngine(), true
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

// start starts the Engine if it has not started and puts the Server on
// its sweeper, on first use.
func (s *Server) start() {
	s.startOnce.Do(func() {
		s.engine.start(s)
		s.poller, s.wpoller = s.engine.pollersFor(s)
		s.ready = s.engine.ready
		s.clock.Store(time.Now().UnixNano()) // the first connection stamps the time it came
		s.engine.attach(s)
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

// newPollID returns a registration id for the Engine's pollers.
func (s *Server) newPollID() uint32 { return s.engine.newPollID() }

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
// It stops the Server's Engine if it is its own; a shared one goes on for
// its other Servers, and its owner closes it.
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
	if s.ownEngine {
		s.engine.stop()
	} else {
		s.engine.detach(s)
	}
	s.taskMu.Lock()
	s.tasksDone = true
	s.taskMu.Unlock()
	if err == nil {
		s.tasks.Wait()
		if s.ownEngine {
			s.engine.routines.Wait()
		}
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
