package bus

import (
	"context"
	"errors"
	"sync/atomic"
)

// Local is the in-process Bus of a single node. Publish calls the Handler
// synchronously, in the publishing goroutine, so publish order is kept
// trivially and a Publish has reached every local subscriber's send queue
// when it returns. Subscribe and Unsubscribe do nothing: with one node,
// every channel is of local interest. Local starts no goroutine.
type Local struct {
	handler atomic.Pointer[Handler]
	closed  atomic.Bool
}

var _ Bus = (*Local)(nil)

// NewLocal returns an in-process bus.
func NewLocal() *Local { return &Local{} }

// Start registers h. It fails if a Handler is already registered or the bus
// is closed.
func (b *Local) Start(h Handler) error {
	if h == nil {
		return errors.New("bus: Start with a nil handler")
	}
	if b.closed.Load() {
		return ErrClosed
	}
	if !b.handler.CompareAndSwap(nil, &h) {
		return errors.New("bus: already started")
	}
	return nil
}

// Publish calls the Handler with msg and returns when it has returned.
func (b *Local) Publish(ctx context.Context, msg Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.closed.Load() {
		return ErrClosed
	}
	h := b.handler.Load()
	if h == nil {
		return ErrNotStarted
	}
	(*h)(msg)
	return nil
}

// Subscribe does nothing: a single node has interest in every channel.
func (b *Local) Subscribe(context.Context, string) error {
	if b.closed.Load() {
		return ErrClosed
	}
	return nil
}

// Unsubscribe does nothing.
func (b *Local) Unsubscribe(context.Context, string) error {
	if b.closed.Load() {
		return ErrClosed
	}
	return nil
}

// Close makes later calls fail with ErrClosed. A Publish already running
// finishes its delivery; Local owns no goroutine to wait for.
func (b *Local) Close() error {
	b.closed.Store(true)
	return nil
}
