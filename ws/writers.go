package ws

import (
	"context"
	"runtime"
)

// Raw-mode connections are written by a small set of long-lived writer
// goroutines that take connections with queued frames from a ready list,
// rather than by a goroutine started per wake-up. Under fan-out this keeps
// the run queue short (request handlers do not wait behind a thousand
// fresh writers) and lets frames pile up per connection while it waits its
// turn, so each writev carries more of them. Raw writes never block, so a
// slow peer cannot hold a writer: its rest is parked on the write poller.
// Stream-mode connections block in writes and keep a goroutine per wake-up.

// readyQueueLen bounds the ready list; past it, a connection gets a
// goroutine of its own, as stream-mode ones do.
const readyQueueLen = 1 << 16

// startWriters starts the Engine's writer goroutines, shared by its
// Servers, with the send path of s, the Server that starts the Engine; the
// Engine's stop ends them (a Server's Shutdown, once every connection has
// ended, when the Engine is its own).
func (e *Engine) startWriters(s *Server) {
	e.ready = make(chan *Conn, readyQueueLen)
	for range max(2, runtime.GOMAXPROCS(0)) {
		e.routines.Go(func(ctx context.Context) { e.writer(ctx, s) })
	}
}

// writer writes the connections of the ready list, with io_uring when the
// Options.SendPath of s, the Server that started the Engine, asks for it
// (Servers sharing an Engine share its send path: Switchboard gives every
// dialect the same one).
func (e *Engine) writer(ctx context.Context, s *Server) {
	ring := s.writerRing(e.ready) // nil: one system call per connection
	defer func() { ring.close() }()
	for {
		select {
		case c := <-e.ready:
			if ring == nil {
				c.writeLoop()
			} else {
				ring = ring.serve(c) // nil if the ring failed
			}
		case <-ctx.Done():
			return
		}
	}
}

// scheduleWrite has c's queue written. c.writing must already be set, so
// that c is scheduled once until its writer is done.
func (s *Server) scheduleWrite(c *Conn) {
	if c.raw && s.ready != nil {
		select {
		case s.ready <- c:
			return
		default: // the ready list is full: fall through to a goroutine
		}
	}
	s.goTask(c.writeLoop)
}
