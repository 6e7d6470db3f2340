package ws

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

func TestEchoRoundTrip(t *testing.T) {
	ts := newTestServer(t, Options{}, true)
	c := dialRaw(t, ts.url, nil)
	tests := []struct {
		name string
		op   ws.OpCode
		data []byte
	}{
		{"text", ws.OpText, []byte("héllo")},
		{"binary", ws.OpBinary, []byte{0, 1, 2, 255}},
		{"empty text", ws.OpText, nil},
		{"16-bit length", ws.OpBinary, bytes.Repeat([]byte{7}, 300)},
		{"64-bit length", ws.OpText, bytes.Repeat([]byte("x"), 70000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.send(ws.NewFrame(tt.op, true, tt.data))
			f := c.read()
			if f.Header.OpCode != tt.op || !bytes.Equal(f.Payload, tt.data) {
				t.Fatalf("echo = op %v %d bytes, want op %v %d bytes", f.Header.OpCode, len(f.Payload), tt.op, len(tt.data))
			}
		})
	}
}

func TestFragmentsWithInterleavedPing(t *testing.T) {
	ts := newTestServer(t, Options{}, true)
	c := dialRaw(t, ts.url, nil)
	c.send(ws.NewFrame(ws.OpText, false, []byte("frag")))
	c.send(ws.NewFrame(ws.OpPing, true, []byte("p1")))
	c.send(ws.NewFrame(ws.OpContinuation, false, []byte("men")))
	c.send(ws.NewFrame(ws.OpContinuation, true, []byte("ted")))
	pong := c.read()
	if pong.Header.OpCode != ws.OpPong || string(pong.Payload) != "p1" {
		t.Fatalf("got op %v %q, want pong p1", pong.Header.OpCode, pong.Payload)
	}
	msg := c.read()
	if msg.Header.OpCode != ws.OpText || string(msg.Payload) != "fragmented" {
		t.Fatalf("got op %v %q, want text \"fragmented\"", msg.Header.OpCode, msg.Payload)
	}
	if e := ts.next(t, "ping"); string(e.data) != "p1" {
		t.Errorf("OnPing got %q", e.data)
	}
}

