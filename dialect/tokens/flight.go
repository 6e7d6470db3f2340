package tokens

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/switchboard-rt/switchboard/internal/routine"
)

// errRecentFailure answers a lookup made within errorTTL of a failed one
// for the same key: the store is not asked again so soon.
var errRecentFailure = errors.New("tokens: the shared store failed for this token less than a second ago")

// errShutDown answers a lookup made once Shutdown began.
var errShutDown = errors.New("tokens: shut down")

// flight collapses concurrent lookups of one key into one call, and
// remembers a failure for errorTTL, so that a burst of handshakes with one
// unknown token costs one store call, and a failing store one call per key
// per errorTTL. It is safe for concurrent use.
type flight struct {
	routines *routine.Group // owns the lookups: Shutdown stops and waits for them

	mu    sync.Mutex
	calls map[string]*flightCall
	fails map[string]time.Time // key → until when its failure is remembered
}

type flightCall struct {
	done chan struct{}
	v    []byte
	ok   bool
	err  error
}

// do returns fn's answer for key: the running call's when there is one,
// errRecentFailure when a call failed less than errorTTL before now. fn
// runs on a goroutine of f.routines, with its context, not one caller's
// (others may wait for it); a caller whose ctx ends stops waiting. After
// Shutdown, do returns errShutDown.
func (f *flight) do(ctx context.Context, key string, now time.Time, errorTTL time.Duration, max int,
	fn func(ctx context.Context) ([]byte, bool, error)) ([]byte, bool, error) {
	f.mu.Lock()
	if until, ok := f.fails[key]; ok {
		if now.Before(until) {
			f.mu.Unlock()
			return nil, false, errRecentFailure
		}
		delete(f.fails, key)
	}
	c := f.calls[key]
	if c == nil {
		if f.calls == nil {
			f.calls = make(map[string]*flightCall)
		}
		c = &flightCall{done: make(chan struct{})}
		started := f.routines.Go(func(ctx context.Context) {
			c.v, c.ok, c.err = fn(ctx)
			f.mu.Lock()
			delete(f.calls, key)
			if c.err != nil {
				if f.fails == nil || len(f.fails) >= max {
					f.fails = make(map[string]time.Time)
				}
				f.fails[key] = time.Now().Add(errorTTL)
			}
			f.mu.Unlock()
			close(c.done)
		})
		if !started {
			f.mu.Unlock()
			return nil, false, errShutDown
		}
		f.calls[key] = c
	}
	f.mu.Unlock()
	select {
	case <-c.done:
		return c.v, c.ok, c.err
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
}
