// Package routine gives every background goroutine of Switchboard an
// owner: a Group starts goroutines, cancels their context when stopped,
// refuses new ones from then on, and waits for the running ones, so that a
// component's Shutdown returns only once everything it started has ended
// (as nats-server's startGoRoutine does for the server's goroutines).
package routine

import (
	"context"
	"sync"
)

// Group owns a set of goroutines. The zero Group is not usable; make one
// with New. Its methods are safe for concurrent use.
type Group struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex // orders wg.Add before Stop's Wait
	stopped bool
	wg      sync.WaitGroup
}

// New returns a Group whose goroutines get a context derived from parent,
// cancelled by Stop.
func New(parent context.Context) *Group {
	g := &Group{}
	g.ctx, g.cancel = context.WithCancel(parent)
	return g
}

// Context returns the context the Group's goroutines run under: done once
// Stop was called (or parent ended).
func (g *Group) Context() context.Context { return g.ctx }

// Go runs f on a new goroutine owned by g, with g's context, and reports
// true; after Stop it starts nothing and reports false.
func (g *Group) Go(f func(ctx context.Context)) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return false
	}
	g.wg.Go(func() { f(g.ctx) })
	return true
}

// Stop cancels the Group's context and makes Go refuse from now on. It does
// not wait: call Wait for that.
func (g *Group) Stop() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
	g.cancel()
}

// Wait returns once every goroutine started by Go has returned. Call it
// after Stop, or Go may start more meanwhile.
func (g *Group) Wait() { g.wg.Wait() }

// StopAndWait is Stop, then Wait.
func (g *Group) StopAndWait() {
	g.Stop()
	g.Wait()
}
