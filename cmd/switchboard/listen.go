package main

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/switchboard-rt/switchboard/config"
)

// listen binds cfg's address. serve calls it before it logs anything, so
// that a port already in use is the first thing said, with the way out.
func listen(cfg *config.Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", cfg.Addr())
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("port %d is already in use on %s (another switchboard still running?); "+
			"stop that process, or choose another port with --port or $%s", cfg.Port, cfg.Host, config.EnvPort)
	case errors.Is(err, syscall.EACCES):
		return nil, fmt.Errorf("not allowed to listen on port %d (ports below 1024 need privileges); "+
			"choose a port from 1024 with --port or $%s: %w", cfg.Port, config.EnvPort, err)
	case err != nil:
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr(), err)
	}
	return ln, nil
}
