//go:build linux

package loadgen

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// TestReceiversReadSplitFrames runs a subscriber on an event loop over a
// real loopback connection whose peer writes messages, some larger than
// the loop's buffer, in small pieces.
func TestReceiversReadSplitFrames(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sizes := []int{100, 40_000, 3 * rxBufferSize, 60, 70_000}
	var stream []byte
	for seq, size := range sizes {
		stream = append(stream, serverFrame(ws.OpText, true, appendMessage(nil, 0, uint64(seq), 0, size))...)
	}
	done := make(chan error, 1)
	go func() {
		peer, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer peer.Close()
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
		_, _ = io.Copy(io.Discard, peer) // until the subscriber closes
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{o: Options{Protocol: ProtocolTokens}, epoch: time.Now()}
	rx, err := newReceivers(r, 1)
	if err != nil {
		t.Fatal(err)
	}
	s := newSubscriber(&conn{nc: nc, br: bufio.NewReaderSize(nc, readBufferSize)}, 0, 0, 1)
	if err := rx.add(s); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.received.Load() < uint64(len(sizes)) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	rx.close()
	s.c.close()
	if got := s.received.Load(); got != uint64(len(sizes)) || s.lost != 0 || s.malformed != 0 || s.dropped.Load() {
		t.Fatalf("received %d of %d, lost %d, malformed %d, dropped %v", got, len(sizes), s.lost, s.malformed, s.dropped.Load())
	}
	if len(s.c.pending) != 0 {
		t.Errorf("%d bytes left pending", len(s.c.pending))
	}
}
