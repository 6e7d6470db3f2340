//go:build linux

package loadgen

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/switchboard-rt/switchboard/internal/sockfd"
)

// The receivers: a few event loops, one per core, read every subscriber's
// socket, instead of a goroutine each. With a goroutine per connection a
// delivery cost the generator two reads (the second to find the socket
// empty) and a park and wake-up in the Go scheduler: about 4 us of CPU here,
// on the same two cores as the server, and the generator's share of every
// fan-out's tail. Sockets are watched edge-triggered, and a loop reads a
// socket that became readable until a read comes back short of its buffer:
// that read emptied the socket, so one read per message is the rule, and
// epoll need not poll the socket again to learn that it is empty. The loop
// reads into one buffer it shares with its other sockets and counts the
// messages in place.

const (
	rxEvents      = 256      // events taken per epoll_wait
	rxBufferSize  = 64 << 10 // a loop's read buffer
	rxKeepPending = 4 << 10  // the largest pending buffer a subscriber keeps between frames
)

// receivers owns the event loops of a run. A subscriber is found from an
// event by its index, which is the event's data.
type receivers struct {
	r       *runner
	slots   []atomic.Pointer[subscriber] // by subscriber index
	loops   []*rxLoop
	next    atomic.Uint32 // the loop of the next subscriber
	wg      sync.WaitGroup
	once    sync.Once
	closing atomic.Bool // set before close closes the loops' descriptors
}

// rxLoop is one event loop's epoll instance. The loop waits for it in the
// Go runtime's own poller (an epoll descriptor is readable while it has
// events), so that a loop with nothing to read parks like any goroutine:
// a loop blocked in epoll_wait would hold an OS thread, and on waking would
// queue for a processor behind the publishers.
type rxLoop struct {
	epfd int
	file *os.File // epfd, non-blocking, registered with the runtime poller
	rc   syscall.RawConn
}

// newReceivers starts one loop per core for a run of n subscribers.
func newReceivers(r *runner, n int) (*receivers, error) {
	rx := &receivers{r: r, slots: make([]atomic.Pointer[subscriber], n)}
	for range runtime.GOMAXPROCS(0) {
		l, err := newRxLoop()
		if err != nil {
			rx.close()
			return nil, err
		}
		rx.loops = append(rx.loops, l)
		rx.wg.Go(func() { rx.run(l) })
	}
	return rx, nil
}

func newRxLoop() (*rxLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("epoll descriptor: %w", err)
	}
	f := os.NewFile(uintptr(epfd), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("epoll descriptor: %w", err)
	}
	return &rxLoop{epfd: epfd, file: f, rc: rc}, nil
}

// add hands s's connection to a loop: its socket leaves the Go runtime, and
// what was read ahead of the handover is counted first.
func (rx *receivers) add(s *subscriber) error {
	c := s.c
	if c.skip > 0 {
		_, _ = c.br.Discard(c.skip)
		c.skip = 0
	}
	early, _ := c.br.Peek(c.br.Buffered())
	c.pending = append([]byte(nil), early...)
	if c.pre != nil {
		// What the handshake read ahead and br has not taken yet comes
		// after what br holds.
		c.pending = append(c.pending, c.pre.early...)
	}
	fd, err := sockfd.Detach(c.nc)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	c.fd, c.detached, c.nc, c.br, c.pre = fd, true, nil, nil, nil
	c.wmu.Unlock()
	if len(c.pending) > 0 {
		used, err := s.consume(rx.r, c.pending)
		if err != nil {
			return err
		}
		c.pending = c.pending[used:]
	}
	// The store publishes everything above to the loop that loads s.
	rx.slots[s.index].Store(s)
	l := rx.loops[int(rx.next.Add(1))%len(rx.loops)]
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(s.index)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl add: %w", err)
	}
	return nil
}

// run waits for readable sockets and reads them until the loop is closed.
func (rx *receivers) run(l *rxLoop) {
	events := make([]unix.EpollEvent, rxEvents)
	buf := make([]byte, rxBufferSize)
	for {
		var n int
		var werr error
		err := l.rc.Read(func(fd uintptr) bool {
			n, werr = unix.EpollWait(int(fd), events, 0)
			return n > 0 || werr != nil && werr != unix.EINTR
		})
		if err != nil {
			if !rx.closing.Load() {
				rx.r.errs.add(fmt.Errorf("receiver: %w", err))
			}
			return
		}
		if werr != nil {
			rx.r.errs.add(fmt.Errorf("epoll_wait: %w", werr))
			return
		}
		for _, ev := range events[:n] {
			s := rx.slots[ev.Fd].Load()
			hangup := ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0
			if err := rx.readable(s, buf, hangup); err != nil {
				// Control keeps the epoll descriptor open while it runs,
				// should close have been called meanwhile.
				_ = l.rc.Control(func(fd uintptr) { _ = unix.EpollCtl(int(fd), unix.EPOLL_CTL_DEL, s.c.fd, nil) })
				s.ended(rx.r, err)
			}
		}
	}
}

