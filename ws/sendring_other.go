//go:build !linux

package ws

import (
	"fmt"

	"github.com/switchboard-rt/switchboard/internal/uring"
)

// ringWriter batches raw-mode writes with io_uring, which exists on Linux
// only; raw mode needs epoll, so nothing here is ever used.
type ringWriter struct{}

func newRingWriter(*Server, uint32, <-chan *Conn) (*ringWriter, error) {
	return nil, fmt.Errorf("ws: io_uring unavailable, writing with system calls: %w", uring.ErrUnsupported)
}
func probeRing(uint32) error                    { return uring.ErrUnsupported }
func (*ringWriter) close()                      {}
func (w *ringWriter) serve(c *Conn) *ringWriter { c.writeLoop(); return w }
