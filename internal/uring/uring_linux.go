//go:build linux

package uring

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel ABI (include/uapi/linux/io_uring.h).
const (
	opSendmsg = 9  // IORING_OP_SENDMSG, Linux 5.3
	opSend    = 26 // IORING_OP_SEND, Linux 5.6

	setupSubmitAll   = 1 << 7 // IORING_SETUP_SUBMIT_ALL: a failed request does not stop the batch (5.18)
	setupCoopTaskrun = 1 << 8 // IORING_SETUP_COOP_TASKRUN: no interrupt to run completion work (5.19)

	featSingleMmap = 1 << 0 // IORING_FEAT_SINGLE_MMAP: one mapping for both rings (5.4)
	featFastPoll   = 1 << 5 // IORING_FEAT_FAST_POLL (5.7): marks a kernel with IORING_OP_SEND and no dropped completions

	enterGetEvents = 1 << 0 // IORING_ENTER_GETEVENTS

	offSQRing = 0          // IORING_OFF_SQ_RING
	offCQRing = 0x8000000  // IORING_OFF_CQ_RING
	offSQEs   = 0x10000000 // IORING_OFF_SQES
)

// params is struct io_uring_params.
type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqringOffsets
	cqOff                                                                  cqringOffsets
}

type sqringOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqringOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

// sqe is struct io_uring_sqe (64 bytes).
type sqe struct {
	opcode   uint8
	flags    uint8
	ioprio   uint16
	fd       int32
	off      uint64
	addr     uint64
	len      uint32
	msgFlags uint32
	userData uint64
	bufIndex uint16
	person   uint16
	fileIdx  uint32
	addr3    uint64
	pad      uint64
}

// cqe is struct io_uring_cqe (16 bytes, without IORING_SETUP_CQE32).
type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

// Ring is an io_uring instance with its three mappings. One goroutine
// owns it; see the package comment for the ordering rules it follows.
type Ring struct {
	fd      int
	entries uint32

	ringMem []byte // the SQ ring, and the CQ ring when the kernel maps them together
	cqMem   []byte // the CQ ring when mapped apart; nil otherwise
	sqeMem  []byte

	sqHead, sqTail *uint32 // shared with the kernel: atomic access only
	sqMask         uint32
	sqArray        []uint32
	sqes           []sqe
	cqHead, cqTail *uint32 // shared with the kernel: atomic access only
	cqMask         uint32
	cqes           []cqe

	tail      uint32 // SQEs prepared: the next SQ tail
	published uint32 // the SQ tail the kernel has been given

	// Memory the kernel reads for sendmsg: a msghdr per SQE slot and a
	// pool of iovecs handed out in order, in an anonymous mapping outside
	// the Go heap. The pool is reused once no request is in flight.
	argMem   []byte
	msgs     []msghdr
	iovs     []iovec
	iovsUsed int

	pinner     runtime.Pinner // the buffers of the requests in flight
	lastPinned *byte          // the array pinned last: a fan-out sends one frame to many sockets
	inFlight   int            // prepared and not yet reaped
}

// msghdr is struct msghdr, and iovec struct iovec, with addresses as
// integers: they live outside the Go heap, where the collector neither
// scans nor needs write barriers, and the buffers they point to are pinned.
type msghdr struct {
	name       uintptr
	namelen    uint32
	_          uint32
	iov        uintptr
	iovlen     uint64
	control    uintptr
	controllen uint64
	flags      int32
	_          int32
}

type iovec struct {
	base uintptr
	len  uint64
}

// New sets up a ring with room for entries requests in flight (a power of
// two, at most 32768) and iovecs buffers in all for the sendmsg requests in
// flight; the completion queue is twice entries. It fails with
// the system call's error where io_uring is missing (ENOSYS), refused by a
// seccomp filter (EPERM or ENOSYS) or disabled by the kernel.io_uring_disabled
// sysctl (EPERM), with ENOSYS as well on a kernel before 5.7, and with
// EINVAL for an entries count the kernel refuses.
func New(entries, iovecs uint32) (*Ring, error) {
	var p params
	p.flags = setupSubmitAll | setupCoopTaskrun
	fd, err := setup(entries, &p)
	if errors.Is(err, unix.EINVAL) && entries > 0 {
		// A kernel before 5.19 knows neither flag; both only save work.
		p = params{}
		fd, err = setup(entries, &p)
	}
	if err != nil {
		return nil, fmt.Errorf("uring: io_uring_setup(%d): %w", entries, err)
	}
	if p.features&featFastPoll == 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("uring: kernel too old for IORING_OP_SEND (want Linux 5.7 or later): %w", unix.ENOSYS)
	}
	r := &Ring{fd: fd, entries: p.sqEntries}
	if err := r.mapRings(&p); err != nil {
		r.Close()
		return nil, err
	}
	if err := r.mapArgs(iovecs); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// mapArgs maps the msghdrs and the iovec pool.
