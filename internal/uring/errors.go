package uring

import "errors"

// ErrUnsupported is returned by New where io_uring does not exist.
var ErrUnsupported = errors.New("uring: io_uring is not supported on this system")

// Completion is one reaped completion queue entry.
type Completion struct {
	UserData uint64 // the value given when the request was prepared
	Res      int32  // the system call's result: a count, or a negated errno
}
