package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// shutdown marks the server not ready, stops accepting, then shuts every
// dialect down at once, all within the shutdown timeout. Connections still
// open at the deadline are counted, logged and cut; that is a normal stop,
// so only errors other than the deadline's are returned.
func (s *Server) shutdown(hs *http.Server, listenersClosed <-chan struct{}) error {
	start := time.Now()
	s.state.Store(stateStopping)
	deadline, cancelDeadline := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout.Std())
	defer cancelDeadline()
	// The dialects and the HTTP server get a context that ends only after
	// the connections left at the deadline are counted, so that none of them
	// is cut before it is counted.
	ctx, cut := context.WithCancel(context.Background())
	defer cut()
	var open int64
	stopCount := context.AfterFunc(deadline, func() {
		open = s.openConnections()
		cut()
	})

	httpDone := make(chan error, 1)
	go func() { httpDone <- hs.Shutdown(ctx) }()
	<-listenersClosed // Shutdown closes the listeners before it waits for requests

	dialectErrs := make([]error, len(s.dialects))
	var wg sync.WaitGroup
	for i, d := range s.dialects {
		wg.Go(func() {
			if err := d.Shutdown(ctx); err != nil && !cutAtDeadline(ctx, err) {
				dialectErrs[i] = fmt.Errorf("server: shut down %s: %w", d.Name(), err)
			}
		})
	}
	wg.Wait()
	if err := <-httpDone; err != nil {
		_ = hs.Close()
	}
	if !stopCount() { // the deadline came: wait for the count
		<-ctx.Done()
	}
	if err := errors.Join(dialectErrs...); err != nil {
		s.log.Error("shutdown failed", "err", err, "took", time.Since(start))
		return err
	}
	if ctx.Err() != nil {
		s.log.Warn("stopped, cutting connections still open at shutdown_timeout",
			"cut", open, "shutdown_timeout", s.cfg.ShutdownTimeout.Std(), "took", time.Since(start))
		return nil
	}
	s.log.Info("stopped", "took", time.Since(start))
	return nil
}

// cutAtDeadline reports whether err is a dialect saying that it had to cut
// connections when ctx ended at the deadline.
func cutAtDeadline(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}

// openConnections counts the WebSocket connections of every dialect and the
// HTTP connections with a request in progress (long polls among them).
func (s *Server) openConnections() int64 {
	n := s.requests.count()
	for _, d := range s.dialects {
		n += d.Stats().Connections
	}
	return n
}

// activeRequests counts HTTP connections in the middle of a request, from
// http.Server.ConnState. Hijacked (WebSocket) connections leave the count:
// their dialect counts them.
type activeRequests struct {
	mu     sync.Mutex
	active map[net.Conn]struct{}
}

func (a *activeRequests) track(c net.Conn, state http.ConnState) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if state == http.StateActive {
		if a.active == nil {
			a.active = map[net.Conn]struct{}{}
		}
		a.active[c] = struct{}{}
		return
	}
	delete(a.active, c)
}

func (a *activeRequests) count() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return int64(len(a.active))
}
