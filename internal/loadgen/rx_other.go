//go:build !linux

package loadgen

import "errors"

// receivers gives each subscriber a goroutine of its own where there is no
// epoll (see rx_linux.go for the event loops used on Linux).
type receivers struct{ r *runner }

func newReceivers(r *runner, _ int) (*receivers, error) { return &receivers{r: r}, nil }

// add starts s's reader.
func (rx *receivers) add(s *subscriber) error {
	rx.r.wg.Add(1)
	go s.run(rx.r)
	return nil
}

// close does nothing: closing the connections ends their readers.
func (rx *receivers) close() {}

// Connections are never detached here, so the raw socket calls are not
// reached.
func writeRaw(int, []byte) error { return errors.ErrUnsupported }
func closeRaw(int)               {}

// run reads messages until the connection ends, on a goroutine of its
// own: the receiver where there is no event loop.
func (s *subscriber) run(r *runner) {
	defer r.wg.Done()
	for {
		_, p, err := s.c.readMessage()
		if err != nil {
			s.ended(r, err)
			return
		}
		s.handle(r, p)
	}
}
