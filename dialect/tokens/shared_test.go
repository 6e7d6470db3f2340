package tokens

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/internal/routine"
)

// hookShared is a MemoryShared that counts Gets, records the TTL of each
// Set, can fail, and can hold a Get (after it read the store) until
// released.
type hookShared struct {
	*bus.MemoryShared
	gets atomic.Int64
	down atomic.Bool

	mu   sync.Mutex
	ttls map[string]time.Duration
	hold map[string]chan struct{} // key → closed to release its Gets
	held chan string              // receives the key of each held Get
}

func newHookShared() *hookShared {
	return &hookShared{MemoryShared: bus.NewMemoryShared(), ttls: map[string]time.Duration{},
		hold: map[string]chan struct{}{}, held: make(chan string, 100)}
}

func (s *hookShared) Set(ctx context.Context, space, key string, value []byte, ttl time.Duration) error {
	s.mu.Lock()
	s.ttls[key] = ttl
	s.mu.Unlock()
	return s.MemoryShared.Set(ctx, space, key, value, ttl)
}

func (s *hookShared) Get(ctx context.Context, space, key string) ([]byte, bool, error) {
	s.gets.Add(1)
	if s.down.Load() {
		return nil, false, bus.ErrSharedUnavailable
	}
	v, ok, err := s.MemoryShared.Get(ctx, space, key)
	s.mu.Lock()
	release := s.hold[key]
	s.mu.Unlock()
	if release != nil {
		s.held <- key
		<-release
	}
	return v, ok, err
}

func (s *hookShared) holdKey(key string) (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.hold[key] = ch
	s.mu.Unlock()
	return sync.OnceFunc(func() {
		s.mu.Lock()
		delete(s.hold, key)
		s.mu.Unlock()
		close(ch)
	})
}

func (s *hookShared) ttl(key string) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ttls[key]
}

// TestUnregisterExpires: an unregistration of a token no list has is
// stored with a TTL, and once the store no longer has it every node forgets
// it instead of writing it back; an unregistration of a listed token never
// expires; after a wipe only the registering node writes its token back.
func TestUnregisterExpires(t *testing.T) {
	shared := newHookShared()
	a := newNodeBroker(t, &hub.Options{Backend: bus.Backend{Shared: shared}}, registeredOnly)
	b := newNodeBroker(t, &hub.Options{Backend: bus.Backend{Shared: shared}}, registeredOnly)
	ctx := context.Background()
	a.setToken(t, "tmp1", true)
	a.setToken(t, "tmp1", false)
	a.setToken(t, "abc1", false) // in the config file
	a.setToken(t, "keep", true)
	if got := shared.ttl("tmp1"); got != unregisteredTTL {
		t.Fatalf("unregisterToken of tmp1 stored with TTL %v, want %v", got, unregisteredTTL)
	}
	if got := shared.ttl("abc1"); got != 0 {
		t.Fatalf("unregisterToken of the listed abc1 stored with TTL %v, want none", got)
	}
	if got := shared.ttl("keep"); got != 0 {
		t.Fatalf("registerToken stored with TTL %v, want none", got)
	}
	if err := b.resync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.reg.snapshot(); got["tmp1"] || got["abc1"] || !got["keep"] {
		t.Fatalf("B's copy %v", got)
	}
	// The "0" of tmp1 expires: both nodes forget it, neither writes it back.
	_ = shared.Delete(ctx, registeredSpace, "tmp1")
	for _, n := range []*broker{a, b} {
		if err := n.resync(ctx); err != nil {
			t.Fatal(err)
		}
		if _, ok := n.reg.snapshot()["tmp1"]; ok {
			t.Fatalf("a node kept tmp1 after its unregistration expired")
		}
	}
	if _, ok, _ := shared.MemoryShared.Get(ctx, registeredSpace, "tmp1"); ok {
		t.Fatal("an expired unregistration was written back")
	}
	// A wipe: B (which only learnt keep) forgets it; A writes back its own.
	for _, k := range []string{"abc1", "keep"} {
		_ = shared.Delete(ctx, registeredSpace, k)
	}
	if err := b.resync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := shared.MemoryShared.Get(ctx, registeredSpace, "keep"); ok {
		t.Fatal("B wrote back a token it did not register")
	}
	if err := a.resync(ctx); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := shared.MemoryShared.Get(ctx, registeredSpace, "keep"); !ok || string(v) != "1" {
		t.Fatal("A did not write back its registration")
	}
	if v, ok, _ := shared.MemoryShared.Get(ctx, registeredSpace, "abc1"); !ok || string(v) != "0" {
		t.Fatal("A did not write back its unregistration of a listed token")
	}
	b.dial(t, "keep")
	if !b.isRefused(t, "abc1") {
		t.Fatal("B admitted abc1 after the write-back")
	}
}

