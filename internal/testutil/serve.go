package testutil

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/server"
)

// ServeStopTimeout bounds how long the stop function of Serve waits for
// Serve to return.
const ServeStopTimeout = 20 * time.Second

// Serve runs srv.Serve on a new loopback listener until stop is called or
// the test ends. It returns the listener's host:port, and stop, which
// cancels Serve's context and returns what Serve returned (the same on
// every call); the test fails if Serve has not returned within
// ServeStopTimeout.
func Serve(t testing.TB, srv *server.Server) (addr string, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	stop = sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(ServeStopTimeout):
			t.Errorf("Serve did not return within %v of cancel", ServeStopTimeout)
			return nil
		}
	})
	t.Cleanup(func() { _ = stop() })
	return ln.Addr().String(), stop
}
