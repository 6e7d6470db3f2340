package ws

import (
	"errors"
	"io"

	"github.com/gobwas/ws"
)

// readRaw reads what the socket holds, without blocking, and handles every
// whole frame in it. The start of a frame that has not fully arrived waits
// in c.pending for the next pass; the sweeper fails the connection if it
// waits longer than Options.ReadTimeout.
func (c *Conn) readRaw(r *reader) error {
	for {
		n, err := readFD(int(c.fd), r.buf)
		if n > 0 {
			if err := c.consume(r, r.buf[:n]); err != nil {
				return err
			}
			if n < len(r.buf) {
				// Most likely all there was; if not, the level-triggered
				// registration fires again once re-armed.
				return nil
			}
			continue
		}
		switch {
		case err == nil:
			return io.EOF
		case errors.Is(err, errWouldBlock):
			return nil
		case errors.Is(err, errInterrupted):
			continue
		default:
			return err
		}
	}
}

// consume handles the whole frames in data, after any pending bytes, and
// keeps a trailing partial frame in c.pending.
func (c *Conn) consume(r *reader, data []byte) error {
	fromPending := len(c.pending) > 0
	if fromPending {
		c.pending = append(c.pending, data...)
		data = c.pending
	}
	progressed := false
	for len(data) > 0 {
		r.src.Reset(data)
		h, err := ws.ReadHeaderBuffer(&r.src, r.hdr[:])
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break // the header itself is not all here yet
		}
		if err != nil {
			return failWith(StatusProtocolError, "%v", err)
		}
		if err := c.checkHeader(h); err != nil {
			return err
		}
		start := len(data) - r.src.Len()
		if h.Length > int64(len(data)-start) {
			break // checkHeader bounded h.Length; the rest has not arrived
		}
		end := start + int(h.Length)
		payload := data[start:end]
		ws.Cipher(payload, h.Mask, 0)
		data = data[end:]
		progressed = true
		if err := c.handleFrame(h, payload, false); err != nil {
			return err
		}
	}
	switch {
	case len(data) == 0:
		c.pending = nil
		c.readStalled.Store(0)
	case fromPending:
		c.pending = append(c.pending[:0], data...) // moves the tail to the front
	default:
		c.pending = append([]byte(nil), data...)
	}
	if len(data) > 0 && (progressed || !fromPending) {
		c.readStalled.Store(c.srv.clock.Load()) // a new frame started waiting
	}
	return nil
}
