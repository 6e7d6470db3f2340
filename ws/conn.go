package ws

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// Conn is one accepted WebSocket connection.
//
// Hooks (OnMessage, OnPing, OnPong, OnClose, OnError) must be set inside the
// Server's OnConnection callback, before the connection starts reading. They
// are called one at a time, in the order frames arrived; OnClose is called
// exactly once, last. A hook must not block for long: while it runs, the
// connection reads nothing.
//
// Send, SendPrepared, SendText, Ping, Pong, Close and Terminate are safe for
// concurrent use and never block on the network: they queue frames for a
// writer that runs only while the queue is not empty.
type Conn struct {
	srv      *Server
	compress deflateMode
	raw      bool       // the socket is a bare descriptor watched by the pollers
	wpolled  bool       // raw: registered with the write poller (guarded by mu)
	fd       int32      // raw: the socket's descriptor
	nc       net.Conn   // stream (TLS, or no poller): the socket
	hs       *handshake // until the socket is attached
	extra    *connExtra // seldom-used state, made on demand (guarded by mu)

	lastActivity atomic.Int64 // server clock, unix nanoseconds
	pingSentAt   atomic.Int64 // 0 when no ping is outstanding
	readStalled  atomic.Int64 // raw: since when a partial frame waits; 0 when none
	writeStalled atomic.Int64 // raw: since when the socket refuses our bytes; 0 when not

	onMessage func(MessageType, []byte)
	onPing    func([]byte)
	onPong    func([]byte)
	onClose   func(code StatusCode, reason string)
	onError   func(error)
	onTick    func(now int64)

	// Read state, touched only by the goroutine reading the connection.
	msgOp         ws.OpCode     // opcode of the fragmented message in progress, 0 if none
	msgCompressed bool          // that message is compressed
	pollID        atomic.Uint32 // raw: tells this Conn's poller events from a predecessor's; 0 when not watched
	msgBuf        []byte        // fragments joined so far
	pending       []byte        // raw: the start of a frame that has not fully arrived

	mu          sync.Mutex
	queue       [][]byte // frames waiting for the writer
	unsent      [][]byte // raw: what the full socket refused, written first
	started     bool     // the 101 response is written; frames may follow
	writing     bool     // a writer is running or waits for the socket
	writeActive bool     // a writer is inside a write to the socket
	reading     bool     // a reader is running
	closeSent   bool     // a Close frame is queued or written
	closeRcvd   bool     // the peer's Close frame was received
	dropAfter   bool     // drop TCP once the queue is written
	linger      bool     // raw: drop TCP by lingering (see Server.linger), not at once
	closed      bool     // TCP closed or closing; OnClose is due or done
	fdClosed    bool     // raw: the descriptor is closed
	finished    bool     // OnClose is due or done (guarded by srv.mu, not mu)
	pongIdx     int32    // 1 + the queue index of the newest pong not yet taken by the writer; 0 if none
	pongs       int16    // pongs in the queue not yet taken by the writer (at most MaxPendingPongs)
	closeCode   int16    // a StatusCode; they all fit
	closeReason string
}

// handshake is what a connection holds only until its socket is attached.
type handshake struct {
	remote net.Addr      // for RemoteAddr inside OnConnection
	req    *http.Request // for Request inside OnConnection
}

// connExtra is state most connections never need, kept out of Conn so that
// idle connections stay small.
type connExtra struct {
	subprotocol string        // selected in the handshake, if any
	req         *http.Request // the handshake request, with Options.KeepRequest
	closeTimer  *time.Timer   // drops TCP if the peer never answers our Close
	ctx         context.Context
	cancel      context.CancelCauseFunc // with the *CloseError the connection ended with
	limitedAddr netip.Addr              // counted in Options.AddrLimit until finish
}

// extraLocked returns c.extra, making it on first use. c.mu must be held.
func (c *Conn) extraLocked() *connExtra {
	if c.extra == nil {
		c.extra = &connExtra{}
	}
	return c.extra
}

// OnMessage sets the hook for received text and binary messages. data is the
// whole message (fragments joined, decompressed) and belongs to the hook.
func (c *Conn) OnMessage(f func(t MessageType, data []byte)) { c.onMessage = f }

// OnPing sets the hook for received pings. The server answers pings with a
// pong itself (one pong for the latest of several pings not yet answered,
// as RFC 6455 section 5.5.3 allows); the hook only observes. data is valid
// only until the hook returns.
func (c *Conn) OnPing(f func(data []byte)) { c.onPing = f }