func TestProtocolViolationsClose(t *testing.T) {
	bad := []byte{0xff, 0xfe, 0xfd}
	tests := []struct {
		name   string
		frames []ws.Frame
		raw    bool // send unmasked
		opts   Options
		want   StatusCode
	}{
		{name: "unmasked frame", frames: []ws.Frame{ws.NewTextFrame([]byte("hi"))}, raw: true, want: StatusProtocolError},
		{name: "rsv bits without extension", frames: []ws.Frame{{Header: ws.Header{Fin: true, Rsv: 0x2, OpCode: ws.OpText, Length: 1}, Payload: []byte("a")}}, want: StatusProtocolError},
		{name: "reserved opcode", frames: []ws.Frame{ws.NewFrame(ws.OpCode(0x3), true, []byte("a"))}, want: StatusProtocolError},
		{name: "continuation without start", frames: []ws.Frame{ws.NewFrame(ws.OpContinuation, true, []byte("a"))}, want: StatusProtocolError},
		{name: "new message inside fragmented one", frames: []ws.Frame{ws.NewFrame(ws.OpText, false, []byte("a")), ws.NewFrame(ws.OpText, true, []byte("b"))}, want: StatusProtocolError},
		{name: "fragmented ping", frames: []ws.Frame{ws.NewFrame(ws.OpPing, false, []byte("a"))}, want: StatusProtocolError},
		{name: "oversized ping", frames: []ws.Frame{ws.NewFrame(ws.OpPing, true, bytes.Repeat([]byte("a"), 126))}, want: StatusProtocolError},
		{name: "invalid utf-8 text", frames: []ws.Frame{ws.NewTextFrame(bad)}, want: StatusInvalidFramePayload},
		{name: "invalid utf-8 across fragments", frames: []ws.Frame{ws.NewFrame(ws.OpText, false, []byte{0xce}), ws.NewFrame(ws.OpContinuation, true, []byte{0x41})}, want: StatusInvalidFramePayload},
		{name: "message over max payload", opts: Options{MaxPayload: 10}, frames: []ws.Frame{ws.NewBinaryFrame(make([]byte, 11))}, want: StatusMessageTooBig},
		{name: "continuation claiming 2^63-1 bytes", frames: []ws.Frame{ws.NewFrame(ws.OpText, false, []byte("a")), {Header: ws.Header{Fin: true, OpCode: ws.OpContinuation, Length: 1<<63 - 1}}}, want: StatusMessageTooBig},
		{name: "fragments over max payload", opts: Options{MaxPayload: 10}, frames: []ws.Frame{ws.NewFrame(ws.OpBinary, false, make([]byte, 6)), ws.NewFrame(ws.OpContinuation, true, make([]byte, 6))}, want: StatusMessageTooBig},
		{name: "close with 1-byte body", frames: []ws.Frame{ws.NewCloseFrame([]byte{3})}, want: StatusProtocolError},
		{name: "close with reserved code 1005", frames: []ws.Frame{ws.NewCloseFrame(ws.NewCloseFrameBody(1005, ""))}, want: StatusProtocolError},
		{name: "close with unknown code 1016", frames: []ws.Frame{ws.NewCloseFrame(ws.NewCloseFrameBody(1016, ""))}, want: StatusProtocolError},
		{name: "close with invalid utf-8 reason", frames: []ws.Frame{ws.NewCloseFrame(append([]byte{0x03, 0xe8}, bad...))}, want: StatusInvalidFramePayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, tt.opts, false)
			c := dialRaw(t, ts.url, nil)
			for _, f := range tt.frames {
				if tt.raw {
					c.sendRaw(f)
				} else {
					c.send(f)
				}
			}
			if code, reason := c.readClose(); code != tt.want {
				t.Fatalf("close code = %d (%q), want %d", code, reason, tt.want)
			}
			c.expectEOF()
			if e := ts.next(t, "close"); e.code != int(tt.want) {
				t.Errorf("OnClose code = %d, want %d", e.code, tt.want)
			}
		})
	}
}

func TestMessageTooBigReportsError(t *testing.T) {
	ts := newTestServer(t, Options{MaxPayload: 4}, false)
	c := dialRaw(t, ts.url, nil)
	c.send(ws.NewBinaryFrame([]byte("12345")))
	if e := ts.next(t, "error"); e.err != ErrMessageTooBig {
		t.Fatalf("OnError = %v, want ErrMessageTooBig", e.err)
	}
	if code, _ := c.readClose(); code != StatusMessageTooBig {
		t.Fatalf("close code = %d, want 1009", code)
	}
}

func TestPeerCloseHandshake(t *testing.T) {
	tests := []struct {
		name     string
		body     []byte
		wantEcho StatusCode // 0: Close without a body
		wantHook int
	}{
		{"with code", ws.NewCloseFrameBody(4000, "bye"), 4000, 4000},
		{"without code", nil, 0, int(StatusNoStatusRcvd)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, Options{}, false)
			c := dialRaw(t, ts.url, nil)
			c.send(ws.NewCloseFrame(tt.body))
			f := c.read()
			if f.Header.OpCode != ws.OpClose {
				t.Fatalf("got op %v, want close", f.Header.OpCode)
			}
			if tt.wantEcho == 0 && len(f.Payload) != 0 {
				t.Fatalf("echo body = %x, want empty", f.Payload)
			}
			if tt.wantEcho != 0 {
				if code, _ := ws.ParseCloseFrameData(f.Payload); StatusCode(code) != tt.wantEcho {
					t.Fatalf("echoed code %d, want %d", code, tt.wantEcho)
				}
			}
			c.expectEOF()
			e := ts.next(t, "close")
			if e.code != tt.wantHook {
				t.Errorf("OnClose code = %d, want %d", e.code, tt.wantHook)
			}
		})
	}
}

