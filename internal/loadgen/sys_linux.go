//go:build linux

package loadgen

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// bindNoPort lets several connections share a source address and port
// towards different destinations by choosing the port at connect time
// rather than at bind time (IP_BIND_ADDRESS_NO_PORT), so one 127.0.0.x has
// the whole ephemeral range for each server port.
func bindNoPort(network, address string, c syscall.RawConn) error {
	if network != "tcp4" {
		return nil
	}
	return c.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
}
