package atmosphere

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/bus/redis"
	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/dialect"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/internal/redistest"
	"github.com/switchboard-rt/switchboard/internal/testutil"
	"github.com/switchboard-rt/switchboard/ws"
)

// memCluster is an in-process bus between the hubs of a test cluster:
// every publish reaches every node's hub, synchronously.
type memCluster struct {
	mu       sync.RWMutex
	handlers []bus.Handler
}

// memBus is one node's bus of a memCluster.
type memBus struct {
	c      *memCluster
	closed atomic.Bool
}

func (c *memCluster) bus() *memBus { return &memBus{c: c} }

func (b *memBus) Start(h bus.Handler) error {
	b.c.mu.Lock()
	b.c.handlers = append(b.c.handlers, h)
	b.c.mu.Unlock()
	return nil
}

func (b *memBus) Publish(ctx context.Context, msg bus.Message) error {
	if b.closed.Load() {
		return bus.ErrClosed
	}
	b.c.mu.RLock()
	hs := append([]bus.Handler(nil), b.c.handlers...)
	b.c.mu.RUnlock()
	for _, h := range hs {
		h(msg)
	}
	return ctx.Err()
}

func (b *memBus) Subscribe(context.Context, string) error   { return nil }
func (b *memBus) Unsubscribe(context.Context, string) error { return nil }
func (b *memBus) Close() error                              { b.closed.Store(true); return nil }

// newNodeEnv is newEnv for one node of a test cluster: its hub is made
// with opts, and clock is shared with the other nodes.
func newNodeEnv(t *testing.T, opts *hub.Options, clock *fakeClock, logs io.Writer, change func(*config.Atmosphere)) *env {
	t.Helper()
	cfg := testConfig()
	if change != nil {
		change(&cfg)
	}
	h, err := hub.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if logs == nil {
		logs = io.Discard
	}
	d, err := newDialect(cfg, dialect.Deps{Hub: h, WebSocket: ws.Options{PingInterval: -1}, Logger: slog.New(slog.NewTextHandler(logs, nil))}, options{now: clock.now, noTicker: true})
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, d, h, clock)
}

// newPair returns two nodes sharing a bus, a shared store and a clock.
func newPair(t *testing.T, shared bus.SharedStore, change func(*config.Atmosphere)) (a, b *env) {
	t.Helper()
	cluster, clock := &memCluster{}, newFakeClock()
	a = newNodeEnv(t, &hub.Options{Backend: bus.Backend{Bus: cluster.bus(), Shared: shared}}, clock, nil, change)
	b = newNodeEnv(t, &hub.Options{Backend: bus.Backend{Bus: cluster.bus(), Shared: shared}}, clock, nil, change)
	return a, b
}

// expectLogout reads c's next message, skipping heartbeats, and checks it
// is the logout event.
func expectLogout(t *testing.T, c *wsClient) {
	t.Helper()
	if ev := c.nextSkipX(); ev["type"] != "event" || ev["event"] != "logout" {
		t.Fatalf("got %v, want the logout event", ev)
	}
}

// expectResponse checks that an answer is a successful response.
func expectResponse(t *testing.T, r map[string]any) {
	t.Helper()
	if r["type"] != "response" {
		t.Fatalf("got %v, want a response", r)
	}
}

// TestSessionAcrossNodes: a hash from node A works on node B; a logout on
// A ends it on B, with the logout event to B's subscribers; and a logout on
// a node without a copy of the session ends it where it is used.
func TestSessionAcrossNodes(t *testing.T) {
	a, b := newPair(t, bus.NewMemoryShared(), nil)
	hash := a.login("bob", bobPassword)

	onB := b.dial("")
	expectResponse(t, onB.subscribe(hash, `[{"type":"state","trackers":[4]}]`))
	onA := a.dial("")
	expectResponse(t, onA.subscribe(hash, `[{"type":"state","trackers":[4]}]`))

	if _, out := a.call("GET", "/user/logout?hash="+hash, "", ""); out["success"] != true {
		t.Fatalf("logout on A: %v", out)
	}
	expectLogout(t, onA)
	b.tick(0) // B ends its copy at its next tick
	expectLogout(t, onB)
	for _, e := range []*env{a, b} {
		c := e.dial("")
		if m := c.subscribe(hash, `[{"type":"state","trackers":[4]}]`); apiCode(m) != 4 {
			t.Fatalf("the ended hash on %s: %v", e.srv.URL, m)
		}
		if _, out := e.call("GET", "/user/logout?hash="+hash, "", ""); apiCode(out) != 4 {
			t.Fatalf("second logout: %v", out)
		}
	}

	// Logged in on A, logged out on B, which never saw it.
	hash = a.login("alice", alicePassword)
	onA = a.dial("")
	expectResponse(t, onA.subscribe(hash, `[{"type":"state","trackers":[1]}]`))
	if _, out := b.call("POST", "/user/logout", "application/json", `{"hash":"`+hash+`"}`); out["success"] != true {
		t.Fatalf("logout on B: %v", out)
	}
	a.tick(0)
	expectLogout(t, onA)
}

