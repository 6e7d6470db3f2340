package ws

import (
	"bytes"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

func TestFrameArrivingInPieces(t *testing.T) {
	ts := newTestServer(t, Options{}, true)
	c := dialRaw(t, ts.url, nil)
	var buf bytes.Buffer
	payload := bytes.Repeat([]byte("piece"), 4000) // 20,000 bytes: a 16-bit length, several reads
	_ = ws.WriteFrame(&buf, ws.MaskFrame(ws.NewBinaryFrame(payload)))
	_ = ws.WriteFrame(&buf, ws.MaskFrame(ws.NewTextFrame([]byte("after"))))
	wire := buf.Bytes()
	// Cut inside the header, inside the payload, at the frame boundary, and
	// inside the second header.
	prev := 0
	for _, cut := range []int{1, 4, 1000, 19000, 20008, 20010, len(wire)} {
		if _, err := c.nc.Write(wire[prev:cut]); err != nil {
			t.Fatal(err)
		}
		prev = cut
		time.Sleep(5 * time.Millisecond) // let the server read each piece alone: the case under test, not synchronisation
	}
	if f := c.read(); !bytes.Equal(f.Payload, payload) {
		t.Fatalf("got %d bytes back, want %d", len(f.Payload), len(payload))
	}
	if f := c.read(); string(f.Payload) != "after" {
		t.Fatalf("got %q, want \"after\"", f.Payload)
	}
}

func TestStalledFrameCloses1008(t *testing.T) {
	ts := newTestServer(t, Options{ReadTimeout: 100 * time.Millisecond}, false)
	c := dialRaw(t, ts.url, nil)
	var buf bytes.Buffer
	_ = ws.WriteFrame(&buf, ws.MaskFrame(ws.NewTextFrame([]byte("never finished"))))
	if _, err := c.nc.Write(buf.Bytes()[:5]); err != nil {
		t.Fatal(err)
	}
	if code, _ := c.readClose(); code != StatusPolicyViolation {
		t.Fatalf("close = %d, want 1008", code)
	}
}

func TestSlowReaderGetsEverythingInOrder(t *testing.T) {
	ts := newTestServer(t, Options{SendQueue: 1000}, false)
	c := dialRaw(t, ts.url, nil)
	conn := <-ts.conns
	// Far more than the socket buffers hold, so the writer must park on the
	// write poller and resume as the client drains.
	const n = 400
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	for i := 0; i < n; i++ {
		chunk[0] = byte(i)
		if err := conn.Send(Binary, bytes.Clone(chunk)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	time.Sleep(50 * time.Millisecond) // let the socket fill before reading: the case under test
	for i := 0; i < n; i++ {
		f := c.read()
		if len(f.Payload) != len(chunk) || f.Payload[0] != byte(i) {
			t.Fatalf("message %d: %d bytes starting %d", i, len(f.Payload), f.Payload[0])
		}
	}
}

func TestPeerThatNeverReadsIsDropped(t *testing.T) {
	ts := newTestServer(t, Options{SendQueue: 1000, WriteTimeout: 200 * time.Millisecond}, false)
	dialRaw(t, ts.url, nil)
	conn := <-ts.conns
	chunk := bytes.Repeat([]byte("y"), 64<<10)
	for i := 0; i < 400; i++ {
		if err := conn.Send(Binary, chunk); err != nil {
			break
		}
	}
	if e := ts.next(t, "close"); e.code != int(StatusAbnormalClosure) {
		t.Fatalf("OnClose code = %d, want 1006 (dropped)", e.code)
	}
}

func TestIdleConnectionsHoldNoGoroutine(t *testing.T) {
	ts := newTestServer(t, Options{}, true)
	warm := dialRaw(t, ts.url, nil)
	<-ts.conns
	warm.send(ws.NewTextFrame([]byte("warm up")))
	warm.read()
	before := runtime.NumGoroutine()
	const n = 200
	clients := make([]*rawClient, n)
	for i := range clients {
		clients[i] = dialRaw(t, ts.url, nil)
		<-ts.conns
	}
	for _, c := range clients { // each has exchanged a message and is idle again
		c.send(ws.NewTextFrame([]byte("hi")))
		c.read()
	}
	// Transient reader and writer goroutines end right after their pass.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine()-before > n/20 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	// The test's own client side adds none either (raw net.Conns).
	if extra := runtime.NumGoroutine() - before; extra > n/20 {
		t.Fatalf("%d idle connections hold %d goroutines", n, extra)
	}
}

// TestDeliveryToIdleConnectionDoesNotAllocate sends one prepared message at
// a time to a connection that goes idle in between, as a subscriber of a
// quiet channel does: the send queue comes from the server's pool, so the
// delivery path allocates nothing.
func TestDeliveryToIdleConnectionDoesNotAllocate(t *testing.T) {
	ts := newTestServer(t, Options{}, false)
	c := dialRaw(t, ts.url, nil)
	conn := <-ts.conns
	m := NewPreparedMessage(Text, []byte(`{"event":"update","channel":"quiet","data":"{}"}`))
	frame := make([]byte, len(m.frameFor(deflateOff)))
	if n := c.br.Buffered(); n > 0 {
		t.Fatalf("%d unexpected bytes before the first message", n)
	}
	deliver := func() {
		if err := conn.SendPrepared(m); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c.nc, frame); err != nil {
			t.Fatal(err)
		}
		// Wait for the writer to find the queue empty and give up its array.
		for deadline := time.Now().Add(5 * time.Second); ; {
			conn.mu.Lock()
			idle := !conn.writing
			conn.mu.Unlock()
			if idle {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the writer did not go idle")
			}
			runtime.Gosched()
		}
	}
	deliver() // the pool's first array
	if allocs := testing.AllocsPerRun(200, deliver); allocs >= 0.5 {
		t.Errorf("%.2f allocations per delivery to an idle connection, want 0", allocs)
	}
}

// TestPeerStillSendingGetsTheClose fails a message over MaxPayload while
// the client is still writing it: the server's Close must reach the
// client, and the rest of the message must be drained rather than answered
// with a reset (a client hit by the reset mid-write may never read the
// Close; Node's ws then reports 1006 instead of 1009).
func TestPeerStillSendingGetsTheClose(t *testing.T) {
	ts := newTestServer(t, Options{MaxPayload: 1024}, false)
	c := dialRaw(t, ts.url, nil)
	const size = 4 << 20
	var hdr bytes.Buffer
	if err := ws.WriteHeader(&hdr, ws.Header{Fin: true, OpCode: ws.OpBinary, Length: size, Masked: true, Mask: [4]byte{1, 2, 3, 4}}); err != nil {
		t.Fatal(err)
	}
	wrote := make(chan error, 1)
	go func() {
		if _, err := c.nc.Write(hdr.Bytes()); err != nil {
			wrote <- err
			return
		}
		_, err := c.nc.Write(make([]byte, size))
		wrote <- err
	}()
	if code, _ := c.readClose(); code != StatusMessageTooBig {
		t.Fatalf("close = %d, want 1009", code)
	}
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatalf("the rest of the message was refused: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the rest of the message was never taken")
	}
}
