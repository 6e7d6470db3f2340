package ws

import (
	"net"
	"time"

	"github.com/gobwas/ws"
)

// maxSpareBatch is the largest batch array a writer reuses for the next
// batch of a burst; larger ones are left to the garbage collector.
const maxSpareBatch = 16

// queueArray is the capacity of the send-queue arrays a server pools. A
// connection keeps no array while idle (that would cost every idle
// connection), so without the pool a connection that gets a message now and
// then allocated a queue for each one.
const queueArray = 4

// newQueue returns an empty send queue, from the pool when it has one.
func (s *Server) newQueue() [][]byte {
	if a, ok := s.queues.Get().(*[queueArray][]byte); ok {
		return a[:0]
	}
	return make([][]byte, 0, queueArray)
}

// recycleQueue pools q's array if it is a pool-sized one. Nothing may use
// q afterwards.
func (s *Server) recycleQueue(q [][]byte) {
	if cap(q) != queueArray {
		return
	}
	a := (*[queueArray][]byte)(q[:queueArray])
	clear(a[:])
	s.queues.Put(a)
}

// enqueue queues one frame for the writer. Control frames (ctrl) may exceed
// the queue bound, which is for data messages; nothing may follow a Close.
func (c *Conn) enqueue(frame []byte, ctrl bool) error {
	c.mu.Lock()
	if c.closeSent || c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if !ctrl && len(c.queue) >= c.srv.opts.SendQueue {
		c.mu.Unlock()
		c.srv.metrics.overflow()
		c.fail(c.srv.opts.OverflowCode, c.srv.opts.OverflowReason, ErrQueueFull)
		return ErrQueueFull
	}
	c.pushLocked(frame)
	c.mu.Unlock()
	return nil
}

// queuePong answers a ping with a pong of the same payload. Up to
// Options.MaxPendingPongs pongs may wait in the queue, one per ping; past
// that the newest waiting pong is replaced by this one, so a peer that pings
// without reading cannot grow the queue.
func (c *Conn) queuePong(payload []byte) {
	frame := encodeFrame(ws.OpPong, payload, false)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closeSent || c.closed:
	case c.pongIdx > 0 && int(c.pongs) >= c.srv.opts.MaxPendingPongs:
		c.queue[c.pongIdx-1] = frame
	default:
		c.pushLocked(frame)
		c.pongIdx = int32(len(c.queue))
		c.pongs++
	}
}

// pushLocked appends frame to the queue and starts a writer if none runs.
// c.mu must be held.
func (c *Conn) pushLocked(frame []byte) {
	if c.queue == nil {
		c.queue = c.srv.newQueue()
	}
	c.queue = append(c.queue, frame)
	if !c.writing && c.started {
		c.writing = true
		c.srv.scheduleWrite(c)
	}
}

// writeLoop writes everything queued until the queue is empty, one system
// call per batch (see writeFD). It is the only goroutine that writes to the
// socket. In raw mode, when the socket's buffer is full, it parks what is
// left in c.unsent, asks the write poller to call it again once the socket
// drains, and returns: a slow reader holds no goroutine. (A writer with an
// io_uring runs the same steps for many connections at once: see
// ringWriter.)
func (c *Conn) writeLoop() {
	for {
		batch, ok := c.nextBatch()
		if !ok {
			return
		}
		rest, err := c.writeBatch(batch)
		if !c.wrote(batch, rest, err) {
			return
		}
	}
}

// nextBatch takes what is to be written next: the rest the socket refused
// last time, else the queue. It returns false when there is nothing (the
// writer is done with c: c.writing is cleared, or c is closed); otherwise
// c.writeActive is set, so the descriptor stays open until wrote.
func (c *Conn) nextBatch() ([][]byte, bool) {
	c.mu.Lock()
	if c.closed {
		c.writing = false
		c.mu.Unlock()
		return nil, false
	}
	batch := c.unsent
	if len(batch) == 0 {
		if len(c.queue) == 0 {
			// Idle again: keep no array, so idle connections stay small.
			c.srv.recycleQueue(c.queue)
			c.writing, c.queue = false, nil
			drop := c.dropAfter
			c.linger = drop && c.raw
			c.mu.Unlock()
			if drop {
				c.terminate(StatusAbnormalClosure, "")
			}
			return nil, false
		}
		batch = c.queue
		c.queue, c.pongIdx, c.pongs = nil, 0, 0
	}
	c.unsent = nil
	c.writeActive = true
	c.mu.Unlock()
	return batch, true
}

// wrote finishes a write of batch from nextBatch: rest is what the socket
// refused without blocking, err what failed. It parks rest on the write
// poller, or closes the connection on err, and returns whether the writer
// should go on with nextBatch.
func (c *Conn) wrote(batch, rest [][]byte, err error) bool {
	c.mu.Lock()
	c.writeActive = false
	if c.closed {
		c.closeSocketLocked() // terminate left the descriptor to us
		c.writing = false
		c.mu.Unlock()
		return false
	}
	if err == nil && len(rest) > 0 {
		c.unsent = rest
		c.writeStalled.CompareAndSwap(0, c.srv.clock.Load())
		err = c.srv.wpoller.arm(c)
		c.mu.Unlock()
		if err != nil {
			c.srv.reportError(err)
			c.terminate(StatusAbnormalClosure, "")
		}
		return false
	}
	c.writeStalled.Store(0)
	if c.queue == nil && cap(batch) <= maxSpareBatch {
		clear(batch[:cap(batch)])
		c.queue = batch[:0] // reused while the burst lasts
	} else {
		c.srv.recycleQueue(batch)
	}
	c.mu.Unlock()
	if err != nil {
		c.terminate(StatusAbnormalClosure, "")
		return false
	}
	return true
}

// writeBatch writes batch to the socket. In raw mode it returns what the
// socket would not take without blocking; in stream mode it blocks up to
// Options.WriteTimeout.
func (c *Conn) writeBatch(batch [][]byte) (rest [][]byte, err error) {
	frames := len(batch)
	if c.raw {
		var n int
		rest, n, err = writeFD(int(c.fd), batch)
		c.srv.metrics.wrote(frames-len(rest), n)
		return rest, err
	}
	if err := c.nc.SetWriteDeadline(time.Now().Add(c.srv.opts.WriteTimeout)); err != nil {
		return nil, err
	}
	var n int64
	if len(batch) == 1 {
		var m int
		m, err = c.nc.Write(batch[0])
		n = int64(m)
	} else {
		bufs := net.Buffers(batch)
		n, err = bufs.WriteTo(c.nc)
	}
	c.srv.metrics.wrote(frames, int(n))
	return nil, err
}