func (r *Ring) mapArgs(iovecs uint32) error {
	msgSize := int(r.entries) * int(unsafe.Sizeof(msghdr{}))
	size := msgSize + int(max(iovecs, 1))*int(unsafe.Sizeof(iovec{}))
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return fmt.Errorf("uring: mmap %d bytes for sendmsg arguments: %w", size, err)
	}
	r.argMem = mem
	r.msgs = unsafe.Slice((*msghdr)(unsafe.Pointer(&mem[0])), r.entries)
	r.iovs = unsafe.Slice((*iovec)(unsafe.Pointer(&mem[msgSize])), iovecs)
	return nil
}

func setup(entries uint32, p *params) (int, error) {
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(p)), 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// mapRings maps the rings and the SQE array and points the Ring's fields
// into them.
func (r *Ring) mapRings(p *params) error {
	sqSize := int(p.sqOff.array + p.sqEntries*4)
	cqSize := int(p.cqOff.cqes + p.cqEntries*uint32(unsafe.Sizeof(cqe{})))
	single := p.features&featSingleMmap != 0
	if single {
		sqSize = max(sqSize, cqSize)
	}
	var err error
	if r.ringMem, err = mmap(r.fd, offSQRing, sqSize); err != nil {
		return err
	}
	cq := r.ringMem
	if !single {
		if r.cqMem, err = mmap(r.fd, offCQRing, cqSize); err != nil {
			return err
		}
		cq = r.cqMem
	}
	if r.sqeMem, err = mmap(r.fd, offSQEs, int(p.sqEntries)*int(unsafe.Sizeof(sqe{}))); err != nil {
		return err
	}

	sq := r.ringMem
	r.sqHead = (*uint32)(unsafe.Pointer(&sq[p.sqOff.head]))
	r.sqTail = (*uint32)(unsafe.Pointer(&sq[p.sqOff.tail]))
	r.sqMask = *(*uint32)(unsafe.Pointer(&sq[p.sqOff.ringMask]))
	r.sqArray = unsafe.Slice((*uint32)(unsafe.Pointer(&sq[p.sqOff.array])), p.sqEntries)
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	r.cqHead = (*uint32)(unsafe.Pointer(&cq[p.cqOff.head]))
	r.cqTail = (*uint32)(unsafe.Pointer(&cq[p.cqOff.tail]))
	r.cqMask = *(*uint32)(unsafe.Pointer(&cq[p.cqOff.ringMask]))
	r.cqes = unsafe.Slice((*cqe)(unsafe.Pointer(&cq[p.cqOff.cqes])), p.cqEntries)
	r.tail = atomic.LoadUint32(r.sqTail)
	r.published = r.tail
	return nil
}

func mmap(fd int, offset int64, size int) ([]byte, error) {
	b, err := unix.Mmap(fd, offset, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("uring: mmap ring at %#x: %w", offset, err)
	}
	return b, nil
}

// Close releases the ring: requests still in flight are cancelled by the
// kernel when its descriptor closes, and then their buffers are unpinned.
func (r *Ring) Close() error {
	var err error
	if r.fd >= 0 {
		if e := unix.Close(r.fd); e != nil {
			err = fmt.Errorf("uring: close: %w", e)
		}
		r.fd = -1
	}
	for _, m := range [][]byte{r.sqeMem, r.cqMem, r.ringMem, r.argMem} {
		if m != nil {
			_ = unix.Munmap(m)
		}
	}
	r.sqeMem, r.cqMem, r.ringMem, r.argMem = nil, nil, nil, nil
	r.msgs, r.iovs, r.sqes, r.cqes, r.sqArray = nil, nil, nil, nil, nil
	r.pinner.Unpin()
	r.lastPinned = nil
	return err
}

// Entries returns how many requests the submission queue holds.
func (r *Ring) Entries() int { return int(r.entries) }

// full reports whether every SQE slot is taken. The kernel is done with a
// slot once its request is consumed (the SQ head passed it), but the slot's
// msghdr may be read until the request completes, so a slot counts as taken
// until its completion is reaped.
func (r *Ring) full() bool {
	head := atomic.LoadUint32(r.sqHead) // acquire: the kernel is done with slots before head
	return r.tail-head >= r.entries || r.inFlight >= int(r.entries)
}

