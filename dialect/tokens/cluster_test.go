package tokens

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/bus/redis"
	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/internal/redistest"
	"github.com/switchboard-rt/switchboard/internal/testutil"
)

// registeredOnly admits registered tokens only, with abc1 registered by the
// config file.
func registeredOnly(c *config.Tokens) {
	c.AllowUnregisteredClients = false
	c.RegisteredTokens = config.TokenList{"abc1"}
}

// isRefused reports whether a handshake with token is refused with 403.
func (b *broker) isRefused(t *testing.T, token string) bool {
	t.Helper()
	_, resp, err := b.tryDial(t, "RegisterToken="+token, nil)
	if err == nil {
		return false
	}
	if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("dial %q: %v, want 403 or success", token, err)
	}
	return true
}

// list returns registeredTokenList.
func (b *broker) list(t *testing.T) map[string]bool {
	t.Helper()
	code, body := b.post(t, form("method", "registeredTokenList"), nil)
	if code != http.StatusOK {
		t.Fatalf("registeredTokenList: %d %s", code, body)
	}
	return decode[map[string]bool](t, body)
}

// setToken calls registerToken (v) or unregisterToken and returns the status
// and body.
func (b *broker) setToken(t *testing.T, token string, v bool) (int, string) {
	t.Helper()
	method := "unregisterToken"
	if v {
		method = "registerToken"
	}
	return b.post(t, form("method", method, "token", token), nil)
}

// TestTokensAcrossNodes: a token registered through node A's API admits a
// client on node B at once, is in B's list, and its unregistration reaches
// B's handshakes by the next resync.
func TestTokensAcrossNodes(t *testing.T) {
	shared := testutil.NewFlakyShared()
	a := newNodeBroker(t, &hub.Options{Backend: bus.Backend{Shared: shared}}, registeredOnly)
	b := newNodeBroker(t, &hub.Options{Backend: bus.Backend{Shared: shared}}, registeredOnly)

	if !b.isRefused(t, "other") {
		t.Fatal("B admitted a token nobody registered")
	}
	if code, body := a.setToken(t, "new1", true); code != http.StatusOK {
		t.Fatalf("registerToken on A: %d %s", code, body)
	}
	// At once: B's copy does not have it, so B asks the store.
	p := b.dial(t, "new1")
	if got := b.list(t); !got["new1"] || !got["abc1"] {
		t.Fatalf("B's list %v, want new1 and abc1 true", got)
	}

	// A RegisterToken: frame on B for a token registered on A.
	if code, body := a.setToken(t, "new2", true); code != http.StatusOK {
		t.Fatalf("registerToken on A: %d %s", code, body)
	}
	p.send("RegisterToken:new2")
	p.sync()
	if err := b.route(context.Background(), ParseRecipients("new2"), "to new2"); err != nil {
		t.Fatal(err)
	}
	p.expect("to new2")

	// Unregistering on A: B's list says so at once; B's handshakes refuse
	// it after the next resync, which a test does by hand.
	for _, tok := range []string{"new1", "abc1"} {
		if code, body := a.setToken(t, tok, false); code != http.StatusOK {
			t.Fatalf("unregisterToken %s on A: %d %s", tok, code, body)
		}
	}
	if got := b.list(t); got["new1"] || got["abc1"] {
		t.Fatalf("B's list %v, want new1 and abc1 false", got)
	}
	if err := b.resync(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"new1", "abc1"} {
		if !b.isRefused(t, tok) {
			t.Errorf("B admitted %s after A unregistered it", tok)
		}
	}
	if !a.isRefused(t, "abc1") {
		t.Error("A admitted abc1 after unregistering it")
	}
}

// TestTokensNegativeCache: a refused token is asked of the store once per
// negativeTTL, not once per handshake.
func TestTokensNegativeCache(t *testing.T) {
	shared := testutil.NewFlakyShared()
	b := newNodeBroker(t, &hub.Options{Backend: bus.Backend{Shared: shared}}, registeredOnly)
	before := shared.Gets.Load()
	for range 5 {
		if !b.isRefused(t, "nobody") {
			t.Fatal("admitted an unregistered token")
		}
	}
	if n := shared.Gets.Load() - before; n != 1 {
		t.Fatalf("%d Gets for 5 refused handshakes within negativeTTL, want 1", n)
	}
	// Registered tokens of the local copy never ask the store.
	before = shared.Gets.Load()
	b.dial(t, "abc1")
	if n := shared.Gets.Load() - before; n != 0 {
		t.Fatalf("%d Gets for a registered token, want 0", n)
	}
}

