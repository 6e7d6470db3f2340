//go:build linux

package ws

import (
	"fmt"
	"io"
	"net"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/switchboard-rt/switchboard/internal/sockfd"
)

var (
	errWouldBlock  = unix.EAGAIN
	errInterrupted = unix.EINTR
)

// maxIOV is the most buffers one writev takes (IOV_MAX on Linux).
const maxIOV = 1024

// detachFD takes a TCP connection's socket out of the Go runtime (see
// sockfd.Detach).
func detachFD(nc net.Conn) (int, error) {
	fd, err := sockfd.Detach(nc)
	if err != nil {
		return -1, fmt.Errorf("ws: %w", err)
	}
	return fd, nil
}

// readFD reads without blocking; errWouldBlock means nothing to read.
func readFD(fd int, p []byte) (int, error) {
	n, err := unix.Read(fd, p)
	if n < 0 {
		n = 0
	}
	return n, err
}

// writeFD writes bufs with writev until done or until the socket would
// block, and returns what is left and how many bytes went out.
func writeFD(fd int, bufs [][]byte) (rest [][]byte, written int, err error) {
	for len(bufs) > 0 {
		var n int
		var err error
		if len(bufs) == 1 {
			n, err = send(fd, bufs[0])
		} else {
			n, err = unix.Writev(fd, bufs[:min(len(bufs), maxIOV)])
		}
		if n > 0 {
			written += n
			bufs = advance(bufs, n)
		}
		switch {
		case err == nil:
		case err == unix.EAGAIN:
			return bufs, written, nil
		case err == unix.EINTR:
		default:
			return nil, written, err
		}
	}
	return nil, written, nil
}

// send writes b with send(2). On a socket it does what write(2) does
// without the file layer's work per call (writev's was about a sixth of the
// server's CPU under fan-out), and MSG_NOSIGNAL makes a vanished peer an
// EPIPE, not a signal.
func send(fd int, b []byte) (int, error) {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	n, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(p), uintptr(len(b)), unix.MSG_NOSIGNAL, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// advance drops the first n bytes of bufs. It re-slices bufs' elements but
// never writes to the bytes they share with other connections.
func advance(bufs [][]byte, n int) [][]byte {
	for n > 0 && len(bufs) > 0 {
		if n < len(bufs[0]) {
			bufs[0] = bufs[0][n:]
			return bufs
		}
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	return bufs
}

func shutdownFD(fd int) { _ = unix.Shutdown(fd, unix.SHUT_RDWR) }

func shutdownWriteFD(fd int) { _ = unix.Shutdown(fd, unix.SHUT_WR) }

// Lingering: a connection dropped right after our Close frame (a protocol
// error, a message over MaxPayload) may have a peer still sending, as a
// client writing a large message does. Closing the socket with its input
// unread makes the kernel answer with a reset, and a client that meets
// the reset while writing may never read our Close: it reports 1006, not
// our code. So the socket sends its FIN after the Close and is then read
// and discarded until the peer closes too, lingerTimeout passes,
// lingerMaxBytes were discarded, or the server shuts down.
const (
	lingerTimeout  = 2 * time.Second
	lingerMaxBytes = 16 << 20
)

// linger takes over the descriptor fd of a connection that has ended,
// drains it as described above, and closes it.
func (s *Server) linger(fd int) {
	f := os.NewFile(uintptr(fd), "ws-linger") // non-blocking: it uses the runtime poller
	if f == nil {
		closeFD(fd)
		return
	}
	s.goTask(func() {
		defer f.Close()
		if err := f.SetReadDeadline(time.Now().Add(lingerTimeout)); err != nil {
			return // not pollable: close at once
		}
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-s.stop:
				_ = f.SetReadDeadline(time.Unix(1, 0))
			case <-done:
			}
		}()
		_, _ = io.CopyN(io.Discard, f, lingerMaxBytes)
	})
}

func closeFD(fd int) { _ = unix.Close(fd) }

// peerAddr returns the remote address of a socket, or nil.
func peerAddr(fd int) net.Addr {
	sa, err := unix.Getpeername(fd)
	if err != nil {
		return nil
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]).To16(), Port: sa.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]), Port: sa.Port}
	}
	return nil
}
