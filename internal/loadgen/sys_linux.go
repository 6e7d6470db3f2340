//go:build linux

package loadgen

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// RaiseFileLimit raises the soft RLIMIT_NOFILE of this process to its hard
// limit and returns the limit now in force.
func RaiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return lim.Cur, err
		}
	}
	return lim.Cur, nil
}

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

// processCPU returns this process's user plus system CPU time in
// nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
