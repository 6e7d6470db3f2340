package ws

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

const readBufferSize = 4096

// reader is the pooled state a connection borrows while it has bytes to
// read: a buffered reader and room for a frame header and a control payload.
type reader struct {
	br   *bufio.Reader
	hdr  [ws.MaxHeaderSize - 2]byte
	ctrl [maxControlPayload]byte
}

var readers = sync.Pool{New: func() any {
	return &reader{br: bufio.NewReaderSize(nil, readBufferSize)}
}}

// errPeerClosed stops reading after a valid Close frame from the peer.
var errPeerClosed = errors.New("ws: peer sent close")

// beginRead marks the start of a read pass; it returns false when the
// connection is closed or another pass is running.
func (c *Conn) beginRead() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.reading {
		return false
	}
	c.reading = true
	return true
}

// endRead ends a read pass. It returns true when more input is expected:
// not after the socket closed (then it runs finish instead), nor after
// either side's Close that ends the connection once written.
func (c *Conn) endRead() (open bool) {
	c.mu.Lock()
	c.reading = false
	closed := c.closed
	open = !closed && !c.closeRcvd && !c.dropAfter
	c.mu.Unlock()
	if closed {
		c.finish()
	}
	return open
}

// readPass reads and handles frames until the buffer is empty at a frame
// boundary. r is a pooled reader (poller mode), the connection's own
// (goroutine mode), or one wrapping the handshake's buffer. It reports
// whether more input is expected.
func (c *Conn) readPass(r *reader) (open bool) {
	if !c.beginRead() {
		return false
	}
	if err := c.readFrames(r); err != nil {
		c.handleReadError(err)
	}
	return c.endRead()
}

// readPooled is one read pass with a pooled buffer, run when the poller saw
// input; afterwards the connection is watched again.
func (c *Conn) readPooled() {
	r := readers.Get().(*reader)
	r.br.Reset(c.nc)
	open := c.readPass(r)
	r.br.Reset(nil)
	readers.Put(r)
	if open {
		c.rearm()
	}
}

// readLoop reads the connection with a goroutine of its own, for
// connections the poller cannot watch (TLS, or no poller on this system).
func (c *Conn) readLoop(r *reader) {
	for {
		if _, err := r.br.Peek(1); err != nil {
			c.handleReadError(err) // no pass runs, so terminate runs finish
			return
		}
		if !c.readPass(r) {
			return
		}
	}
}

func (c *Conn) readFrames(r *reader) error {
	if err := c.nc.SetReadDeadline(time.Now().Add(c.srv.opts.ReadTimeout)); err != nil {
		return err
	}
	for {
		if err := c.readFrame(r); err != nil {
			return err
		}
		if r.br.Buffered() == 0 {
			return c.nc.SetReadDeadline(time.Time{})
		}
	}
}

// protocolError fails the connection with a close code.
type protocolError struct {
	code StatusCode
	err  error
}

func (e *protocolError) Error() string { return e.err.Error() }
func (e *protocolError) Unwrap() error { return e.err }

func failWith(code StatusCode, format string, args ...any) error {
	return &protocolError{code: code, err: fmt.Errorf("ws: "+format, args...)}
}

func (c *Conn) handleReadError(err error) {
	var pe *protocolError
	var ne net.Error
	switch {
	case errors.Is(err, errPeerClosed):
	case errors.As(err, &pe):
		reason := pe.err.Error()
		if len(reason) > maxCloseReason {
			reason = reason[:maxCloseReason]
		}
		c.fail(pe.code, reason, pe.err)
	case errors.As(err, &ne) && ne.Timeout():
		c.fail(StatusPolicyViolation, "frame not completed in time", fmt.Errorf("ws: read: %w", err))
	default: // EOF, reset, or our own close of the socket
		c.terminate(StatusAbnormalClosure, "")
	}
}

