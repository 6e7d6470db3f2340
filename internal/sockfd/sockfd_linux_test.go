//go:build linux

package sockfd

import (
	"io"
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDetach checks that the socket outlives its net.Conn in the returned
// descriptor, non-blocking, and that non-TCP connections are refused.
func TestDetach(t *testing.T) {
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
	peer := <-accepted
	defer peer.Close()
	fd, err := Detach(nc)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if _, err := nc.Write([]byte("x")); err == nil {
		t.Error("the net.Conn still writes after Detach")
	}
	if _, err := unix.Write(fd, []byte("hello")); err != nil {
		t.Fatalf("write on the detached descriptor: %v", err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("peer read %q, %v", buf, err)
	}
	// Nothing to read: a non-blocking descriptor says so at once.
	if _, err := unix.Read(fd, buf); err != unix.EAGAIN {
		t.Errorf("read with nothing to read: %v, want EAGAIN", err)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := Detach(a); err == nil {
		t.Error("Detach took a net.Pipe")
	}
}