// next returns the next SQE, zeroed, and its slot. r must not be full.
func (r *Ring) next() (*sqe, uint32) {
	i := r.tail & r.sqMask
	s := &r.sqes[i]
	*s = sqe{}
	r.sqArray[i] = i
	r.tail++
	r.inFlight++
	return s, i
}

// pin pins b's array until no request is in flight, and returns its
// address.
func (r *Ring) pin(b []byte) uintptr {
	p := unsafe.SliceData(b)
	if p != r.lastPinned { // pinning an object twice only costs a counter
		r.pinner.Pin(p)
		r.lastPinned = p
	}
	return uintptr(unsafe.Pointer(p))
}

// PrepSend prepares send(fd, b, flags), tagged userData. b, which must not
// be empty, is pinned until the completion is reaped, and must not be
// changed before. It returns false when the submission queue is full.
func (r *Ring) PrepSend(fd int, b []byte, flags uint32, userData uint64) bool {
	if r.full() || len(b) == 0 {
		return false
	}
	s, _ := r.next()
	s.opcode, s.fd = opSend, int32(fd)
	s.addr, s.len = uint64(r.pin(b)), uint32(len(b))
	s.msgFlags, s.userData = flags, userData
	return true
}

// PrepSendmsg prepares sendmsg(fd, msg, flags) of as many of bufs as the
// iovec pool has room for, tagged userData, and returns how many it took:
// 0 when the submission queue or the pool is full. The buffers taken are
// pinned until the completion is reaped and must not be changed before;
// empty ones are not allowed.
func (r *Ring) PrepSendmsg(fd int, bufs [][]byte, flags uint32, userData uint64) int {
	n := min(len(bufs), len(r.iovs)-r.iovsUsed)
	if r.full() || n == 0 {
		return 0
	}
	iovs := r.iovs[r.iovsUsed : r.iovsUsed+n]
	for i, b := range bufs[:n] {
		if len(b) == 0 {
			return 0
		}
		iovs[i] = iovec{base: r.pin(b), len: uint64(len(b))}
	}
	r.iovsUsed += n
	s, slot := r.next()
	m := &r.msgs[slot]
	*m = msghdr{iov: uintptr(unsafe.Pointer(&iovs[0])), iovlen: uint64(n)}
	s.opcode, s.fd = opSendmsg, int32(fd)
	s.addr, s.len = uint64(uintptr(unsafe.Pointer(m))), 1
	s.msgFlags, s.userData = flags, userData
	return n
}

// maxRetries bounds how often SubmitAndWait retries io_uring_enter after
// EAGAIN or EBUSY (the kernel short of memory for requests) without
// progress.
const maxRetries = 100

// SubmitAndWait submits every prepared request with as few io_uring_enter
// calls as the kernel allows (one, normally) and returns once at least
// wait completions are ready to be reaped, or with the error that stopped
// it; then requests may still be unsubmitted, and Close cancels them.
func (r *Ring) SubmitAndWait(wait int) error {
	atomic.StoreUint32(r.sqTail, r.tail) // release: the prepared SQEs are complete
	stuck := 0
	for {
		toSubmit := r.tail - r.published
		ready := atomic.LoadUint32(r.cqTail) - atomic.LoadUint32(r.cqHead)
		if toSubmit == 0 && int(ready) >= wait {
			return nil
		}
		var flags, minComplete uint32
		if int(ready) < wait {
			flags, minComplete = enterGetEvents, uint32(wait)
		}
		n, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(toSubmit), uintptr(minComplete), uintptr(flags), 0, 0)
		switch errno {
		case 0:
			r.published += uint32(n)
			stuck = 0
		case unix.EINTR:
		case unix.EAGAIN, unix.EBUSY:
			if stuck++; stuck > maxRetries {
				return fmt.Errorf("uring: io_uring_enter: %w", errno)
			}
		default:
			return fmt.Errorf("uring: io_uring_enter: %w", errno)
		}
	}
}

// Completions calls f with each completion ready, in order, hands their
// slots back to the kernel, and returns how many there were.
func (r *Ring) Completions(f func(Completion)) int {
	head := atomic.LoadUint32(r.cqHead)
	tail := atomic.LoadUint32(r.cqTail) // acquire: the CQEs before tail are written
	for i := head; i != tail; i++ {
		c := &r.cqes[i&r.cqMask]
		f(Completion{UserData: c.userData, Res: c.res})
	}
	atomic.StoreUint32(r.cqHead, tail) // release: the slots are read
	n := int(tail - head)
	if r.inFlight -= n; r.inFlight <= 0 {
		r.inFlight = 0
		r.iovsUsed = 0
		r.pinner.Unpin()
		r.lastPinned = nil
	}
	return n
}
