package atmosphere

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/dialect"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/ws"
)

// TestLoginNoLockOut: login_attempts wrong passwords from one address
// do not lock the user out for another address; the attempts at one login
// from many addresses stay bounded.
func TestLoginNoLockOut(t *testing.T) {
	e := newEnv(t, nil)
	for i := range e.d.cfg.LoginAttempts {
		if _, code := e.authFrom("198.51.100.1", "alice", "wrong"); code != int(CodeWrongLogin) {
			t.Fatalf("wrong attempt %d: code %d, want %d", i, code, CodeWrongLogin)
		}
	}
	if _, code := e.authFrom("198.51.100.1", "alice", alicePassword); code != int(CodeLoginAttemptsLimit) {
		t.Fatalf("the attacker's address: code %d, want %d", code, CodeLoginAttemptsLimit)
	}
	if status, code := e.authFrom("203.0.113.2", "alice", alicePassword); status != 200 || code != 0 {
		t.Fatalf("alice from another address: %d, code %d; want a session", status, code)
	}
	// Bounded: loginsPerUser*login_attempts per window for one login.
	now := e.clock.now()
	n := 0
	for i := range 1000 {
		if e.d.auth.loginAllowed("10.0."+string(rune('a'+i/256))+"."+string(rune('a'+i%256)), "bob", now) {
			n++
		}
	}
	if want := loginsPerUser * e.d.cfg.LoginAttempts; n != want {
		t.Fatalf("%d attempts at bob from 1000 addresses, want %d", n, want)
	}
}

// hangingShared is a MemoryShared that counts Gets and can hold them (until
// released or their context ends).
type hangingShared struct {
	*bus.MemoryShared
	gets    atomic.Int64
	hang    atomic.Bool
	held    chan struct{}
	release chan struct{}
}

func newHangingShared() *hangingShared {
	return &hangingShared{MemoryShared: bus.NewMemoryShared(), held: make(chan struct{}, 1000), release: make(chan struct{})}
}

