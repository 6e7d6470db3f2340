//go:build !linux

package uring

// Ring is an io_uring instance; on this system New always fails.
type Ring struct{}

// New fails: io_uring exists on Linux only.
func New(uint32, uint32) (*Ring, error) { return nil, ErrUnsupported }

// Close does nothing.
func (*Ring) Close() error { return nil }

// Entries returns 0.
func (*Ring) Entries() int { return 0 }

// PrepSend is never called on this system.
func (*Ring) PrepSend(int, []byte, uint32, uint64) bool { return false }

// PrepSendmsg is never called on this system.
func (*Ring) PrepSendmsg(int, [][]byte, uint32, uint64) int { return 0 }

// SubmitAndWait is never called on this system.
func (*Ring) SubmitAndWait(int) error { return ErrUnsupported }

// Completions is never called on this system.
func (*Ring) Completions(func(Completion)) int { return 0 }
