//go:build linux

package ws

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// poller watches raw-mode sockets with an epoll instance, so that a
// connection waiting for input, or for room to write, costs no goroutine. An
// Engine has two, for all its Servers: one for input, one for output space. Registrations are
// one-shot: an event starts one task, and the task re-arms the registration
// when it is done, so two tasks of one connection never overlap.
type poller struct {
	eng    *Engine
	events uint32
	ready  func(c *Conn) // runs on the poller's goroutine; must not block
	epfd   int
	wakefd int
	closed atomic.Bool
	done   chan struct{}

	mu    sync.RWMutex
	conns map[int32]*Conn
}

const (
	readEvents  = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT
	writeEvents = unix.EPOLLOUT | unix.EPOLLONESHOT
)

// newPollers returns the read and write pollers. An event hands the
// connection to its own Server: a read task, or a writer.
func newPollers(e *Engine) (read, write *poller, err error) {
	read, err = newPoller(e, readEvents, func(c *Conn) { c.srv.goTask(c.readRawPass) })
	if err != nil {
		return nil, nil, err
	}
	write, err = newPoller(e, writeEvents, func(c *Conn) { c.srv.scheduleWrite(c) })
	if err != nil {
		read.close()
		return nil, nil, err
	}
	return read, write, nil
}

func newPoller(e *Engine, events uint32, ready func(*Conn)) (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, fmt.Errorf("epoll_ctl add eventfd: %w", err)
	}
	p := &poller{eng: e, events: events, ready: ready, epfd: epfd, wakefd: wakefd,
		done: make(chan struct{}), conns: make(map[int32]*Conn)}
	go p.run()
	return p, nil
}

// errPollerClosed refuses registrations after Shutdown closed the poller.
var errPollerClosed = errors.New("ws: poller closed")

// add starts watching c. c.mu must be held.
func (p *poller) add(c *Conn) error {
	if p.closed.Load() {
		return errPollerClosed
	}
	p.mu.Lock()
	p.conns[c.fd] = c
	p.mu.Unlock()
	ev := unix.EpollEvent{Events: p.events, Fd: c.fd, Pad: int32(c.pollID.Load())}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(c.fd), &ev); err != nil {
		p.mu.Lock()
		delete(p.conns, c.fd)
		p.mu.Unlock()
		return fmt.Errorf("ws: epoll_ctl add: %w", err)
	}
	return nil
}

// rearm asks for the next event on c. c.mu must be held and c open.
func (p *poller) rearm(c *Conn) error {
	if p.closed.Load() {
		return errPollerClosed
	}
	ev := unix.EpollEvent{Events: p.events, Fd: c.fd, Pad: int32(c.pollID.Load())}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, int(c.fd), &ev); err != nil {
		return fmt.Errorf("ws: epoll_ctl mod: %w", err)
	}
	return nil
}

// arm registers c with the write poller on first use and re-arms it after.
// c.mu must be held and c open.
func (p *poller) arm(c *Conn) error {
	if c.wpolled {
		return p.rearm(c)
	}
	c.wpolled = true
	return p.add(c)
}

// remove stops watching c, before its descriptor is closed. c.mu must be
// held.
func (p *poller) remove(c *Conn) {
	p.mu.Lock()
	if p.conns[c.fd] == c {
		delete(p.conns, c.fd)
	}
	p.mu.Unlock()
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(c.fd), nil)
}

func (p *poller) run() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			p.eng.reportError(fmt.Errorf("ws: epoll_wait: %w", err))
			return
		}
		for _, ev := range events[:n] {
			if int(ev.Fd) == p.wakefd {
				if p.closed.Load() {
					return
				}
				continue
			}
			p.mu.RLock()
			c := p.conns[ev.Fd]
			p.mu.RUnlock()
			if c != nil && uint32(ev.Pad) == c.pollID.Load() {
				p.ready(c)
			}
		}
	}
}

// close stops the poller's goroutine and releases its descriptors.
func (p *poller) close() {
	if p == nil || p.closed.Swap(true) {
		return
	}
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	_, _ = unix.Write(p.wakefd, one)
	<-p.done
	unix.Close(p.epfd)
	unix.Close(p.wakefd)
}