func (s *hangingShared) Get(ctx context.Context, space, key string) ([]byte, bool, error) {
	s.gets.Add(1)
	if s.hang.Load() {
		s.held <- struct{}{}
		select {
		case <-s.release:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
	return s.MemoryShared.Get(ctx, space, key)
}

func waitHeld(t *testing.T, s *hangingShared) {
	t.Helper()
	select {
	case <-s.held:
	case <-time.After(5 * time.Second):
		t.Fatal("the store was not asked")
	}
}

// TestSweepOffTicker: while the session sweep waits on a hanging
// store, the ticker goes on (here: the long-polling sweep, which runs on the
// same tick as the batch flushes), and Shutdown does not wait for the store.
func TestSweepOffTicker(t *testing.T) {
	shared := newHangingShared()
	clock := newFakeClock()
	h, err := hub.New(&hub.Options{Backend: bus.Backend{Shared: shared}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := newDialect(testConfig(), dialect.Deps{Hub: h, WebSocket: ws.Options{PingInterval: -1}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, options{now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	e := serve(t, d, h, clock)
	e.login("alice", alicePassword)
	c := e.lpConnect(true)
	shared.hang.Store(true)
	clock.advance(31 * 24 * time.Hour) // the session is due for a check; the poll session expires
	waitHeld(t, shared)                // the sweeper waits on the store
	waitFor(t, "the ticker to end the idle long-polling session", func() bool { return d.polls.lookup(c.id) == nil })
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = d.Shutdown(ctx)
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Shutdown took %v with a hanging store", took)
	}
}

// TestBurstBound: a subscribe made while an earlier burst over the
// queue bound waits ends the session as a slow consumer.
func TestBurstBound(t *testing.T) {
	e := newEnv(t, func(c *config.Atmosphere) { c.LongPolling.QueueSize = 2 })
	c := e.lpConnect(true)
	s := e.d.polls.lookup(c.id)
	burst := make([]*hub.Message, 10)
	if err := s.sendBurst(burst); err != nil {
		t.Fatalf("first burst: %v", err)
	}
	if err := s.sendBurst(burst); err != ws.ErrQueueFull {
		t.Fatalf("second burst without a poll: %v, want ErrQueueFull", err)
	}
	s.mu.Lock()
	ended, n := s.ended, len(s.queue)
	s.mu.Unlock()
	if !ended || n != 0 {
		t.Fatalf("session ended %v with %d queued, want ended", ended, n)
	}
}

// TestSessionLookups: concurrent uses of one unknown hash make one
// read, and an unknown hash is not asked again within unknownTTL.
func TestSessionLookups(t *testing.T) {
	shared := newHangingShared()
	e := newNodeEnv(t, &hub.Options{Backend: bus.Backend{Shared: shared}}, newFakeClock(), nil, nil)
	hash := randomHex(16)
	shared.hang.Store(true)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if e.d.session(hash, e.clock.now()) != nil {
				t.Error("an unknown hash was accepted")
			}
		})
	}
	waitHeld(t, shared)
	time.Sleep(100 * time.Millisecond) // the others join the read
	shared.hang.Store(false)
	close(shared.release)
	wg.Wait()
	if n := shared.gets.Load(); n != 2 { // endedSpace and sessionSpace, once
		t.Fatalf("%d Gets for 10 concurrent uses of one hash, want 2", n)
	}
	for range 5 {
		e.d.session(hash, e.clock.now())
	}
	if n := shared.gets.Load(); n != 2 {
		t.Fatalf("%d Gets after 5 more uses within unknownTTL, want 2", n)
	}
	e.clock.advance(unknownTTL)
	e.d.session(hash, e.clock.now())
	if n := shared.gets.Load(); n != 4 {
		t.Fatalf("%d Gets after unknownTTL, want 4", n)
	}
}

// TestBlockReservation: the check and the reservation of a block are
// one step: of two calls racing for the last place, one is refused.
func TestBlockReservation(t *testing.T) {
	for range 100 {
		s := newStore(2)
		if ok, added := s.reserveBlock(1); !ok || !added {
			t.Fatal("first block refused")
		}
		var oks atomic.Int32
		var wg sync.WaitGroup
		for id := int64(2); id <= 3; id++ {
			wg.Go(func() {
				if ok, _ := s.reserveBlock(id); ok {
					oks.Add(1)
				}
			})
		}
		wg.Wait()
		if oks.Load() != 1 || len(s.blk) != 2 {
			t.Fatalf("%d of 2 racing blocks for the last place accepted, %d blocked", oks.Load(), len(s.blk))
		}
		if ok, added := s.reserveBlock(1); !ok || added {
			t.Fatal("re-blocking a blocked tracker refused")
		}
	}
}

// TestWebSocketBurstOverSendQueue: over WebSocket, the current states a
// subscribe sends go out as one entry of the send queue, so a subscription
// to more trackers than the queue holds keeps the connection.
func TestWebSocketBurstOverSendQueue(t *testing.T) {
	h, err := hub.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	d, err := newDialect(testConfig(), dialect.Deps{Hub: h, WebSocket: ws.Options{PingInterval: -1, SendQueue: 4}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, options{now: clock.now, noTicker: true})
	if err != nil {
		t.Fatal(err)
	}
	e := serve(t, d, h, clock)
	ids := []int{1, 2, 3, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22} // alice's: more than 4
	items := make([]string, len(ids))
	for i, id := range ids {
		items[i] = stateBody(id, i)
	}
	e.publish("state", "["+strings.Join(items, ",")+"]")
	c := e.dial("")
	resp := c.subscribe(e.login("alice", alicePassword), `[{"type":"state","target":{"type":"all"}}]`)
	if resp["type"] != "response" {
		t.Fatalf("subscribe answered %v", resp)
	}
	seen := map[float64]bool{}
	for len(seen) < len(ids) {
		m := c.nextSkipX()
		if m["event"] != "state" {
			t.Fatalf("got %v while waiting for current states", m)
		}
		seen[get(m, "data", "source_id").(float64)] = true
	}
	e.publish("state", stateBody(1, 99)) // the connection lives on
	if m := c.nextSkipX(); m["event"] != "state" || get(m, "data", "source_id").(float64) != 1001 {
		t.Fatalf("after the burst: %v", m)
	}
}