// TestTokensStoreDown: while the store fails, the API's writes answer 503
// and change nothing, handshakes are served from the node's copy, and the
// failure is logged once; when it answers again, that is logged once.
func TestTokensStoreDown(t *testing.T) {
	shared := testutil.NewFlakyShared()
	a := newNodeBroker(t, &hub.Options{Backend: bus.Backend{Shared: shared}}, registeredOnly)
	if code, body := a.setToken(t, "kept", true); code != http.StatusOK {
		t.Fatalf("registerToken: %d %s", code, body)
	}

	shared.Down.Store(true)
	code, body := a.setToken(t, "lost", true)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "nothing changed") {
		t.Fatalf("registerToken while down: %d %s, want 503", code, body)
	}
	if code, _ := a.setToken(t, "kept", false); code != http.StatusServiceUnavailable {
		t.Fatalf("unregisterToken while down: %d, want 503", code)
	}
	a.dial(t, "kept")
	a.dial(t, "abc1")
	if !a.isRefused(t, "lost") {
		t.Fatal("admitted a token whose registration failed")
	}
	if got := a.list(t); !got["kept"] || got["lost"] {
		t.Fatalf("list while down %v, want this node's copy", got)
	}
	_ = a.resync(context.Background())
	if n := strings.Count(a.logs.String(), "serving from this node's copy"); n != 1 {
		t.Fatalf("logged the failure %d times, want once:\n%s", n, a.logs)
	}

	shared.Down.Store(false)
	if code, body := a.setToken(t, "lost", true); code != http.StatusOK {
		t.Fatalf("registerToken after: %d %s", code, body)
	}
	a.dial(t, "lost")
	if n := strings.Count(a.logs.String(), "shared store answers again"); n != 1 {
		t.Fatalf("logged the recovery %d times, want once:\n%s", n, a.logs)
	}
}

// TestTokensWrittenBack: a store that lost everything (Redis restarted
// empty) gets the API's tokens back from the nodes at their next resync.
func TestTokensWrittenBack(t *testing.T) {
	shared := testutil.NewFlakyShared()
	a := newNodeBroker(t, &hub.Options{Backend: bus.Backend{Shared: shared}}, registeredOnly)
	b := newNodeBroker(t, &hub.Options{Backend: bus.Backend{Shared: shared}}, registeredOnly)
	a.setToken(t, "t1", true)
	a.setToken(t, "abc1", false)
	shared.Wipe()
	if err := a.resync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := b.list(t); !got["t1"] || got["abc1"] {
		t.Fatalf("B's list after the write-back %v", got)
	}
	b.dial(t, "t1")
	if !b.isRefused(t, "abc1") {
		t.Fatal("B admitted abc1, unregistered on A before the store was wiped")
	}
}

// TestTokensRedis runs two nodes on a real Redis: a token registered on A
// admits a client on B.
func TestTokensRedis(t *testing.T) {
	srv := redistest.Start(t)
	prefix := fmt.Sprintf("sbtest:tokens:%d:", time.Now().UnixNano())
	node := func() *broker {
		bus, err := redis.New(&redis.Options{URL: srv.URL(), NodeID: "t", KeyPrefix: prefix,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		n := newNodeBroker(t, &hub.Options{Backend: bus.Backend()}, registeredOnly)
		waitFor(t, "redis bus ready", func() bool { return bus.Ready(context.Background()) == nil })
		return n
	}
	a, b := node(), node()
	if code, body := a.setToken(t, "redis1", true); code != http.StatusOK {
		t.Fatalf("registerToken on A: %d %s", code, body)
	}
	p := b.dial(t, "redis1")
	if got := b.list(t); !got["redis1"] {
		t.Fatalf("B's list %v", got)
	}
	// Routing crosses nodes too: a broadcast through A reaches B's client.
	if code, body := a.post(t, form("method", "broadcast", "message", "redis1|hello"), nil); code != http.StatusOK {
		t.Fatalf("broadcast: %d %s", code, body)
	}
	p.expect("hello")

	a.setToken(t, "redis1", false)
	if err := b.resync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !b.isRefused(t, "redis1") {
		t.Fatal("B admitted redis1 after A unregistered it and B resynced")
	}
}