func (c *Conn) readFrame(r *reader) error {
	h, err := ws.ReadHeaderBuffer(r.br, r.hdr[:])
	if err != nil {
		if errors.Is(err, ws.ErrHeaderLengthMSB) || errors.Is(err, ws.ErrHeaderLengthUnexpected) {
			return failWith(StatusProtocolError, "%v", err)
		}
		return err
	}
	c.lastActivity.Store(c.srv.clock.Load())
	c.pingSentAt.Store(0)

	state := ws.StateServerSide
	if c.compress {
		state |= ws.StateExtended
	}
	if c.msgOp != 0 {
		state |= ws.StateFragmented
	}
	if err := ws.CheckHeader(h, state); err != nil {
		return failWith(StatusProtocolError, "%v", err)
	}
	rsv1 := h.Rsv&0x4 != 0
	if h.Rsv&^0x4 != 0 || rsv1 && (h.OpCode.IsControl() || h.OpCode == ws.OpContinuation) {
		return failWith(StatusProtocolError, "unexpected reserved bits %03b", h.Rsv)
	}

	if h.OpCode.IsControl() {
		payload := r.ctrl[:h.Length]
		if _, err := io.ReadFull(r.br, payload); err != nil {
			return err
		}
		ws.Cipher(payload, h.Mask, 0)
		return c.handleControl(h.OpCode, payload)
	}

	max := c.srv.opts.MaxPayload
	if max >= 0 && int64(len(c.msgBuf))+h.Length > max {
		return &protocolError{code: StatusMessageTooBig, err: ErrMessageTooBig}
	}
	var payload []byte
	if c.msgOp == 0 && h.Fin {
		payload = make([]byte, h.Length)
	} else {
		n := len(c.msgBuf)
		c.msgBuf = append(c.msgBuf, make([]byte, h.Length)...)
		payload = c.msgBuf[n:]
	}
	if _, err := io.ReadFull(r.br, payload); err != nil {
		return err
	}
	ws.Cipher(payload, h.Mask, 0)

	if h.OpCode != ws.OpContinuation {
		c.msgOp, c.msgCompressed = h.OpCode, rsv1
	}
	if !h.Fin {
		return nil
	}
	if c.msgBuf != nil {
		payload, c.msgBuf = c.msgBuf, nil
	}
	op, compressed := c.msgOp, c.msgCompressed
	c.msgOp, c.msgCompressed = 0, false
	return c.deliver(op, compressed, payload)
}

func (c *Conn) deliver(op ws.OpCode, compressed bool, payload []byte) error {
	if compressed {
		var err error
		if payload, err = inflate(payload, c.srv.opts.MaxPayload); err != nil {
			if errors.Is(err, ErrMessageTooBig) {
				return &protocolError{code: StatusMessageTooBig, err: err}
			}
			return failWith(StatusInvalidFramePayload, "%v", err)
		}
	}
	t := Binary
	if op == ws.OpText {
		t = Text
		if !utf8.Valid(payload) {
			return failWith(StatusInvalidFramePayload, "invalid UTF-8 in text message")
		}
	}
	c.srv.metrics.received(len(payload))
	if c.onMessage != nil {
		c.onMessage(t, payload)
	}
	return nil
}

func (c *Conn) handleControl(op ws.OpCode, payload []byte) error {
	switch op {
	case ws.OpPing:
		_ = c.enqueue(encodeFrame(ws.OpPong, payload, false), true) // fails only once closing
		if c.onPing != nil {
			c.onPing(payload)
		}
	case ws.OpPong:
		if c.onPong != nil {
			c.onPong(payload)
		}
	case ws.OpClose:
		return c.handlePeerClose(payload)
	}
	return nil
}

func (c *Conn) handlePeerClose(payload []byte) error {
	code, reason := StatusNoStatusRcvd, ""
	switch {
	case len(payload) == 1:
		return failWith(StatusProtocolError, "close frame with a 1-byte body")
	case len(payload) >= 2:
		code, reason = StatusCode(binary.BigEndian.Uint16(payload)), string(payload[2:])
		if err := ws.CheckCloseFrameData(ws.StatusCode(code), reason); err != nil {
			if !utf8.ValidString(reason) {
				return failWith(StatusInvalidFramePayload, "invalid UTF-8 in close reason")
			}
			return failWith(StatusProtocolError, "close code %d: %v", code, err)
		}
	}
	c.mu.Lock()
	c.closeRcvd = true
	c.closeCode, c.closeReason = code, reason
	replied := c.closeSent
	c.mu.Unlock()
	if replied {
		c.terminate(code, reason) // the peer answered our Close
		return errPeerClosed
	}
	echo := code
	if code == StatusNoStatusRcvd {
		echo = 0
	}
	_ = c.sendClose(echo, "", true)
	return errPeerClosed
}
