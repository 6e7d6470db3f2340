package ws

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-rt/switchboard/internal/routine"
)

// Engine runs the raw-mode machinery of Servers: the two epoll pollers
// (input, and room to write), the long-lived writers and the keep-alive
// sweeper. Every Server has one. Servers given the same Engine
// (Options.Engine) share it, so that the endpoints of one process (the
// dialects of Switchboard, each a Server with options of its own) cost one
// set of them rather than one set each; a Server given none makes its own
// and stops it in Shutdown. An Engine starts its goroutines with the first
// connection of any of its Servers. Its methods are safe for concurrent
// use.
type Engine struct {
	// routines owns the writers and the sweeper; its context ends when the
	// Engine stops.
	routines *routine.Group

	startOnce sync.Once
	stopOnce  sync.Once
	pollErr   error   // why the pollers are unavailable; set by start
	poller    *poller // raw-mode input; nil: every connection in stream mode
	wpoller   *poller // raw-mode output space
	ready     chan *Conn

	nextPollID atomic.Uint32

	mu      sync.Mutex
	servers []*sweptServer // the sweeper's; in the order they started
	retick  chan struct{}  // tells the sweeper that servers changed
}

// sweptServer is one Server on its Engine's sweeper: swept every interval,
// whatever the Engine's own tick.
type sweptServer struct {
	s        *Server
	interval time.Duration
	last     int64 // unix nanoseconds of its last sweep; the sweeper's
}

// NewEngine returns an Engine for Servers to share (Options.Engine). Call
// Close once every Server using it has shut down.
func NewEngine() *Engine {
	return &Engine{routines: routine.New(context.Background()), retick: make(chan struct{}, 1)}
}

// Close stops the Engine's goroutines and waits for them. Call it after
// every Server using the Engine has shut down; a Server started after
// Close serves every connection in stream mode, with no keep-alive sweep.
func (e *Engine) Close() {
	e.startOnce.Do(func() {}) // an Engine never started does not start now
	e.stop()
	e.routines.Wait()
}

// start launches the pollers, the writers and the sweeper on first use,
// by s.
func (e *Engine) start(s *Server) {
	e.startOnce.Do(func() {
		e.poller, e.wpoller, e.pollErr = newPollers(e)
		e.startWriters(s)
		e.routines.Go(e.sweep)
	})
}

// stop ends the writers and the sweeper and closes the pollers; it does
// not wait for the writers and the sweeper (routines.Wait does).
func (e *Engine) stop() {
	e.stopOnce.Do(func() {
		e.routines.Stop()
		e.poller.close()
		e.wpoller.close()
	})
}

// attach puts s on the sweeper of e, which has started.
func (e *Engine) attach(s *Server) {
	e.mu.Lock()
	e.servers = append(e.servers, &sweptServer{s: s, interval: s.sweepInterval()})
	e.mu.Unlock()
	e.wakeSweeper()
}

// detach takes s off the sweeper, once it has no connection left.
func (e *Engine) detach(s *Server) {
	e.mu.Lock()
	for i, sw := range e.servers {
		if sw.s == s {
			e.servers = append(e.servers[:i], e.servers[i+1:]...)
			break
		}
	}
	e.mu.Unlock()
	e.wakeSweeper()
}

func (e *Engine) wakeSweeper() {
	select {
	case e.retick <- struct{}{}:
	default:
	}
}

// reportError hands an error of the Engine's goroutines to every Server on
// it.
func (e *Engine) reportError(err error) {
	e.mu.Lock()
	servers := make([]*Server, 0, len(e.servers))
	for _, sw := range e.servers {
		servers = append(servers, sw.s)
	}
	e.mu.Unlock()
	for _, s := range servers {
		s.reportError(err)
	}
}

// newPollID returns a registration id for the pollers; never 0, which
// means "not registered".
func (e *Engine) newPollID() uint32 {
	for {
		if id := e.nextPollID.Add(1); id != 0 {
			return id
		}
	}
}

// sweep is the Engine's one sweeper: it ticks at the shortest sweep
// interval of its Servers and sweeps each Server whose own interval has
// passed (Server.sweepConns), so that a Server is swept as often as it
// asked, whoever shares the Engine with it.
func (e *Engine) sweep(ctx context.Context) {
	tick := time.Second
	t := time.NewTicker(tick)
	defer t.Stop()
	var due []*sweptServer
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.retick:
			if d := e.tick(); d != tick {
				tick = d
				t.Reset(tick)
			}
		case now := <-t.C:
			due = e.due(due[:0], now.UnixNano(), tick)
			for _, sw := range due {
				sw.s.sweepConns(now.UnixNano())
			}
			clear(due)
		}
	}
}

// tick is the sweeper's tick: the shortest interval of the Servers on it,
// or a second without any.
func (e *Engine) tick() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := time.Second
	for _, sw := range e.servers {
		d = min(d, sw.interval)
	}
	return d
}

// due appends to dst the Servers whose interval has passed at now, within
// half a tick, and marks them swept.
func (e *Engine) due(dst []*sweptServer, now int64, tick time.Duration) []*sweptServer {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, sw := range e.servers {
		if time.Duration(now-sw.last) >= sw.interval-tick/2 {
			sw.last = now
			dst = append(dst, sw)
		}
	}
	return dst
}

// pollersFor returns e's pollers for a Server starting on it, reporting to
// s why there are none.
func (e *Engine) pollersFor(s *Server) (read, write *poller) {
	if e.pollErr != nil {
		s.reportError(fmt.Errorf("ws: poller unavailable, one goroutine per connection: %w", e.pollErr))
	}
	return e.poller, e.wpoller
}