func TestServerClose(t *testing.T) {
	ts := newTestServer(t, Options{}, false)
	c := dialRaw(t, ts.url, nil)
	conn := <-ts.conns
	if err := conn.Close(StatusCode(1005), ""); err != ErrInvalidCloseCode {
		t.Fatalf("Close(1005) = %v, want ErrInvalidCloseCode", err)
	}
	if err := conn.Close(4321, "done"); err != nil {
		t.Fatal(err)
	}
	if code, reason := c.readClose(); code != 4321 || reason != "done" {
		t.Fatalf("close = %d %q, want 4321 done", code, reason)
	}
	if err := conn.SendText("late"); err != ErrClosed {
		t.Fatalf("Send after Close = %v, want ErrClosed", err)
	}
	c.send(ws.NewCloseFrame(ws.NewCloseFrameBody(4321, "")))
	c.expectEOF()
	if e := ts.next(t, "close"); e.code != 4321 {
		t.Errorf("OnClose code = %d, want 4321", e.code)
	}
}

func TestServerPingsAndPongTimeout(t *testing.T) {
	ts := newTestServer(t, Options{PingInterval: 50 * time.Millisecond, PongTimeout: 100 * time.Millisecond}, false)
	c := dialRaw(t, ts.url, nil)
	if f := c.read(); f.Header.OpCode != ws.OpPing {
		t.Fatalf("got op %v, want a server ping", f.Header.OpCode)
	}
	// Do not answer: the server must give up with 1001.
	if code, reason := c.readClose(); code != StatusGoingAway {
		t.Fatalf("close = %d %q, want 1001", code, reason)
	}
}

func TestPingPongMethods(t *testing.T) {
	ts := newTestServer(t, Options{}, false)
	c := dialRaw(t, ts.url, nil)
	conn := <-ts.conns
	if err := conn.Ping(make([]byte, 126)); err != ErrControlTooLong {
		t.Fatalf("Ping(126 bytes) = %v, want ErrControlTooLong", err)
	}
	if err := conn.Ping([]byte("hb")); err != nil {
		t.Fatal(err)
	}
	if f := c.read(); f.Header.OpCode != ws.OpPing || string(f.Payload) != "hb" {
		t.Fatalf("got op %v %q, want ping hb", f.Header.OpCode, f.Payload)
	}
	if err := conn.Pong([]byte("u")); err != nil {
		t.Fatal(err)
	}
	if f := c.read(); f.Header.OpCode != ws.OpPong {
		t.Fatalf("got op %v, want pong", f.Header.OpCode)
	}
	c.send(ws.NewPongFrame([]byte("unsolicited")))
	if e := ts.next(t, "pong"); string(e.data) != "unsolicited" {
		t.Fatalf("OnPong got %q", e.data)
	}
}

func TestSendQueueOverflowCloses(t *testing.T) {
	ts := newTestServer(t, Options{SendQueue: 4, OverflowCode: 4100, OverflowReason: "over capacity"}, false)
	c := dialRaw(t, ts.url, nil)
	conn := <-ts.conns
	// The client reads nothing, so its socket buffers fill and the queue
	// with them.
	big := bytes.Repeat([]byte("x"), 64<<10)
	var err error
	for i := 0; i < 10000 && err == nil; i++ {
		err = conn.Send(Binary, big)
	}
	if err != ErrQueueFull {
		t.Fatalf("Send = %v, want ErrQueueFull", err)
	}
	if got := ts.Stats().Overflows; got != 1 {
		t.Errorf("Stats().Overflows = %d, want 1", got)
	}
	if code, _ := c.readClose(); code != 4100 {
		t.Fatalf("close = %d, want 4100", code)
	}
}

func TestPreparedMessageSharedFrame(t *testing.T) {
	ts := newTestServer(t, Options{}, false)
	a, b := dialRaw(t, ts.url, nil), dialRaw(t, ts.url, nil)
	ca, cb := <-ts.conns, <-ts.conns
	m := NewPreparedMessage(Text, []byte(strings.Repeat("fan-out ", 40)))
	for _, c := range []*Conn{ca, cb} {
		if err := c.SendPrepared(m); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*rawClient{a, b} {
		if f := c.read(); string(f.Payload) != string(m.Payload()) {
			t.Fatalf("got %q", f.Payload)
		}
	}
}

func TestEarlyFramesBehindHandshake(t *testing.T) {
	ts := newTestServer(t, Options{}, true)
	c := dialRaw(t, ts.url, nil)
	// Two frames in one write: the second is already buffered when the
	// first is handled.
	var buf bytes.Buffer
	_ = ws.WriteFrame(&buf, ws.MaskFrame(ws.NewTextFrame([]byte("one"))))
	_ = ws.WriteFrame(&buf, ws.MaskFrame(ws.NewTextFrame([]byte("two"))))
	if _, err := c.nc.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"one", "two"} {
		if f := c.read(); string(f.Payload) != want {
			t.Fatalf("got %q, want %q", f.Payload, want)
		}
	}
}

