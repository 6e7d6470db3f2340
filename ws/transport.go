package ws

import (
	"bufio"
	"bytes"
	"io"
	"net"
)

// A connection's socket is used in one of two modes, fixed when it is
// attached after the handshake:
//
//   - raw (Linux, plain TCP): the descriptor is taken out of the Go runtime's
//     network poller and watched by the Server's own epoll pollers, one for
//     input and one for output space. Reads and writes never block; an idle
//     connection holds no goroutine, no buffer and no runtime poll
//     descriptor.
//   - stream (TLS, other systems, or no poller): a net.Conn with one reader
//     goroutine, and blocking writes bounded by Options.WriteTimeout.

// attach gives the connection its socket once the 101 response is written,
// starts the writer for frames queued by OnConnection, and starts reading.
func (c *Conn) attach(nc net.Conn, early []byte) {
	raw := false
	var fd int
	if _, tcp := nc.(*net.TCPConn); tcp && c.srv.poller != nil {
		var err error
		if fd, err = detachFD(nc); err == nil {
			raw = true
		} else {
			c.srv.reportError(err)
		}
	}
	c.mu.Lock()
	c.hs = nil
	if raw {
		// The id is set before anything can register the descriptor with
		// a poller (the writer below may, on a full socket).
		c.raw, c.fd = true, int32(fd)
		c.pollID.Store(c.srv.newPollID())
	} else {
		c.nc = nc
	}
	if c.closed {
		c.closeSocketLocked()
		c.mu.Unlock()
		return
	}
	c.started = true
	if len(c.queue) > 0 {
		c.writing = true
		c.srv.scheduleWrite(c)
	}
	c.mu.Unlock()

	if raw {
		c.watchRaw(early)
	} else {
		c.watchStream(nc, early)
	}
}

// watchRaw reads what the client sent behind its handshake, then hands the
// descriptor to the read poller.
func (c *Conn) watchRaw(early []byte) {
	if len(early) > 0 {
		r := getReader()
		open := c.readPass(func() error { return c.consume(r, early) })
		putReader(r)
		if !open {
			return
		}
	}
	c.watchInput(true)
}

// watchInput registers the descriptor with the read poller (first) or
// re-arms it after a read pass, unless the connection has closed. If that
// fails, nothing would ever read the connection again, so it ends.
func (c *Conn) watchInput(first bool) {
	c.mu.Lock()
	var err error
	switch {
	case c.closed:
	case first:
		err = c.srv.poller.add(c)
	default:
		err = c.srv.poller.rearm(c)
	}
	c.mu.Unlock()
	if err != nil {
		c.srv.reportError(err)
		c.terminate(StatusAbnormalClosure, "")
	}
}

// watchStream starts the connection's reader goroutine.
func (c *Conn) watchStream(nc net.Conn, early []byte) {
	var src io.Reader = nc
	if len(early) > 0 {
		src = io.MultiReader(bytes.NewReader(early), nc)
	}
	r := &reader{br: bufio.NewReaderSize(src, readBufferSize)}
	c.srv.goTask(func() { c.readLoop(r) })
}

// readRawPass is one read pass in raw mode, run when the read poller saw
// input; afterwards the descriptor is watched again.
func (c *Conn) readRawPass() {
	r := getReader()
	open := c.readPass(func() error { return c.readRaw(r) })
	putReader(r)
	if open {
		c.watchInput(false)
	}
}

// closeSocketLocked releases the socket once nothing uses it. In raw mode
// the descriptor is shut down at once but closed only when no reader or
// writer is inside a system call on it, so that its number cannot be
// reused under them; the last one out closes it. c.mu must be held and
// c.closed set.
func (c *Conn) closeSocketLocked() {
	switch {
	case c.nc != nil:
		_ = c.nc.Close()
	case c.raw && !c.fdClosed:
		if c.pollID.Load() != 0 {
			c.srv.poller.remove(c) // a no-op when it was never added
			if c.wpolled {
				c.srv.wpoller.remove(c)
			}
			c.pollID.Store(0)
		}
		if c.linger {
			shutdownWriteFD(int(c.fd)) // our FIN follows our Close frame
		} else {
			shutdownFD(int(c.fd))
		}
		if !c.reading && !c.writeActive {
			if c.linger {
				c.srv.linger(int(c.fd))
			} else {
				closeFD(int(c.fd))
			}
			c.fdClosed = true
		}
	}
}
