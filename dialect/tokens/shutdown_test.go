package tokens

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/hub"
)

// stuckShared is a shared store whose Get waits for its context, as a
// store that does not answer does, and says when it gave up.
type stuckShared struct {
	*bus.MemoryShared
	entered  chan struct{}
	returned atomic.Bool
}

func (s *stuckShared) Get(ctx context.Context, _, _ string) ([]byte, bool, error) {
	s.entered <- struct{}{}
	<-ctx.Done()
	s.returned.Store(true)
	return nil, false, ctx.Err()
}

// A shared-store lookup in flight belongs to the dialect: Shutdown cancels
// it and returns only once it has ended.
func TestShutdownWaitsForLookups(t *testing.T) {
	s := &stuckShared{MemoryShared: bus.NewMemoryShared(), entered: make(chan struct{}, 1)}
	b := newNodeBroker(t, &hub.Options{Backend: bus.Backend{Shared: s}}, registeredOnly)
	answered := make(chan bool)
	go func() { answered <- b.isRegistered(context.Background(), "tok") }()
	select {
	case <-s.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the store was not asked")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Dialect.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if !s.returned.Load() {
		t.Error("Shutdown returned while the lookup was still in the store")
	}
	if <-answered {
		t.Error("a token the store never answered for was admitted")
	}
	if b.isRegistered(context.Background(), "tok2") {
		t.Error("a lookup after Shutdown admitted a token")
	}
}
