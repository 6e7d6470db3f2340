package ws

import "fmt"

// SendPath is how raw-mode connections' queued frames reach the kernel
// (Options.SendPath). Stream-mode connections (TLS, systems without epoll)
// always write through their net.Conn.
type SendPath uint8

const (
	// SendPathDefault is DefaultSendPath.
	SendPathDefault SendPath = iota
	// SendPathSyscall writes each connection's queue with one send(2) or
	// writev(2).
	SendPathSyscall
	// SendPathUring has each writer submit the writes of all the
	// connections it has ready with one io_uring_enter(2). Where io_uring
	// cannot be set up (an old kernel, the kernel.io_uring_disabled
	// sysctl, a seccomp profile that refuses it) the server reports why to
	// its OnError hook, once, and writes as SendPathSyscall does.
	SendPathUring
	// SendPathAuto is SendPathUring where io_uring can be set up and
	// SendPathSyscall elsewhere, without reporting anything.
	SendPathAuto
)

// DefaultSendPath is the path a zero Options.SendPath selects: today's
// system call per connection; io_uring batching is measured in
// BENCHMARKS.md and must be asked for.
const DefaultSendPath = SendPathSyscall

var sendPathNames = [...]string{
	SendPathDefault: "default",
	SendPathSyscall: "syscall",
	SendPathUring:   "uring",
	SendPathAuto:    "auto",
}

// String returns the name ParseSendPath reads.
func (p SendPath) String() string {
	if int(p) < len(sendPathNames) {
		return sendPathNames[p]
	}
	return fmt.Sprintf("SendPath(%d)", p)
}

// ParseSendPath reads "syscall", "uring" or "auto"; "" is SendPathDefault.
func ParseSendPath(s string) (SendPath, error) {
	if s == "" {
		return SendPathDefault, nil
	}
	for p, name := range sendPathNames {
		if name == s && SendPath(p) != SendPathDefault {
			return SendPath(p), nil
		}
	}
	return 0, fmt.Errorf("ws: send path %q: want syscall, uring or auto", s)
}

// ringEntries is how many connections one round of an io_uring writer
// writes, and the size of its submission queue.
const ringEntries = 64

// defaultSendPath is what SendPathDefault selects: DefaultSendPath, except
// in this package's tests, whose TestMain may set it before any test runs
// so that the whole suite runs on either path.
var defaultSendPath = DefaultSendPath

// ProbeSendPath returns the path p selects on this machine and, when p asks
// for io_uring and it cannot be set up, why not. A program can call it at
// start to report once which path its Servers will use.
func ProbeSendPath(p SendPath) (SendPath, error) {
	if p == SendPathDefault {
		p = defaultSendPath
	}
	if p == SendPathSyscall {
		return p, nil
	}
	if err := probeRing(ringEntries); err != nil {
		return SendPathSyscall, fmt.Errorf("ws: io_uring unavailable, writing with send(2): %w", err)
	}
	return SendPathUring, nil
}

// writerRing returns an io_uring for one writer of the ready list ready when
// Options.SendPath asks for one and it can be set up, or nil: the writer
// makes system calls. With SendPathUring the first failure is reported to
// OnError.
func (s *Server) writerRing(ready <-chan *Conn) *ringWriter {
	if s.opts.SendPath != SendPathUring && s.opts.SendPath != SendPathAuto {
		return nil
	}
	w, err := newRingWriter(s, s.ringEntries, ready)
	if err != nil {
		if s.opts.SendPath == SendPathUring {
			s.ringFailed.Do(func() { s.reportError(err) })
		}
		return nil
	}
	return w
}
