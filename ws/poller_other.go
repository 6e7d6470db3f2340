//go:build !linux

package ws

import "errors"

// poller is absent on systems without epoll: every connection is then a
// stream-mode connection with a reader goroutine of its own.
type poller struct{}

func newPollers(*Engine) (*poller, *poller, error) {
	return nil, nil, errors.New("no epoll on this system")
}

func (p *poller) add(*Conn) error   { return errors.New("no poller") }
func (p *poller) rearm(*Conn) error { return errors.New("no poller") }
func (p *poller) arm(*Conn) error   { return errors.New("no poller") }
func (p *poller) remove(*Conn)      {}
func (p *poller) close()            {}
