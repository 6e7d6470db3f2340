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
		code, reason := c.overflowCode, c.overflowMsg
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

// writeLoop writes everything queued, one writev per batch, until the queue
// is empty. It is the only goroutine that writes to the socket.
func (c *Conn) writeLoop() {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 || c.closed {
			c.writing = false
			drop := c.dropAfter && !c.closed
			if cap(c.spare) > maxSpareBatch {
				c.spare = nil
			}
			c.mu.Unlock()
			if drop {
				c.terminate(StatusAbnormalClosure, "")
			}
			return
		}
		batch := c.queue
		c.queue = c.spare[:0]
		c.spare = nil
		c.mu.Unlock()

		err := c.writeBatch(batch)
		clear(batch)

		c.mu.Lock()
		c.spare = batch[:0]
		c.mu.Unlock()
		if err != nil {
			c.terminate(StatusAbnormalClosure, "")
			return
		}
	}
}

func (c *Conn) writeBatch(batch [][]byte) error {
	if err := c.nc.SetWriteDeadline(time.Now().Add(c.srv.opts.WriteTimeout)); err != nil {
		return err
	}
	var n int64
	var err error
	if len(batch) == 1 {
		var m int
		m, err = c.nc.Write(batch[0])
		n = int64(m)
	} else {
		bufs := net.Buffers(batch)
		n, err = bufs.WriteTo(c.nc)
	}
	c.srv.metrics.wrote(len(batch), int(n))
	return err
}