// TestSessionEndedUnannounced: a node that missed the announcement of an
// end refuses the hash at its next use and ends its subscribers' session at
// its next check.
func TestSessionEndedUnannounced(t *testing.T) {
	shared := bus.NewMemoryShared()
	clock := newFakeClock()
	// Two nodes with separate buses: announcements do not cross.
	a := newNodeEnv(t, &hub.Options{Backend: bus.Backend{Shared: shared}}, clock, nil, nil)
	b := newNodeEnv(t, &hub.Options{Backend: bus.Backend{Shared: shared}}, clock, nil, nil)
	h1, h2 := a.login("alice", alicePassword), a.login("alice", alicePassword)
	c1, c2 := b.dial(""), b.dial("")
	expectResponse(t, c1.subscribe(h1, `[{"type":"state","trackers":[1]}]`))
	expectResponse(t, c2.subscribe(h2, `[{"type":"state","trackers":[2]}]`))
	a.call("GET", "/user/logout?hash="+h1, "", "")
	a.call("GET", "/user/logout?hash="+h2, "", "")
	b.tick(0)
	c1.quiet()

	// A use: refused, and the copy's subscribers are told.
	c1.send(`{"action":"subscribe","hash":"` + h1 + `","requests":[{"type":"state","trackers":[1]}]}`)
	for range 2 {
		m := c1.nextSkipX()
		if m["event"] != "logout" && apiCode(m) != 4 {
			t.Fatalf("got %v, want the logout event and error 4", m)
		}
	}
	// No use: the check of copies with subscribers, every verifyEvery.
	c2.quiet()
	b.tick(verifyEvery)
	expectLogout(t, c2)
}

// TestSessionExpiryAcrossNodes: a session used on one node stays valid on
// another that has not seen the use; it expires a TTL after the last use
// anywhere.
func TestSessionExpiryAcrossNodes(t *testing.T) {
	a, b := newPair(t, bus.NewMemoryShared(), func(c *config.Atmosphere) { c.SessionTTL = config.Duration(time.Hour) })
	hash := a.login("bob", bobPassword)
	onB := b.dial("")
	expectResponse(t, onB.subscribe(hash, `[{"type":"state","trackers":[4]}]`))
	a.tick(50 * time.Minute)
	onA := a.dial("")
	// A use on A; then 70 min since B's use, 20 since A's.
	expectResponse(t, onA.subscribe(hash, `[{"type":"state","trackers":[4]}]`))
	b.tick(20 * time.Minute)
	onB.quiet()
	b.tick(39 * time.Minute)
	a.tick(0)
	onB.quiet()
	onA.quiet()
	b.tick(time.Minute) // an hour since the last use, on A
	expectLogout(t, onB)
	a.tick(0)
	expectLogout(t, onA)
}

