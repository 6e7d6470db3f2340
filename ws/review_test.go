package ws

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// A writer that parks on a full socket before the read poller has the
// connection (OnConnection queued a lot, and an early frame's hook is
// slow) must still be resumed when the client drains.
func TestWriterParkedDuringEarlyFramesResumes(t *testing.T) {
	const n = 300
	chunk := bytes.Repeat([]byte("z"), 64<<10)
	srv := NewServer(Options{SendQueue: 2 * n})
	srv.OnConnection(func(c *Conn) {
		c.OnMessage(func(MessageType, []byte) { time.Sleep(300 * time.Millisecond) })
		for i := 0; i < n; i++ {
			_ = c.Send(Binary, chunk)
		}
	})
	hs := serveOn(t, srv, httptest.NewServer(srv))
	nc, err := net.Dial("tcp", strings.TrimPrefix(hs.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// The handshake and a first frame in one write: the frame is read
	// behind the handshake, before the poller takes the connection.
	var req bytes.Buffer
	fmt.Fprintf(&req, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	_ = ws.WriteFrame(&req, ws.MaskFrame(ws.NewTextFrame([]byte("early"))))
	if _, err := nc.Write(req.Bytes()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := 0; i < n; i++ {
		f, err := readFrame(br)
		if err != nil {
			t.Fatalf("got %d of %d messages: %v", i, n, err)
		}
		if len(f.Payload) != len(chunk) {
			t.Fatalf("message %d has %d bytes", i, len(f.Payload))
		}
	}
}

// A peer that pings without reading must not grow the send queue: past
// MaxPendingPongs, a pong waiting in the queue is replaced, not joined.
func TestPingFloodDoesNotGrowQueue(t *testing.T) {
	srv := NewServer(Options{SendQueue: 8})
	var pings atomic.Int64
	conns := make(chan *Conn, 1)
	srv.OnConnection(func(c *Conn) {
		c.OnPing(func([]byte) { pings.Add(1) })
		conns <- c
	})
	hs := serveOn(t, srv, httptest.NewServer(srv))
	c := dialRaw(t, "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	conn := <-conns
	ping := new(bytes.Buffer)
	_ = ws.WriteFrame(ping, ws.MaskFrame(ws.NewPingFrame(bytes.Repeat([]byte("p"), 125))))
	const n = 50000 // far more pongs than the client's socket buffers hold
	burst := bytes.Repeat(ping.Bytes(), 1000)
	for i := 0; i < n/1000; i++ {
		if _, err := c.nc.Write(burst); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for pings.Load() < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := pings.Load(); got != n {
		t.Fatalf("server saw %d pings, want %d", got, n)
	}
	conn.mu.Lock()
	queued := len(conn.queue) + len(conn.unsent)
	conn.mu.Unlock()
	if queued > 8+DefaultPendingPongs+1 {
		t.Fatalf("%d frames queued after a ping flood; want at most the queue bound plus the pending pongs", queued)
	}
}

// Shutdown returns only once every OnClose hook has returned, even for a
// connection dropped at the deadline.
func TestShutdownWaitsForOnClose(t *testing.T) {
	srv := NewServer(Options{})
	var closed atomic.Bool
	srv.OnConnection(func(c *Conn) {
		c.OnClose(func(StatusCode, string) {
			time.Sleep(300 * time.Millisecond)
			closed.Store(true)
		})
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	dialRaw(t, "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	for srv.Stats().Connections == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = srv.Shutdown(ctx) // the client never answers the Close
	if !closed.Load() {
		t.Fatal("Shutdown returned before OnClose finished")
	}
}
