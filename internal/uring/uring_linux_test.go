//go:build linux

package uring

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/switchboard-rt/switchboard/internal/sockfd"
)

// tcpPair returns a connected loopback pair: the sending side as a
// non-blocking descriptor out of the Go runtime, and the receiving side.
func tcpPair(t *testing.T) (fd int, peer net.Conn) {
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
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer = <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	fd, err = sockfd.Detach(nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd); peer.Close() })
	return fd, peer
}

func newRing(t *testing.T, entries uint32) *Ring {
	t.Helper()
	r, err := New(entries, 16)
	if err != nil {
		t.Fatalf("New(%d): %v", entries, err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})
	return r
}

// reap waits for n completions and returns them by user data.
func reap(t *testing.T, r *Ring, n int) map[uint64]int32 {
	t.Helper()
	if err := r.SubmitAndWait(n); err != nil {
		t.Fatal(err)
	}
	got := map[uint64]int32{}
	r.Completions(func(c Completion) { got[c.UserData] = c.Res })
	if len(got) != n {
		t.Fatalf("%d completions, want %d: %v", len(got), n, got)
	}
	return got
}

func TestSendAndSendmsgInOneSubmission(t *testing.T) {
	r := newRing(t, 8)
	const conns = 4
	peers := make([]net.Conn, conns)
	want := make([][]byte, conns)
	for i := range conns {
		var fd int
		fd, peers[i] = tcpPair(t)
		a, b := []byte("hello "), bytes.Repeat([]byte{byte('a' + i)}, 100*(i+1))
		want[i] = append(append([]byte(nil), a...), b...)
		if i%2 == 0 { // send: one buffer
			if !r.PrepSend(fd, want[i], unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, uint64(i)) {
				t.Fatal("submission queue full")
			}
			continue
		}
		if n := r.PrepSendmsg(fd, [][]byte{a, b}, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, uint64(i)); n != 2 {
			t.Fatalf("sendmsg took %d buffers of 2", n)
		}
	}
	runtime.GC() // nothing the kernel reads may move or go
	got := reap(t, r, conns)
	for i := range conns {
		if int(got[uint64(i)]) != len(want[i]) {
			t.Errorf("conn %d: result %d, want %d", i, got[uint64(i)], len(want[i]))
		}
		buf := make([]byte, len(want[i]))
		if _, err := io.ReadFull(peers[i], buf); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf, want[i]) {
			t.Errorf("conn %d: peer read %q, want %q", i, buf, want[i])
		}
	}
}

// The iovec pool bounds how many buffers the requests in flight carry; a
// request takes what is left, and the pool is whole again once they are
// reaped.
func TestSendmsgTakesWhatThePoolHolds(t *testing.T) {
	r := newRing(t, 4) // 16 iovecs
	fd, peer := tcpPair(t)
	bufs := make([][]byte, 10)
	for i := range bufs {
		bufs[i] = []byte{byte('0' + i)}
	}
	flags := uint32(unix.MSG_DONTWAIT | unix.MSG_NOSIGNAL)
	if n := r.PrepSendmsg(fd, bufs, flags, 1); n != 10 {
		t.Fatalf("first sendmsg took %d of 10", n)
	}
	if n := r.PrepSendmsg(fd, bufs, flags, 2); n != 6 {
		t.Fatalf("second sendmsg took %d, want the 6 left", n)
	}
	if n := r.PrepSendmsg(fd, bufs, flags, 3); n != 0 {
		t.Fatalf("third sendmsg took %d from an empty pool", n)
	}
	got := reap(t, r, 2)
	if got[1] != 10 || got[2] != 6 {
		t.Fatalf("results %v, want 10 and 6 bytes", got)
	}
	if n := r.PrepSendmsg(fd, bufs, flags, 4); n != 10 {
		t.Fatalf("after reaping, sendmsg took %d of 10", n)
	}
	reap(t, r, 1)
	buf := make([]byte, 26)
	if _, err := io.ReadFull(peer, buf); err != nil {
		t.Fatal(err)
	}
	if want := "0123456789012345" + "0123456789"; string(buf) != want {
		t.Fatalf("peer read %q, want %q", buf, want)
	}
}

