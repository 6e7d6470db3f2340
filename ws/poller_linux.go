//go:build linux

package ws

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// poller watches idle connections with one epoll instance, so that a
// connection with nothing to read costs no goroutine and no buffer. Each
// registration is one-shot: an event starts one read pass, and the pass
// re-arms the registration when it is done, so two passes never overlap.
type poller struct {
	srv    *Server
	epfd   int
	wakefd int
	nextID atomic.Uint32
	closed atomic.Bool
	done   chan struct{}

	mu    sync.RWMutex
	conns map[int32]*Conn
}

const pollEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

func newPoller(s *Server) (*poller, error) {
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
	p := &poller{srv: s, epfd: epfd, wakefd: wakefd, done: make(chan struct{}), conns: make(map[int32]*Conn)}
	go p.run()
	return p, nil
}

// add starts watching c. c.mu must be held.
func (p *poller) add(c *Conn) error {
	fd, err := socketFD(c.nc)
	if err != nil {
		return err
	}
	c.pollFD = int32(fd)
	c.pollID = p.nextID.Add(1)
	p.mu.Lock()
	p.conns[c.pollFD] = c
	p.mu.Unlock()
	ev := unix.EpollEvent{Events: pollEvents, Fd: c.pollFD, Pad: int32(c.pollID)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.mu.Lock()
		delete(p.conns, c.pollFD)
		p.mu.Unlock()
		return fmt.Errorf("ws: epoll_ctl add: %w", err)
	}
	return nil
}

// rearm asks for the next event on c. c.mu must be held and c open.
func (p *poller) rearm(c *Conn) error {
	ev := unix.EpollEvent{Events: pollEvents, Fd: c.pollFD, Pad: int32(c.pollID)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, int(c.pollFD), &ev); err != nil {
		return fmt.Errorf("ws: epoll_ctl mod: %w", err)
	}
	return nil
}

// remove stops watching c, before its socket is closed.
func (p *poller) remove(c *Conn) {
	if p == nil || c.pollID == 0 {
		return
	}
	p.mu.Lock()
	if p.conns[c.pollFD] == c {
		delete(p.conns, c.pollFD)
	}
	p.mu.Unlock()
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(c.pollFD), nil)
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
			p.srv.reportError(fmt.Errorf("ws: epoll_wait: %w", err))
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
			if c != nil && c.pollID == uint32(ev.Pad) {
				p.srv.goTask(c.readPooled)
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

func socketFD(nc net.Conn) (int, error) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return 0, fmt.Errorf("ws: %T cannot be polled", nc)
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("ws: syscall conn: %w", err)
	}
	var fd int
	if err := raw.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return 0, fmt.Errorf("ws: socket descriptor: %w", err)
	}
	return fd, nil
}
