package hub

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"

	"github.com/switchboard-rt/switchboard/bus"
)

// recorder is a test double of a dialect's connection: it records the
// payloads delivered to it, or refuses them with err.
type recorder struct {
	mu   sync.Mutex
	msgs []string
	err  error
}

func (r *recorder) Deliver(m *Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.msgs = append(r.msgs, string(m.Payload()))
	return nil
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

// nopSub accepts every message and counts them; it stands for a connection
// whose queue is never full.
type nopSub struct{ n int }

func (s *nopSub) Deliver(*Message) error { s.n++; return nil }

// busCall is one Subscribe or Unsubscribe seen by spyBus.
type busCall struct {
	op      string // "sub" or "unsub"
	channel string
}

// spyBus is a bus.Local that records interest changes and can fail
// Subscribe.
type spyBus struct {
	*bus.Local
	mu      sync.Mutex
	calls   []busCall
	failSub error
}

func newSpyBus() *spyBus { return &spyBus{Local: bus.NewLocal()} }

func (b *spyBus) Subscribe(ctx context.Context, ch string) error {
	runtime.Gosched() // widen the window for callers that race
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failSub != nil {
		return b.failSub
	}
	b.calls = append(b.calls, busCall{"sub", ch})
	return b.Local.Subscribe(ctx, ch)
}

func (b *spyBus) Unsubscribe(ctx context.Context, ch string) error {
	runtime.Gosched()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, busCall{"unsub", ch})
	return b.Local.Unsubscribe(ctx, ch)
}

func (b *spyBus) recorded() []busCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]busCall(nil), b.calls...)
}

var errBusDown = errors.New("bus down")

// newHub returns a hub closed when the test ends.
func newHub(t testing.TB, opts *Options) *Hub {
	t.Helper()
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func mustSubscribe(t testing.TB, h *Hub, channel string, id SubscriberID, s Subscriber) bool {
	t.Helper()
	first, err := h.Subscribe(context.Background(), channel, id, s)
	if err != nil {
		t.Fatal(err)
	}
	return first
}

func mustPublish(t testing.TB, h *Hub, channel, payload string, except SubscriberID) {
	t.Helper()
	if err := h.Publish(context.Background(), channel, []byte(payload), except); err != nil {
		t.Fatal(err)
	}
}