// A send to a socket whose buffer is full completes with -EAGAIN when
// MSG_DONTWAIT is set, instead of waiting in the kernel: the caller can
// wait for writability itself, as a send(2) caller does.
func TestFullSocketCompletesWithEAGAIN(t *testing.T) {
	r := newRing(t, 4)
	fd, _ := tcpPair(t)
	chunk := make([]byte, 1<<20)
	var sent int64
	for i := range 1000 {
		if !r.PrepSend(fd, chunk, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, uint64(i)) {
			t.Fatal("submission queue full")
		}
		res := reap(t, r, 1)[uint64(i)]
		if res == -int32(unix.EAGAIN) {
			if sent == 0 {
				t.Fatal("EAGAIN before anything was sent")
			}
			return
		}
		if res < 0 {
			t.Fatalf("send: %v", unix.Errno(-res))
		}
		sent += int64(res)
	}
	t.Fatalf("sent %d bytes to a peer that reads nothing and never met EAGAIN", sent)
}

// A send to a socket the peer reset completes with the error send(2)
// returns, and MSG_NOSIGNAL keeps it from raising SIGPIPE.
func TestSendToResetPeerFails(t *testing.T) {
	r := newRing(t, 4)
	fd, peer := tcpPair(t)
	if err := peer.(*net.TCPConn).SetLinger(0); err != nil { // close with a reset
		t.Fatal(err)
	}
	peer.Close()
	b := []byte("x")
	// The reset may arrive after the first send: send until one fails.
	for i := range 100 {
		r.PrepSend(fd, b, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, 7)
		res := reap(t, r, 1)[7]
		if res < 0 {
			if e := unix.Errno(-res); e != unix.EPIPE && e != unix.ECONNRESET {
				t.Fatalf("send %d: %v, want EPIPE or ECONNRESET", i, e)
			}
			return
		}
		waitForReset(t, fd)
	}
	t.Fatal("no send failed on a reset connection")
}

// waitForReset waits until the socket has seen the peer's reset (or any
// error or hang-up).
func waitForReset(t *testing.T, fd int) {
	t.Helper()
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLERR | unix.POLLHUP | unix.POLLRDHUP}}
	if _, err := unix.Poll(pfd, 5000); err != nil && !errors.Is(err, unix.EINTR) {
		t.Fatal(err)
	}
}

func TestSubmissionQueueFull(t *testing.T) {
	r := newRing(t, 2)
	fd, peer := tcpPair(t)
	b := []byte("ab")
	n := 0
	for r.PrepSend(fd, b, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, uint64(n)) {
		n++
	}
	if n != r.Entries() {
		t.Fatalf("prepared %d requests in a ring of %d", n, r.Entries())
	}
	got := reap(t, r, n)
	for i := range n {
		if got[uint64(i)] != 2 {
			t.Errorf("request %d: %d", i, got[uint64(i)])
		}
	}
	buf := make([]byte, 2*n)
	if _, err := io.ReadFull(peer, buf); err != nil {
		t.Fatal(err)
	}
	// Reaped slots are free again.
	if !r.PrepSend(fd, b, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, 99) {
		t.Fatal("no free slot after reaping")
	}
	reap(t, r, 1)
}

// An entries count the kernel refuses is a real setup failure: the one a
// caller falls back from.
func TestNewRefusesBadEntries(t *testing.T) {
	for _, entries := range []uint32{0, 1 << 20} {
		if r, err := New(entries, 16); err == nil {
			r.Close()
			t.Errorf("New(%d) succeeded", entries)
		} else if !errors.Is(err, unix.EINVAL) {
			t.Errorf("New(%d): %v, want EINVAL", entries, err)
		}
	}
}