func TestOnConnectionRunsBeforeHandshakeResponse(t *testing.T) {
	srv := NewServer(Options{})
	requests := make(chan *http.Request, 1)
	conns := make(chan *Conn, 1)
	srv.OnConnection(func(c *Conn) {
		requests <- c.Request()
		// Queued before the 101 is written: must arrive right behind it.
		_ = c.SendText("welcome " + c.Request().URL.Query().Get("name"))
		conns <- c
	})
	hs := serveOn(t, srv, httptest.NewServer(srv))
	c := dialRaw(t, "ws"+strings.TrimPrefix(hs.URL, "http")+"/?name=ada", nil)
	if f := c.read(); string(f.Payload) != "welcome ada" {
		t.Fatalf("first frame %q, want \"welcome ada\"", f.Payload)
	}
	if r := <-requests; r == nil || r.URL.Query().Get("name") != "ada" {
		t.Fatalf("Request() inside OnConnection = %v", r)
	}
	// The request is dropped before the 101 is written, so once the client
	// has read a frame it is gone.
	if r := (<-conns).Request(); r != nil {
		t.Fatalf("Request() after OnConnection = %v, want nil without KeepRequest", r)
	}
}

func TestKeepRequest(t *testing.T) {
	ts := newTestServer(t, Options{KeepRequest: true}, false)
	dialRaw(t, ts.url+"/path?q=1", http.Header{"X-Trace": {"abc"}})
	c := <-ts.conns
	r := c.Request()
	if r == nil || r.URL.Path != "/path" || r.Header.Get("X-Trace") != "abc" {
		t.Fatalf("Request() = %+v, want the handshake request", r)
	}
	if c.RemoteAddr() == nil {
		t.Fatal("RemoteAddr() = nil")
	}
}

func TestSendPreparedBatchCountsOnce(t *testing.T) {
	ts := newTestServer(t, Options{SendQueue: 4}, false)
	c := dialRaw(t, ts.url, nil)
	conn := <-ts.conns
	const n = 1000 // far more than the queue bound
	ms := make([]*PreparedMessage, n)
	for i := range ms {
		ms[i] = NewPreparedMessage(Text, []byte(fmt.Sprintf("state %d", i)))
	}
	if err := conn.SendPreparedBatch(ms); err != nil {
		t.Fatalf("SendPreparedBatch = %v", err)
	}
	for i := 0; i < n; i++ {
		if f := c.read(); string(f.Payload) != fmt.Sprintf("state %d", i) {
			t.Fatalf("message %d = %q", i, f.Payload)
		}
	}
}

// The connection's Context ends with the way the connection ended: a
// *CloseError with the code and reason OnClose got.
func TestContextCauseIsCloseError(t *testing.T) {
	ts := newTestServer(t, Options{}, false)
	c := dialRaw(t, ts.url, nil)
	conn := <-ts.conns
	ctx := conn.Context()
	c.send(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "bye")))
	e := ts.next(t, "close")
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the context did not end")
	}
	var ce *CloseError
	if !errors.As(context.Cause(ctx), &ce) || int(ce.Code) != e.code || ce.Reason != e.reason {
		t.Fatalf("cause %v, OnClose got %d %q", context.Cause(ctx), e.code, e.reason)
	}
	if got := CloseStatus(context.Cause(ctx)); got != StatusNormalClosure {
		t.Errorf("CloseStatus = %d, want 1000", got)
	}
	if got := CloseStatus(context.Cause(conn.Context())); got != StatusNormalClosure {
		t.Errorf("a Context asked for after the close: CloseStatus = %d", got)
	}
}
