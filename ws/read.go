package ws

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

const readBufferSize = 8 << 10

// reader is a read buffer with room for a frame header and a control
// payload. Raw-mode read passes borrow one from a pool while they run;
// stream-mode connections own one.
type reader struct {
	br   *bufio.Reader // stream mode
	buf  []byte        // raw mode
	src  bytes.Reader  // raw mode: the bytes being parsed
	hdr  [ws.MaxHeaderSize - 2]byte
	ctrl [maxControlPayload]byte
}

var readers = sync.Pool{New: func() any { return &reader{buf: make([]byte, readBufferSize)} }}

func getReader() *reader  { return readers.Get().(*reader) }
func putReader(r *reader) { r.src.Reset(nil); readers.Put(r) }

// errPeerClosed stops reading after a valid Close frame from the peer.
var errPeerClosed = errors.New("ws: peer sent close")

// readPass runs read, which reads and handles frames, as the connection's
// only reader. It reports whether more input is expected: not after the
// socket closed (then OnClose runs here), nor after either side's Close
// that ends the connection once written.
func (c *Conn) readPass(read func() error) (open bool) {
	c.mu.Lock()
	if c.closed || c.reading {
		c.mu.Unlock()
		return false
	}
	c.reading = true
	c.mu.Unlock()

	if err := read(); err != nil {
		c.handleReadError(err)
	}

	c.mu.Lock()
	c.reading = false
	closed := c.closed
	if closed {
		c.closeSocketLocked() // terminate left the descriptor to us
	}
	open = !closed && !c.closeRcvd && !c.dropAfter
	c.mu.Unlock()
	if closed {
		c.finish()
	}
	return open
}

// readLoop reads a stream-mode connection on a goroutine of its own.
func (c *Conn) readLoop(r *reader) {
	for {
		if _, err := r.br.Peek(1); err != nil {
			c.handleReadError(err) // no pass runs, so terminate runs finish
			return
		}
		if !c.readPass(func() error { return c.readFrames(r) }) {
			return
		}
	}
}

// readFrames reads frames until the buffer is empty at a frame boundary,
// giving a frame that has started Options.ReadTimeout to arrive whole.
func (c *Conn) readFrames(r *reader) error {
	for {
		// Each frame has its own deadline, from its first byte: a peer
		// that streams frames steadily is never cut off.
		if err := c.nc.SetReadDeadline(time.Now().Add(c.srv.opts.ReadTimeout)); err != nil {
			return err
		}
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

// readFrame reads and handles one frame from a stream-mode connection.
func (c *Conn) readFrame(r *reader) error {
	h, err := ws.ReadHeaderBuffer(r.br, r.hdr[:])
	if err != nil {
		if errors.Is(err, ws.ErrHeaderLengthMSB) || errors.Is(err, ws.ErrHeaderLengthUnexpected) {
			return failWith(StatusProtocolError, "%v", err)
		}
		return err
	}
	if err := c.checkHeader(h); err != nil {
		return err
	}
	var payload []byte
	if h.OpCode.IsControl() {
		payload = r.ctrl[:h.Length]
	} else {
		payload = make([]byte, h.Length)
	}
	if _, err := io.ReadFull(r.br, payload); err != nil {
		return err
	}
	ws.Cipher(payload, h.Mask, 0)
	return c.handleFrame(h, payload, true)
}

// checkHeader checks a frame header against RFC 6455, the negotiated
// extensions, the fragmentation state and Options.MaxPayload.
func (c *Conn) checkHeader(h ws.Header) error {
	state := ws.StateServerSide
	if c.compress.on() {
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
	if !h.OpCode.IsControl() {
		// Written as a subtraction: the peer controls h.Length, up to
		// 2^63-1, and a sum could wrap.
		limit := c.srv.opts.MaxPayload
		if limit < 0 {
			limit = math.MaxInt32 // "no limit" still means what one slice can hold
		}
		if h.Length > limit-int64(len(c.msgBuf)) {
			return &protocolError{code: StatusMessageTooBig, err: ErrMessageTooBig}
		}
	}
	return nil
}

// handleFrame handles one whole, unmasked frame. owned reports whether
// payload may be kept; it may not when it points into a pooled buffer.
func (c *Conn) handleFrame(h ws.Header, payload []byte, owned bool) error {
	c.lastActivity.Store(c.srv.clock.Load())
	c.pingSentAt.Store(0)
	if h.OpCode.IsControl() {
		return c.handleControl(h.OpCode, payload)
	}
	if h.OpCode != ws.OpContinuation {
		c.msgOp, c.msgCompressed = h.OpCode, h.Rsv&0x4 != 0
	}
	switch {
	case !h.Fin:
		c.msgBuf = append(c.msgBuf, payload...)
		return nil
	case c.msgBuf != nil:
		payload, c.msgBuf = append(c.msgBuf, payload...), nil
	case !owned:
		payload = bytes.Clone(payload)
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
		c.queuePong(payload)
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
	c.closeCode, c.closeReason = int16(code), reason
	switch {
	case !c.closeSent:
		echo := code
		if code == StatusNoStatusRcvd {
			echo = 0
		}
		c.queueCloseLocked(echo, "", true)
		c.mu.Unlock()
	case c.writing:
		// Both sides closed at once, and ours (with what was queued
		// before it) is still being written: drop TCP after it.
		c.dropAfter = true
		c.mu.Unlock()
	default:
		c.mu.Unlock()
		c.terminate(code, reason) // the peer answered our Close
	}
	return errPeerClosed
}
