//go:build linux

package sockfd

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// Detach takes a TCP connection's socket out of the Go runtime: it
// duplicates the descriptor, which stays non-blocking and close-on-exec,
// and closes nc, which releases the runtime's poll descriptor and the
// net.Conn. The socket lives on in the returned descriptor, which the
// caller must close.
func Detach(nc net.Conn) (int, error) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return -1, fmt.Errorf("detach %T: not a TCP connection", nc)
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("detach: syscall conn: %w", err)
	}
	fd := -1
	var dupErr error
	if err := raw.Control(func(s uintptr) { fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, fmt.Errorf("detach: socket descriptor: %w", err)
	}
	if dupErr != nil {
		return -1, fmt.Errorf("detach: dup socket: %w", dupErr)
	}
	_ = nc.Close()
	return fd, nil
}
