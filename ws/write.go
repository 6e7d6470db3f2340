package ws

import (
	"net"
	"time"
)

// maxSpareBatch is the largest batch slice a connection keeps between
// bursts; larger ones are dropped so that idle connections stay small.
const maxSpareBatch = 16

// enqueue queues one frame for the writer. Control frames (ctrl) may exceed
// the queue bound, which is for data messages; nothing may follow a Close.
func (c *Conn) enqueue(frame []byte, ctrl bool) error {
	c.mu.Lock()
	if c.closeSent || c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if !ctrl && len(c.queue) >= c.srv.opts.SendQueue {
		var code StatusCode
		var reason string
		if x := c.extra; x != nil {
			code, reason = x.overflowCode, x.overflowMsg
		}
		c.mu.Unlock()
		c.srv.metrics.overflow()
		if code == 0 {
			code, reason = StatusTryAgainLater, "send queue full"
		}
		c.fail(code, reason, ErrQueueFull)
		return ErrQueueFull
	}
	c.pushLocked(frame)
	c.mu.Unlock()
	return nil
}

// pushLocked appends frame to the queue and starts a writer if none runs.
// c.mu must be held.
func (c *Conn) pushLocked(frame []byte) {
	c.queue = append(c.queue, frame)
	if !c.writing && c.started {
		c.writing = true
		c.srv.goTask(c.writeLoop)
	}
}

// writeLoop writes everything queued until the queue is empty, one writev
// per batch. It is the only goroutine that writes to the socket. In raw
// mode, when the socket's buffer is full, it parks what is left in c.unsent,
// asks the write poller to call it again once the socket drains, and
// returns: a slow reader holds no goroutine.
func (c *Conn) writeLoop() {
	for {
		c.mu.Lock()
		if c.closed {
			c.writing = false
			c.mu.Unlock()
			return
		}
		batch, resumed := c.unsent, true
		if len(batch) == 0 {
			if len(c.queue) == 0 {
				c.writing = false
				drop := c.dropAfter
				if cap(c.spare) > maxSpareBatch {
					c.spare = nil
				}
				c.mu.Unlock()
				if drop {
					c.terminate(StatusAbnormalClosure, "")
				}
				return
			}
			batch, resumed = c.queue, false
			c.queue = c.spare[:0]
			c.spare = nil
		}
		c.unsent = nil
		c.writeActive = true
		c.mu.Unlock()

		rest, err := c.writeBatch(batch)

		c.mu.Lock()
		c.writeActive = false
		if c.closed {
			c.closeSocketLocked() // terminate left the descriptor to us
			c.writing = false
			c.mu.Unlock()
			return
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
			return
		}
		c.writeStalled.Store(0)
		if !resumed {
			clear(batch)
			c.spare = batch[:0]
		}
		c.mu.Unlock()
		if err != nil {
			c.terminate(StatusAbnormalClosure, "")
			return
		}
	}
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
