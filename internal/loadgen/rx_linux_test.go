//go:build linux

package loadgen

import (
	"bufio"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// onLoop hands c, as the only subscriber of a token-broker run, to an event
// loop. stop ends the loop and closes the connection; the subscriber's
// counters may be read after it.
func onLoop(t *testing.T, c *conn) (r *runner, s *subscriber, stop func()) {
	t.Helper()
	r = &runner{o: Options{Protocol: ProtocolTokens}, epoch: time.Now()}
	rx, err := newReceivers(r, 1)
	if err != nil {
		t.Fatal(err)
	}
	s = newSubscriber(c, 0, 0, 1)
	if err := rx.add(s); err != nil {
		rx.close()
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			rx.close()
			s.c.close()
		})
	}
	t.Cleanup(stop)
	return r, s, stop
}

// eventually waits up to 10 s for cond.
func eventually(cond func() bool) {
	for deadline := time.Now().Add(10 * time.Second); !cond() && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
}

// newConn wraps a dialed connection as the dialer does.
func newConn(nc net.Conn) *conn { return &conn{nc: nc, br: bufio.NewReaderSize(nc, readBufferSize)} }

// TestReceiversReadSplitFrames runs a subscriber on an event loop over a
// real loopback connection whose peer writes messages, some larger than
// the loop's buffer, in small pieces.
func TestReceiversReadSplitFrames(t *testing.T) {
	nc, peer := loopbackPair(t)
	sizes := []int{100, 40_000, 3 * rxBufferSize, 60, 70_000}
	var stream []byte
	for seq, size := range sizes {
		stream = append(stream, serverFrame(ws.OpText, true, appendMessage(nil, 0, uint64(seq), 0, size))...)
	}
	done := make(chan error, 1)
	go func() {
		for b := stream; len(b) > 0; {
			n := min(len(b), 1000)
			if _, err := peer.Write(b[:n]); err != nil {
				done <- err
				return
			}
			b = b[n:]
			time.Sleep(50 * time.Microsecond)
		}
		done <- nil
	}()
	_, s, stop := onLoop(t, newConn(nc))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	eventually(func() bool { return s.received.Load() >= uint64(len(sizes)) })
	stop()
	if got := s.received.Load(); got != uint64(len(sizes)) || s.lost != 0 || s.malformed != 0 || s.dropped.Load() {
		t.Fatalf("received %d of %d, lost %d, malformed %d, dropped %v", got, len(sizes), s.lost, s.malformed, s.dropped.Load())
	}
	if len(s.c.pending) != 0 {
		t.Errorf("%d bytes left pending", len(s.c.pending))
	}
}

// loopbackPair returns a connected client and server socket whose buffers
// hold a megabyte each way, so that a test can queue a lot before reading.
func loopbackPair(t *testing.T) (client, peer net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20) })
	}}
	client, err = d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer = <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	if err := peer.(*net.TCPConn).SetWriteBuffer(1 << 20); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); peer.Close() })
	return client, peer
}

// TestReceiversReadToTheEnd queues far more than one read takes, then the
// peer's close, all before the subscriber joins a loop: one edge reports
// it all, so the loop must read until the socket is empty and then see the
// end of the stream.
func TestReceiversReadToTheEnd(t *testing.T) {
	nc, peer := loopbackPair(t)
	const messages = 300
	var stream []byte
	for seq := range messages {
		stream = append(stream, serverFrame(ws.OpText, true, appendMessage(nil, 0, uint64(seq), 0, 1000))...)
	}
	if len(stream) < 4*rxBufferSize {
		t.Fatalf("the stream is %d bytes: not several reads", len(stream))
	}
	if _, err := peer.Write(stream); err != nil {
		t.Fatal(err)
	}
	peer.Close()
	time.Sleep(20 * time.Millisecond) // let the FIN arrive behind the data: the case under test

	r, s, stop := onLoop(t, newConn(nc))
	eventually(s.dropped.Load)
	stop()
	if got := s.received.Load(); got != messages || s.lost != 0 {
		t.Fatalf("received %d of %d, lost %d", got, messages, s.lost)
	}
	if !s.dropped.Load() || len(r.errs.list()) != 1 {
		t.Fatalf("the close went unseen: dropped %v, errors %q", s.dropped.Load(), r.errs.list())
	}
}

// TestReceiversAnswerPings sends a ping through a loop and expects the
// pong, masked as a client's frames are.
func TestReceiversAnswerPings(t *testing.T) {
	nc, peer := loopbackPair(t)
	onLoop(t, newConn(nc))
	if _, err := peer.Write(serverFrame(ws.OpPing, true, []byte("are you there"))); err != nil {
		t.Fatal(err)
	}
	if err := peer.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	h, err := ws.ReadHeader(peer)
	if err != nil {
		t.Fatal(err)
	}
	if h.Length > 125 {
		t.Fatalf("a control frame of %d bytes", h.Length)
	}
	payload := make([]byte, h.Length)
	if _, err := io.ReadFull(peer, payload); err != nil {
		t.Fatal(err)
	}
	if !h.Masked {
		t.Error("the pong is not masked")
	}
	ws.Cipher(payload, h.Mask, 0)
	if h.OpCode != ws.OpPong || string(payload) != "are you there" {
		t.Fatalf("got %v %q, want a pong with the ping's payload", h.OpCode, payload)
	}
}

// TestReceiversTakeBytesReadAhead hands a loop a connection whose
// handshake read two messages ahead, one of them already in br: both come
// before what the socket still holds.
func TestReceiversTakeBytesReadAhead(t *testing.T) {
	nc, peer := loopbackPair(t)
	frame := func(seq uint64) []byte { return serverFrame(ws.OpText, true, appendMessage(nil, 0, seq, 0, 50)) }
	pre := &prefixReader{early: append(frame(0), frame(1)...), r: nc}
	c := &conn{nc: nc, pre: pre, br: bufio.NewReaderSize(pre, len(frame(0)))}
	if _, err := c.br.Peek(len(frame(0))); err != nil { // br takes the first message only
		t.Fatal(err)
	}
	if _, err := peer.Write(frame(2)); err != nil {
		t.Fatal(err)
	}
	_, s, stop := onLoop(t, c)
	eventually(func() bool { return s.received.Load() >= 3 })
	stop()
	if got := s.received.Load(); got != 3 || s.lost != 0 || s.reordered != 0 {
		t.Fatalf("received %d of 3, lost %d, reordered %d", got, s.lost, s.reordered)
	}
}