// TestSessionStoreDown: while the shared store fails, each node serves from
// its copies; an end made meanwhile reaches the other nodes once it
// answers again; the failure and the recovery are logged once each.
func TestSessionStoreDown(t *testing.T) {
	shared := testutil.NewFlakyShared()
	cluster, clock := &memCluster{}, newFakeClock()
	logs := &testutil.LogBuffer{}
	a := newNodeEnv(t, &hub.Options{Backend: bus.Backend{Bus: cluster.bus(), Shared: shared}}, clock, logs, nil)
	b := newNodeEnv(t, &hub.Options{Backend: bus.Backend{Bus: cluster.bus(), Shared: shared}}, clock, nil, nil)
	hash := a.login("bob", bobPassword)
	onA, onB := a.dial(""), b.dial("")
	expectResponse(t, onA.subscribe(hash, `[{"type":"state","trackers":[4]}]`))
	expectResponse(t, onB.subscribe(hash, `[{"type":"state","trackers":[4]}]`))

	shared.Down.Store(true)
	// Known hashes work; unknown ones are refused; logins work here.
	expectResponse(t, onA.subscribe(hash, `[{"type":"state","trackers":[4]}]`))
	local := a.login("alice", alicePassword)
	if m := b.dial("").subscribe(local, `[{"type":"state","trackers":[1]}]`); apiCode(m) != 4 {
		t.Fatalf("B knew a session made while the store was down: %v", m)
	}
	// A logout ends the session on A; B keeps its copy meanwhile.
	if _, out := a.call("GET", "/user/logout?hash="+hash, "", ""); out["success"] != true {
		t.Fatalf("logout while down: %v", out)
	}
	expectLogout(t, onA)
	if m := onA.subscribe(hash, `[{"type":"state","trackers":[4]}]`); apiCode(m) != 4 {
		t.Fatalf("A took the hash it logged out: %v", m)
	}
	a.tick(time.Second)
	b.tick(0)
	onB.quiet()

	shared.Down.Store(false)
	// A's sweep writes the end and announces it.
	a.tick(time.Second)
	b.tick(0)
	expectLogout(t, onB)
	// The login made while down is written at its first use.
	expectResponse(t, a.dial("").subscribe(local, `[{"type":"state","trackers":[1]}]`))
	expectResponse(t, b.dial("").subscribe(local, `[{"type":"state","trackers":[1]}]`))

	out := logs.String()
	if n := strings.Count(out, "sessions: shared store unavailable"); n != 1 {
		t.Errorf("the failure logged %d times, want once:\n%s", n, out)
	}
	if n := strings.Count(out, "sessions: shared store answers again"); n != 1 {
		t.Errorf("the recovery logged %d times, want once:\n%s", n, out)
	}
}

// TestSessionUserPerNode: users made through the publisher API are per
// node; a session of a user that another node lacks is refused there, and
// a password change ends the user's sessions on every node.
func TestSessionUserPerNode(t *testing.T) {
	a, b := newPair(t, bus.NewMemoryShared(), nil)
	body := `{"password_hash":"` + testHashes()[0] + `","trackers":[5]}` // alice's password, cheap to check
	if code, out := a.call("PUT", "/publisher/users/carol", "application/json", body); code != 200 {
		t.Fatalf("put user: %v", out)
	}
	carol := a.login("carol", alicePassword)
	if m := b.dial("").subscribe(carol, `[{"type":"state","trackers":[5]}]`); apiCode(m) != 4 {
		t.Fatalf("B took a session of a user it does not have: %v", m)
	}

	hash := a.login("bob", bobPassword)
	onB := b.dial("")
	expectResponse(t, onB.subscribe(hash, `[{"type":"state","trackers":[4]}]`))
	a.dial("").subscribe(hash, `[{"type":"state","trackers":[4]}]`) // A has a copy too
	if code, out := a.call("PUT", "/publisher/users/bob", "application/json", `{"password_hash":"`+testHashes()[0]+`"}`); code != 200 {
		t.Fatalf("put user: %v", out)
	}
	b.tick(0)
	expectLogout(t, onB)
}

// TestSessionRedis runs two nodes on a real Redis with their tickers: a hash
// from A works on B, and a logout on A reaches B's subscriber.
func TestSessionRedis(t *testing.T) {
	srv := redistest.Start(t)
	prefix := fmt.Sprintf("sbtest:atmosphere:%d:", time.Now().UnixNano())
	node := func() *env {
		bs, err := redis.New(&redis.Options{URL: srv.URL(), NodeID: "t", KeyPrefix: prefix,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		h, err := hub.New(&hub.Options{Backend: bs.Backend(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "redis bus ready", func() bool { return bs.Ready(context.Background()) == nil })
		d, err := New(testConfig(), dialect.Deps{Hub: h, WebSocket: ws.Options{PingInterval: -1}})
		if err != nil {
			t.Fatal(err)
		}
		return serve(t, d, h, newFakeClock())
	}
	a, b := node(), node()
	hash := a.login("bob", bobPassword)
	onB := b.dial("")
	expectResponse(t, onB.subscribe(hash, `[{"type":"state","trackers":[4]}]`))
	// Events cross nodes too.
	a.publish("state", stateBody(4, 7))
	if ev := onB.nextSkipX(); get(ev, "data", "source_id") != 1004.0 {
		t.Fatalf("got %v, want tracker 4's state", ev)
	}
	if _, out := a.call("GET", "/user/logout?hash="+hash, "", ""); out["success"] != true {
		t.Fatalf("logout on A: %v", out)
	}
	expectLogout(t, onB)
	if m := b.dial("").subscribe(hash, `[{"type":"state","trackers":[4]}]`); apiCode(m) != 4 {
		t.Fatalf("B took the logged-out hash: %v", m)
	}
}
