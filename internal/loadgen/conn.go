package loadgen

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

const (
	readBufferSize = 4096     // per connection; frames up to this size are read in place
	maxMessage     = 16 << 20 // larger messages from the server fail the connection
)

// errServerClose is returned by readMessage when the server sent a Close.
var errServerClose = errors.New("server closed the connection")

// dialer opens client WebSocket connections to one loopback target,
// spreading them over several source addresses.
type dialer struct {
	dst     *net.TCPAddr
	sources []net.IP
	next    atomic.Uint32
	timeout time.Duration
}

func newDialer(dst *net.TCPAddr, conns, sources int, timeout time.Duration) *dialer {
	return &dialer{dst: dst, sources: sourceAddrs(dst.IP, conns, sources), timeout: timeout}
}

// netDial ignores addr: the target was resolved and checked once, up front.
func (d *dialer) netDial(ctx context.Context, _, _ string) (net.Conn, error) {
	src := d.sources[int(d.next.Add(1))%len(d.sources)]
	nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Control: bindNoPort}
	return nd.DialContext(ctx, "tcp", d.dst.String())
}

// dial opens a WebSocket connection to url ("ws://target/path").
func (d *dialer) dial(ctx context.Context, url string) (*conn, error) {
	wd := ws.Dialer{Timeout: d.timeout, NetDial: d.netDial}
	nc, br, _, err := wd.Dial(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	c := &conn{nc: nc}
	var src io.Reader = nc
	if br != nil {
		// Frames the server sent right behind its handshake response.
		early, _ := br.Peek(br.Buffered())
		c.pre = &prefixReader{early: append([]byte(nil), early...), r: nc}
		src = c.pre
		ws.PutReader(br)
	}
	c.br = bufio.NewReaderSize(src, readBufferSize)
	return c, nil
}

// prefixReader reads early, then r.
type prefixReader struct {
	early []byte
	r     io.Reader
}

func (p *prefixReader) Read(b []byte) (int, error) {
	if len(p.early) > 0 {
		n := copy(b, p.early)
		p.early = p.early[n:]
		return n, nil
	}
	return p.r.Read(b)
}

// conn is one client WebSocket connection. One goroutine reads it; writes
// may come from any goroutine. Once an event loop took it over (detached),
// the socket is the raw descriptor fd and nc, br and skip are unused.
type conn struct {
	nc   net.Conn
	br   *bufio.Reader
	pre  *prefixReader // br's source when the handshake read ahead; else nil
	hdr  [ws.MaxHeaderSize - 2]byte
	skip int    // bytes of the last message still in br, discarded on the next read
	msg  []byte // reused for messages larger than br's buffer or fragmented

	detached   bool   // an event loop reads the socket
	fd         int    // detached: the raw socket
	pending    []byte // detached: the start of a frame not yet complete
	fragmented bool   // detached: msg holds the fragments of a message so far

	wmu    sync.Mutex
	wbuf   []byte
	closed bool // under wmu
}

// readMessage returns the next text or binary message. Pings are answered
// and pongs skipped on the way. The payload is valid until the next call;
// a message that fits in the read buffer is not copied.
func (c *conn) readMessage() (ws.OpCode, []byte, error) {
	if c.skip > 0 {
		_, _ = c.br.Discard(c.skip)
		c.skip = 0
	}
	var op ws.OpCode
	fragmented := false
	for {
		h, err := ws.ReadHeaderBuffer(c.br, c.hdr[:])
		if err != nil {
			return 0, nil, err
		}
		if h.Length > maxMessage || fragmented && int64(len(c.msg))+h.Length > maxMessage {
			return 0, nil, fmt.Errorf("message over %d bytes", maxMessage)
		}
		n := int(h.Length)
		whole := h.Fin && !fragmented && !h.OpCode.IsControl()
		var p []byte
		inPlace := n <= c.br.Size()
		if inPlace {
			if p, err = c.br.Peek(n); err != nil {
				return 0, nil, err
			}
		} else {
			start := 0
			if fragmented && !h.OpCode.IsControl() {
				start = len(c.msg)
			}
			c.msg = slices.Grow(c.msg[:start], n)[:start+n]
			p = c.msg[start:]
			if _, err := io.ReadFull(c.br, p); err != nil {
				return 0, nil, err
			}
		}
		if h.Masked {
			ws.Cipher(p, h.Mask, 0)
		}
		if whole {
			if inPlace {
				c.skip = n
			}
			return h.OpCode, p, nil
		}
		if h.OpCode.IsControl() {
			err := c.control(h.OpCode, p)
			if inPlace {
				_, _ = c.br.Discard(n)
			}
			if err != nil {
				return 0, nil, err
			}
			continue
		}
		// A fragment: gather the message in c.msg.
		if !fragmented {
			op, fragmented = h.OpCode, true
			if inPlace {
				c.msg = c.msg[:0]
			}
		}
		if inPlace {
			c.msg = append(c.msg, p...)
			_, _ = c.br.Discard(n)
		}
		if h.Fin {
			return op, c.msg, nil
		}
	}
}

func (c *conn) control(op ws.OpCode, p []byte) error {
	switch op {
	case ws.OpPing:
		return c.writeFrame(ws.OpPong, p)
	case ws.OpClose:
		code, reason := ws.ParseCloseFrameData(p)
		_ = c.writeFrame(ws.OpClose, p[:min(len(p), 2)])
		return fmt.Errorf("%w: %d %q", errServerClose, code, reason)
	}
	return nil
}

// writeFrame writes one masked frame.
func (c *conn) writeFrame(op ws.OpCode, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	c.wbuf = appendFrame(c.wbuf[:0], op, payload)
	if c.detached {
		return writeRaw(c.fd, c.wbuf)
	}
	_, err := c.nc.Write(c.wbuf)
	return err
}

// appendFrame appends a final, masked client frame.
func appendFrame(b []byte, op ws.OpCode, payload []byte) []byte {
	b = append(b, 0x80|byte(op))
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	var mask [4]byte
	binary.LittleEndian.PutUint32(mask[:], rand.Uint32())
	b = append(b, mask[:]...)
	start := len(b)
	b = append(b, payload...)
	ws.Cipher(b[start:], mask, 0)
	return b
}

// close drops the connection with a reset, leaving no TIME_WAIT entry to
// use up the ephemeral ports of the next run. It may be called more than
// once. A detached connection must be out of its event loop first.
func (c *conn) close() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	if c.detached {
		closeRaw(c.fd)
		return
	}
	if tc, ok := c.nc.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.nc.Close()
}
