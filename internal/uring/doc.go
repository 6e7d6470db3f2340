// Package uring is a minimal io_uring ring for batching socket sends: one
// io_uring_enter submits many send or sendmsg requests and waits for their
// completions. It does only what the ws package's writers need (no
// registered buffers or files, no SQPOLL) and exists on Linux only; New
// fails with ErrUnsupported elsewhere.
//
// # The ring and its memory ordering
//
// io_uring_setup returns a descriptor whose three regions are mapped with
// mmap: the submission queue ring (head, tail, mask, flags and the array
// of SQE indexes), the completion queue ring (head, tail, mask and the
// CQEs), and the array of submission queue entries. Each queue is a
// single-producer, single-consumer ring shared with the kernel:
//
//   - Submission: this side is the producer. It fills an SQE and its array
//     slot with plain stores, then publishes them by storing the new SQ
//     tail with a release store (atomic.StoreUint32), so the kernel, which
//     reads the tail with acquire semantics, sees the entries complete.
//     The kernel consumes entries by advancing the SQ head; this side reads
//     the head with an acquire load (atomic.LoadUint32) before reusing a
//     slot.
//   - Completion: the kernel is the producer. This side reads the CQ tail
//     with an acquire load, so the CQEs before it are fully written when
//     read, then hands the slots back by storing the new CQ head with a
//     release store, after it has read them.
//
// Go's sync/atomic operations are sequentially consistent, which is
// stronger than the acquire and release the protocol needs. The mapped
// memory is outside the Go heap: the race detector does not track it, and
// the garbage collector never scans or moves it.
//
// # Memory the kernel reads
//
// A prepared send holds raw addresses: the bytes to send, and for sendmsg a
// msghdr and its iovecs. The kernel reads them while the request runs,
// which may be after io_uring_enter returns (a request it had to defer), so
// they must stay where they are and stay alive until the request's
// completion is reaped. The Ring sees to it: msghdrs and iovecs live in an
// anonymous mapping outside the Go heap (one msghdr per SQE slot, a pool of
// iovecs reused once nothing is in flight), holding addresses as integers,
// so the collector neither scans them nor needs write barriers for them;
// the buffers are Go memory, pinned with a runtime.Pinner when prepared and
// unpinned once every request in flight is reaped. Pinning keeps an object
// from being freed or moved while only the kernel refers to it, as the cgo
// rules require for Go memory held outside Go. The caller must not change a
// buffer before its completion is reaped. A Ring is not safe for concurrent
// use: one goroutine owns it.
package uring