// OnPong sets the hook for received pongs, solicited or not. data is valid
// only until the hook returns.
func (c *Conn) OnPong(f func(data []byte)) { c.onPong = f }

// OnClose sets the hook called exactly once when the connection has ended,
// with the peer's close code and reason, 1005 when its Close carried no code,
// 1006 when the TCP connection ended without a Close, or the code this side
// sent when it failed the connection.
func (c *Conn) OnClose(f func(code StatusCode, reason string)) { c.onClose = f }

// OnError sets the hook for errors on the connection, such as a protocol
// violation by the peer. It is called before the close the error causes,
// on the goroutine that met the error: the reader for what the peer sent,
// a Send caller for ErrQueueFull, the sweeper for timeouts.
func (c *Conn) OnError(f func(err error)) { c.onError = f }

// Subprotocol returns the sub-protocol selected in the handshake, or "".
func (c *Conn) Subprotocol() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.extra == nil {
		return ""
	}
	return c.extra.subprotocol
}

// Request returns the handshake request: its method, URL, headers and remote
// address; its body and context are not kept. Unless Options.KeepRequest is
// set, it is available only inside OnConnection and nil afterwards: the
// headers are the largest part of an idle connection, so read what you need
// of them when the connection opens.
func (c *Conn) Request() *http.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.hs != nil && c.hs.req != nil: // inside OnConnection
		return c.hs.req
	case c.extra != nil: // with Options.KeepRequest
		return c.extra.req
	}
	return nil
}

// RemoteAddr returns the peer's network address, or nil once the
// connection is closed.
func (c *Conn) RemoteAddr() net.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.hs != nil: // inside OnConnection
		return c.hs.remote
	case c.nc != nil:
		return c.nc.RemoteAddr()
	case c.raw && !c.fdClosed:
		return peerAddr(int(c.fd))
	}
	return nil
}

// Compressed reports whether permessage-deflate was negotiated.
func (c *Conn) Compressed() bool { return c.compress.on() }

// Context returns a context cancelled when the connection ends; its cause,
// context.Cause(ctx), is then a *CloseError with the code and reason OnClose
// gets (CloseStatus reads the code). It is made on first use, so
// connections that never ask cost nothing for it.
func (c *Conn) Context() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	x := c.extraLocked()
	if x.ctx == nil {
		x.ctx, x.cancel = context.WithCancelCause(context.Background())
		if c.closed {
			x.cancel(c.closeErrorLocked())
		}
	}
	return x.ctx
}

// Send queues one message. It returns ErrClosed once the close handshake
// began, or ErrQueueFull (and closes the connection) when the send queue is
// full. It never waits, for the network or anything else, so it takes no
// context.
func (c *Conn) Send(t MessageType, data []byte) error {
	mode := c.compress
	if len(data) < compressThreshold {
		mode = deflateOff
	}
	return c.enqueue(encodeFrameMode(t.opcode(), data, mode), false)
}

// SendText queues one text message.
func (c *Conn) SendText(s string) error {
	return c.Send(Text, []byte(s))
}

// SendPrepared queues a message framed once for many connections. It fails
// as Send does.
func (c *Conn) SendPrepared(m *PreparedMessage) error {
	return c.enqueue(m.frameFor(c.compress), false)
}

// SendPreparedBatch queues several messages as one entry of the send queue:
// their frames are joined into one buffer, so a burst such as the current
// state of a thousand items counts once against Options.SendQueue and goes
// out in one write. It fails as Send does.
func (c *Conn) SendPreparedBatch(ms []*PreparedMessage) error {
	switch len(ms) {
	case 0:
		return nil
	case 1:
		return c.SendPrepared(ms[0])
	}
	n := 0
	for _, m := range ms {
		n += len(m.frameFor(c.compress))
	}
	buf := make([]byte, 0, n)
	for _, m := range ms {
		buf = append(buf, m.frameFor(c.compress)...)
	}
	return c.enqueue(buf, false)
}

// Ping queues a ping with data, at most 125 bytes. Like Send, it never
// waits.
func (c *Conn) Ping(data []byte) error {
	return c.control(ws.OpPing, data)
}

// Pong queues an unsolicited pong with data, at most 125 bytes.
func (c *Conn) Pong(data []byte) error {
	return c.control(ws.OpPong, data)
}

