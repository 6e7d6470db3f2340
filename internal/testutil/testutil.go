// Package testutil holds small helpers shared by the tests of several
// packages: a log buffer safe for concurrent use, a polling wait, a bounded
// shutdown for test cleanups, and a SharedStore that can be made to fail as
// Redis does while it is down.
package testutil

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/bus"
)

// LogBuffer collects output (typically a logger's) written by several
// goroutines while a test reads it. The zero value is ready to use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// WaitFor polls cond every few milliseconds until it holds, and fails the
// test if it does not within timeout; what names the condition in the
// failure message.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// ShutdownTimeout bounds Shutdown.
const ShutdownTimeout = 5 * time.Second

// Shutdown calls shutdown (a Dialect's or a server's Shutdown) with a
// deadline of ShutdownTimeout, and reports an error it returns as a test
// error. It is meant for t.Cleanup.
func Shutdown(t testing.TB, shutdown func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// FlakyShared is a bus.SharedStore over a bus.MemoryShared that fails, as
// a Redis store does while Redis is down, while Down is set. It counts the
// calls to Get. Make one with NewFlakyShared.
type FlakyShared struct {
	// Down makes every call fail with an error that wraps
	// bus.ErrSharedUnavailable.
	Down atomic.Bool
	// Gets counts the calls to Get, failed ones included.
	Gets atomic.Int64

	mu  sync.Mutex
	mem *bus.MemoryShared
}

var _ bus.SharedStore = (*FlakyShared)(nil)

// NewFlakyShared returns an empty store that is up.
func NewFlakyShared() *FlakyShared { return &FlakyShared{mem: bus.NewMemoryShared()} }

// errDown is what the calls return while the store is down.
var errDown = fmt.Errorf("test: %w", bus.ErrSharedUnavailable)

func (f *FlakyShared) store() (*bus.MemoryShared, error) {
	if f.Down.Load() {
		return nil, errDown
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mem, nil
}

// Wipe empties the store, as a Redis that restarted without persistence.
func (f *FlakyShared) Wipe() {
	f.mu.Lock()
	f.mem = bus.NewMemoryShared()
	f.mu.Unlock()
}

// Set implements bus.SharedStore.
func (f *FlakyShared) Set(ctx context.Context, space, key string, value []byte, ttl time.Duration) error {
	m, err := f.store()
	if err != nil {
		return err
	}
	return m.Set(ctx, space, key, value, ttl)
}

// Get implements bus.SharedStore.
func (f *FlakyShared) Get(ctx context.Context, space, key string) ([]byte, bool, error) {
	f.Gets.Add(1)
	m, err := f.store()
	if err != nil {
		return nil, false, err
	}
	return m.Get(ctx, space, key)
}

// Delete implements bus.SharedStore.
func (f *FlakyShared) Delete(ctx context.Context, space, key string) error {
	m, err := f.store()
	if err != nil {
		return err
	}
	return m.Delete(ctx, space, key)
}

// All implements bus.SharedStore.
func (f *FlakyShared) All(ctx context.Context, space string) (map[string][]byte, error) {
	m, err := f.store()
	if err != nil {
		return nil, err
	}
	return m.All(ctx, space)
}