// readResult says what one read found.
type readResult int

const (
	readFull  readResult = iota // the read filled its buffer: there may be more
	readShort                   // the read emptied the socket
	readNone                    // nothing to read (EAGAIN)
)

// readable reads s's socket until it is empty and counts the complete
// frames read. It returns an error when the connection is over. After a
// hangup event it reads on to the end of the stream: an edge for data and
// the peer's close may come as one event, and no other would follow.
func (rx *receivers) readable(s *subscriber, buf []byte, hangup bool) error {
	for {
		res, err := rx.readOnce(s, buf)
		switch {
		case err != nil:
			return err
		case res == readNone, res == readShort && !hangup:
			return nil
		}
	}
}

// readOnce reads s's socket once and counts the complete frames read; the
// start of a frame cut off at the end waits in s.c.pending.
func (rx *receivers) readOnce(s *subscriber, buf []byte) (readResult, error) {
	c := s.c
	data, off := buf, 0
	if len(c.pending) <= len(buf)/2 {
		off = copy(buf, c.pending)
	} else {
		// A frame longer than half the buffer: gather it in pending.
		off = len(c.pending)
		c.pending = slices.Grow(c.pending, rxBufferSize)
		data = c.pending[:cap(c.pending)]
	}
	n, err := recv(c.fd, data[off:])
	switch {
	case err == unix.EINTR:
		return readFull, nil // try again
	case err == unix.EAGAIN:
		return readNone, nil
	case err != nil:
		return readNone, err
	case n == 0:
		return readNone, io.EOF
	}
	used, err := s.consume(rx.r, data[:off+n])
	rest := data[used : off+n]
	switch {
	case len(rest) == 0 && cap(c.pending) > rxKeepPending:
		c.pending = nil // keep no large buffer for an idle subscriber
	case len(rest) == 0:
		c.pending = c.pending[:0]
	case &data[0] == &buf[0]:
		c.pending = append(c.pending[:0], rest...)
	default:
		c.pending = c.pending[:copy(c.pending[:cap(c.pending)], rest)]
	}
	if off+n < len(data) {
		return readShort, err
	}
	return readFull, err
}

// recv reads from the socket fd with recv(2), which skips the file
// layer's work per call that read(2) does (a tenth of the loop's time).
func recv(fd int, b []byte) (int, error) {
	n, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// close stops the loops and waits for them. The sockets stay open: closing
// them is the connections' close. It may be called more than once.
func (rx *receivers) close() {
	rx.once.Do(func() {
		rx.closing.Store(true)
		for _, l := range rx.loops {
			l.file.Close() // wakes the loop, which then returns
		}
		rx.wg.Wait()
	})
}

// rawWriteTimeout bounds how long writeRaw waits for room in a full socket
// buffer: the generator writes only small control frames (pongs, a close),
// and a server that stops reading for this long stalls the calling loop
// (and every subscriber on it) at most this long before the connection is
// given up.
const rawWriteTimeout = 5 * time.Second

// errWriteTimeout is writeRaw's error for a socket that stayed full.
var errWriteTimeout = errors.New("write: socket buffer full for " + rawWriteTimeout.String())

// writeRaw writes b to the non-blocking socket fd, waiting for room when it
// is full.
func writeRaw(fd int, b []byte) error {
	deadline := time.Now().Add(rawWriteTimeout)
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if n > 0 {
			b = b[n:]
		}
		switch {
		case err == nil || err == unix.EINTR:
		case err == unix.EAGAIN:
			wait := time.Until(deadline)
			if wait <= 0 {
				return errWriteTimeout
			}
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
			if _, err := unix.Poll(pfd, int(wait.Milliseconds())+1); err != nil && err != unix.EINTR {
				return fmt.Errorf("poll: %w", err)
			}
		default:
			return err
		}
	}
	return nil
}

// closeRaw closes the socket fd with a reset, as conn.close does.
func closeRaw(fd int) {
	_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	_ = unix.Close(fd)
}