func (c *Conn) control(op ws.OpCode, data []byte) error {
	if len(data) > maxControlPayload {
		return ErrControlTooLong
	}
	return c.enqueue(encodeFrame(op, data, false), true)
}

// Close starts the close handshake: it queues a Close frame with code and
// reason (at most 123 bytes), waits up to 5 s for the peer's Close, then
// drops the TCP connection. Codes that may not be sent (see
// StatusCode.Sendable) return ErrInvalidCloseCode.
func (c *Conn) Close(code StatusCode, reason string) error {
	if !code.Sendable() {
		return ErrInvalidCloseCode
	}
	if len(reason) > maxCloseReason {
		reason = reason[:maxCloseReason]
	}
	return c.sendClose(code, reason, false)
}

// Terminate drops the TCP connection at once, without a close handshake.
func (c *Conn) Terminate() { c.terminate(StatusAbnormalClosure, "") }

// sendClose queues a Close frame. With dropAfter the TCP connection is
// dropped as soon as it is written (a reply to the peer's Close, or a
// failure); otherwise the peer has closeTimeout to answer.
func (c *Conn) sendClose(code StatusCode, reason string, dropAfter bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeSent || c.closed {
		return ErrClosed
	}
	c.queueCloseLocked(code, reason, dropAfter)
	return nil
}

// queueCloseLocked queues our Close frame. c.mu must be held, and neither
// closeSent nor closed set.
func (c *Conn) queueCloseLocked(code StatusCode, reason string, dropAfter bool) {
	c.closeSent = true
	if !c.closeRcvd {
		c.closeCode, c.closeReason = int16(code), reason
	}
	c.dropAfter = dropAfter
	c.pushLocked(encodeFrame(ws.OpClose, closePayload(code, reason), false))
	if !dropAfter {
		// The peer has closeTimeout to answer. (terminate hands OnClose to
		// a server task, so it does not run on the timer's goroutine.)
		c.extraLocked().closeTimer = time.AfterFunc(closeTimeout, c.Terminate)
	}
}

// fail reports err, then closes with code and drops the connection without
// waiting for the peer.
func (c *Conn) fail(code StatusCode, reason string, err error) {
	if c.onError != nil && err != nil {
		c.onError(err)
	}
	if c.sendClose(code, reason, true) != nil {
		c.Terminate()
	}
}

// terminate closes TCP once and arranges for OnClose to run exactly once:
// here, or in the reader when one is running, so that OnClose always comes
// after the last OnMessage.
func (c *Conn) terminate(code StatusCode, reason string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	if !c.closeSent && !c.closeRcvd {
		c.closeCode, c.closeReason = int16(code), reason
	}
	reading := c.reading
	c.queue, c.unsent, c.pongIdx, c.pongs = nil, nil, 0, 0
	if x := c.extra; x != nil {
		if x.closeTimer != nil {
			x.closeTimer.Stop()
		}
		if x.cancel != nil {
			x.cancel(c.closeErrorLocked())
		}
	}
	c.closeSocketLocked()
	c.mu.Unlock()
	if !reading {
		// On a task of its own rather than the caller's goroutine, which
		// may be the sweeper or a Send caller: OnClose may take its time.
		c.srv.goTask(c.finish)
	}
}

// finish runs once the connection is closed and no reader is running. The
// connection leaves Clients before OnClose runs, and stops counting for
// Shutdown only once OnClose has returned.
func (c *Conn) finish() {
	c.srv.forget(c)
	c.releaseAddr()
	if c.onClose != nil {
		c.onClose(StatusCode(c.closeCode), c.closeReason)
	}
	c.srv.metrics.conns.Add(-1)
}

// releaseAddr counts c out of Options.AddrLimit, once.
func (c *Conn) releaseAddr() {
	l := c.srv.opts.AddrLimit
	if l == nil {
		return
	}
	c.mu.Lock()
	var a netip.Addr
	if x := c.extra; x != nil {
		a, x.limitedAddr = x.limitedAddr, netip.Addr{}
	}
	c.mu.Unlock()
	l.release(a)
}

// closeErrorLocked returns how the connection ended, once it is closed: the
// code and reason OnClose gets. c.mu is held.
func (c *Conn) closeErrorLocked() *CloseError {
	return &CloseError{Code: StatusCode(c.closeCode), Reason: c.closeReason}
}

// closing reports whether a Close was sent or the connection is closed.
func (c *Conn) closing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeSent || c.closed
}
