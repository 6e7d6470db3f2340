package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// readinessTimeout bounds all readiness checks of one /readyz request.
const readinessTimeout = 2 * time.Second

// Serving states, for /readyz.
const (
	stateStarting int32 = iota // New returned; Serve not yet listening
	stateServing               // listening
	stateStopping              // graceful shutdown under way, or done
)

type readinessCheck struct {
	name  string
	check func(context.Context) error
}

// checks holds the readiness checks; they may be added while serving.
type checks struct {
	mu   sync.Mutex
	list []readinessCheck
}

func (c *checks) add(name string, f func(context.Context) error) {
	c.mu.Lock()
	c.list = append(c.list, readinessCheck{name, f})
	c.mu.Unlock()
}

// run runs every check at once and returns "name: error" for each failure.
func (c *checks) run(ctx context.Context) []string {
	c.mu.Lock()
	list := c.list
	c.mu.Unlock()
	errs := make([]error, len(list))
	var wg sync.WaitGroup
	for i, rc := range list {
		wg.Go(func() { errs[i] = rc.check(ctx) })
	}
	wg.Wait()
	var out []string
	for i, err := range errs {
		if err != nil {
			out = append(out, fmt.Sprintf("%s: %v", list[i].name, err))
		}
	}
	return out
}

// AddReadinessCheck adds a check that /readyz runs on every request; the
// server is ready only while every check returns nil. A check must return
// promptly once ctx is done: all checks together get 2 s. name appears in
// the 503 answer, with the check's error, so errors must hold no secrets.
// Safe to call at any time, also while serving.
func (s *Server) AddReadinessCheck(name string, check func(ctx context.Context) error) {
	s.checks.add(name, check)
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	var problems []string
	switch s.state.Load() {
	case stateStarting:
		problems = []string{"starting"}
	case stateStopping:
		problems = []string{"shutting down"}
	default:
		ctx, cancel := context.WithTimeout(r.Context(), readinessTimeout)
		problems = s.checks.run(ctx)
		cancel()
	}
	if len(problems) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready\n" + strings.Join(problems, "\n") + "\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}
