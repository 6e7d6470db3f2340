//go:build !linux

package ws

import (
	"errors"
	"net"
)

// Raw mode needs epoll; without it every connection is in stream mode and
// none of these is called.

var (
	errWouldBlock  = errors.New("would block")
	errInterrupted = errors.New("interrupted")
	errNoRawMode   = errors.New("ws: raw sockets need epoll")
)

func detachFD(net.Conn) (int, error)               { return -1, errNoRawMode }
func readFD(int, []byte) (int, error)              { return 0, errNoRawMode }
func writeFD(int, [][]byte) ([][]byte, int, error) { return nil, 0, errNoRawMode }
func shutdownFD(int)                               {}
func shutdownWriteFD(int)                          {}
func (s *Server) linger(int)                       {}
func closeFD(int)                                  {}
func peerAddr(int) net.Addr                        { return nil }