// TestReadOnMissRace: a read-on-miss that read "1" does not overwrite
// an unregisterToken made on this node while it waited.
func TestReadOnMissRace(t *testing.T) {
	shared := newHookShared()
	b := newNodeBroker(t, &hub.Options{Backend: bus.Backend{Shared: shared}}, registeredOnly)
	ctx := context.Background()
	waitFor(t, "the first resync", func() bool { return b.shared.Load() == sharedUp })
	_ = shared.MemoryShared.Set(ctx, registeredSpace, "race1", []byte("1"), 0) // another node registered it
	release := shared.holdKey("race1")
	defer release()
	got := make(chan bool, 1)
	go func() { got <- b.isRegistered(ctx, "race1") }()
	waitHeld(t, shared) // the read has the "1"
	if err := b.setRegistered(ctx, "race1", false); err != nil {
		t.Fatal(err)
	}
	release()
	if <-got {
		t.Fatal("the handshake was admitted with a read older than the unregistration")
	}
	if b.reg.registered("race1") {
		t.Fatal("the stale read overwrote this node's unregistration")
	}
}

// TestLookupCollapsing: concurrent handshakes with one unknown token
// make one store call, and a failed read is not repeated within errorTTL.
func TestLookupCollapsing(t *testing.T) {
	shared := newHookShared()
	b := newNodeBroker(t, &hub.Options{Backend: bus.Backend{Shared: shared}}, registeredOnly)
	ctx := context.Background()
	waitFor(t, "the first resync", func() bool { return b.shared.Load() == sharedUp })
	before := shared.gets.Load()
	release := shared.holdKey("unk")
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if b.isRegistered(ctx, "unk") {
				t.Error("admitted an unknown token")
			}
		})
	}
	waitHeld(t, shared)
	time.Sleep(100 * time.Millisecond) // the others join the call
	release()
	wg.Wait()
	if n := shared.gets.Load() - before; n != 1 {
		t.Fatalf("%d Gets for 10 concurrent lookups, want 1", n)
	}

	shared.down.Store(true)
	before = shared.gets.Load()
	for range 5 {
		if b.isRegistered(ctx, "other") {
			t.Fatal("admitted a token the store could not answer for")
		}
	}
	if n := shared.gets.Load() - before; n != 1 {
		t.Fatalf("%d Gets for 5 lookups within errorTTL of a failure, want 1", n)
	}
	f := flight{routines: routine.New(ctx)}
	defer f.routines.StopAndWait()
	_, _, err := f.do(ctx, "k", time.Now(), time.Hour, 10, func(context.Context) ([]byte, bool, error) { return nil, false, errors.New("x") })
	if err == nil {
		t.Fatal("the failure was not returned")
	}
	if _, _, err := f.do(ctx, "k", time.Now(), time.Hour, 10, func(context.Context) ([]byte, bool, error) { return nil, true, nil }); !errors.Is(err, errRecentFailure) {
		t.Fatalf("a second lookup within errorTTL: %v, want errRecentFailure", err)
	}
}

func waitHeld(t *testing.T, s *hookShared) {
	t.Helper()
	select {
	case <-s.held:
	case <-time.After(5 * time.Second):
		t.Fatal("the store was not asked")
	}
}
