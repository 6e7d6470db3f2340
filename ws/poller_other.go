//go:build !linux

package ws

import "errors"

// poller is absent on systems without epoll: every connection then reads
// with a goroutine of its own.
type poller struct{}

func newPoller(*Server) (*poller, error) {
	return nil, errors.New("no epoll on this system")
}

func (p *poller) add(*Conn) error   { return errors.New("no poller") }
func (p *poller) rearm(*Conn) error { return errors.New("no poller") }
func (p *poller) remove(*Conn)      {}
func (p *poller) close()            {}
