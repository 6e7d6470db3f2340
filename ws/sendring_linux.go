//go:build linux

package ws

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/switchboard-rt/switchboard/internal/uring"
)

// With SendPathUring (or SendPathAuto where io_uring works) each writer owns
// an io_uring. A writer then serves the connections it finds ready in
// rounds: it takes each one's batch as writeLoop would (nextBatch), prepares
// one send or sendmsg per connection, submits them all and waits for their
// completions with one io_uring_enter, and finishes each connection as
// writeLoop does (wrote). Connections with more queued stay for the next
// round, which also takes whatever became ready meanwhile. The sends carry
// MSG_DONTWAIT, so a full socket completes with EAGAIN instead of waiting in
// the kernel, and its rest is parked on the write poller as on the system
// call path; a short write's remainder is written with writeFD, as the
// system call path would go on writing it.
const (
	// ringIOVecs is how many frames the sendmsg requests of one round
	// carry in all; frames past it go out with writeFD after the round's
	// sends.
	ringIOVecs = 1024

	ringSendFlags = unix.MSG_DONTWAIT | unix.MSG_NOSIGNAL
)

// ringWriter is one writer's io_uring and the state of its round.
type ringWriter struct {
	srv   *Server
	ready <-chan *Conn // the Engine's ready list, which the writer serves
	ring  *uring.Ring
	conns []*Conn    // the connections being served
	sends []ringSend // the round's requests, by user data
}

// ringSend is one connection's request in a round.
type ringSend struct {
	c      *Conn
	batch  [][]byte // as nextBatch gave it; wrote wants it whole
	frames int      // how many of batch's frames the request carries
	res    int32    // the completion's result
}

// newRingWriter sets up the io_uring of a writer of ready, or returns the
// error that makes the writer use system calls.
func newRingWriter(s *Server, entries uint32, ready <-chan *Conn) (*ringWriter, error) {
	r, err := uring.New(entries, ringIOVecs)
	if err != nil {
		return nil, fmt.Errorf("ws: io_uring unavailable, writing with send(2): %w", err)
	}
	return &ringWriter{
		srv:   s,
		ready: ready,
		ring:  r,
		conns: make([]*Conn, 0, r.Entries()),
		sends: make([]ringSend, 0, r.Entries()),
	}, nil
}

// probeRing reports whether a writer's io_uring can be set up here.
func probeRing(entries uint32) error {
	r, err := uring.New(entries, ringIOVecs)
	if err != nil {
		return err
	}
	return r.Close()
}

// close releases the ring; w may be nil.
func (w *ringWriter) close() {
	if w != nil {
		_ = w.ring.Close()
	}
}

// serve writes the queues of c and of every connection that becomes ready
// while it does, until none has anything left. It returns w, or nil when
// the ring failed: then it has released the ring, reported the error, and
// written the connections it held with system calls.
func (w *ringWriter) serve(c *Conn) *ringWriter {
	conns := append(w.conns[:0], c)
	for len(conns) > 0 {
	fill:
		for len(conns) < cap(conns) {
			select {
			case c := <-w.ready:
				conns = append(conns, c)
			default:
				break fill
			}
		}
		var err error
		if conns, err = w.round(conns); err != nil {
			w.srv.reportError(fmt.Errorf("ws: io_uring failed, writing with send(2) from now on: %w", err))
			w.close()
			for _, c := range conns {
				c.writeLoop()
			}
			return nil
		}
	}
	w.conns = conns[:0]
	return w
}

// round writes each of conns' next batch and returns, in conns' array, the
// ones with more to write. If the ring fails, the connections whose
// requests it did not complete are closed, as after a failed send (the
// kernel may have sent part of their data), and the error is returned.
func (w *ringWriter) round(conns []*Conn) ([]*Conn, error) {
	more := conns[:0]
	sends := w.sends[:0]
	for _, c := range conns {
		batch, ok := c.nextBatch()
		if !ok {
			continue
		}
		id := uint64(len(sends))
		frames := 0
		if len(batch) == 1 {
			if w.ring.PrepSend(int(c.fd), batch[0], ringSendFlags, id) {
				frames = 1
			}
		} else {
			frames = w.ring.PrepSendmsg(int(c.fd), batch[:min(len(batch), maxIOV)], ringSendFlags, id)
		}
		if frames == 0 { // the round's iovecs are used up
			rest, err := c.writeBatch(batch)
			if c.wrote(batch, rest, err) {
				more = append(more, c)
			}
			continue
		}
		sends = append(sends, ringSend{c: c, batch: batch, frames: frames, res: resPending})
	}
	var err error
	if len(sends) > 0 {
		err = w.ring.SubmitAndWait(len(sends))
		w.srv.metrics.ringRounds.Add(1)
		w.ring.Completions(func(r uring.Completion) {
			if r.UserData < uint64(len(sends)) {
				sends[r.UserData].res = r.Res
			}
		})
		for i := range sends {
			s := &sends[i]
			rest, err := s.finish()
			if s.c.wrote(s.batch, rest, err) {
				more = append(more, s.c)
			}
			*s = ringSend{}
		}
	}
	w.sends = sends[:0]
	clear(conns[len(more):])
	return more, err
}

// resPending marks a request whose completion never came: the ring failed.
const resPending = -int32(unix.ECANCELED)

// finish turns a completion into what writeFD would have returned, writing
// what the request did not carry or the socket did not take, and counts
// the write.
func (s *ringSend) finish() (rest [][]byte, err error) {
	var n int
	bufs := s.batch
	switch {
	case s.res >= 0:
		n = int(s.res)
		bufs = advance(bufs, n)
		if len(bufs) > 0 { // a short write, or frames the request did not carry
			var m int
			bufs, m, err = writeFD(int(s.c.fd), bufs)
			n += m
		}
	case s.res == -int32(unix.EAGAIN):
	case s.res == -int32(unix.EINTR):
		bufs, n, err = writeFD(int(s.c.fd), bufs)
	default:
		bufs, err = nil, unix.Errno(-s.res)
	}
	s.c.srv.metrics.wrote(len(s.batch)-len(bufs), n)
	return bufs, err
}
