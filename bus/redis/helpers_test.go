package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/internal/redistest"
)

// testOptionsURL returns options with fast timers for tests, on the Redis
// at url: a dead node is reaped within about a second.
func testOptionsURL(url, prefix string) *Options {
	return &Options{
		URL:               url,
		NodeID:            "t",
		KeyPrefix:         prefix,
		PresenceTTL:       800 * time.Millisecond,
		HeartbeatInterval: 200 * time.Millisecond,
		ReconnectMin:      20 * time.Millisecond,
		ReconnectMax:      200 * time.Millisecond,
		OpTimeout:         time.Second,
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// uniquePrefix returns a key prefix no other test uses, so that tests can
// share one Redis (style example 14).
func uniquePrefix(t testing.TB) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	return "sbtest:" + name + ":" + hex.EncodeToString(b[:]) + ":"
}

// node is one cluster node of a test: a hub on a Redis bus, and the
// member changes its hub reported.
type node struct {
	bus *Bus
	hub *hub.Hub

	mu      sync.Mutex
	changes []bus.MemberChange
}

func (n *node) recorded() []bus.MemberChange {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]bus.MemberChange(nil), n.changes...)
}

// newNode starts a node on srv with prefix, and waits until it is up.
func newNode(t testing.TB, srv *redistest.Server, prefix string, tweak func(*Options)) *node {
	t.Helper()
	return newNodeURL(t, srv.URL(), prefix, tweak)
}

// newNodeURL is newNode for any Redis URL.
func newNodeURL(t testing.TB, url, prefix string, tweak func(*Options)) *node {
	t.Helper()
	o := testOptionsURL(url, prefix)
	if tweak != nil {
		tweak(o)
	}
	b, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	h, err := hub.New(&hub.Options{
		Backend: b.Backend(),
		Logger:  o.Logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{bus: b, hub: h}
	h.OnMemberChange(func(c bus.MemberChange) {
		n.mu.Lock()
		n.changes = append(n.changes, c)
		n.mu.Unlock()
	})
	t.Cleanup(func() { _ = h.Close() })
	waitFor(t, 10*time.Second, "node up", func() bool { return b.Ready(context.Background()) == nil })
	return n
}

// newCluster starts n nodes on one prefix.
func newCluster(t testing.TB, srv *redistest.Server, n int, tweak func(*Options)) []*node {
	t.Helper()
	prefix := uniquePrefix(t)
	nodes := make([]*node, n)
	for i := range nodes {
		nodes[i] = newNode(t, srv, prefix, tweak)
	}
	return nodes
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

// recorder is a hub.Subscriber that records the payloads delivered to it.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Deliver(m *hub.Message) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, string(m.Payload()))
	r.mu.Unlock()
	return nil
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// subscribe subscribes a new recorder to channel on n.
func subscribe(t testing.TB, n *node, channel string) (*recorder, bus.SubscriberID) {
	t.Helper()
	r := &recorder{}
	id := n.hub.NewID()
	if _, err := n.hub.Subscribe(context.Background(), channel, id, r); err != nil {
		t.Fatal(err)
	}
	return r, id
}

func publish(t testing.TB, n *node, channel, payload string) {
	t.Helper()
	if err := n.hub.Publish(context.Background(), channel, []byte(payload), hub.NoID); err != nil {
		t.Fatal(err)
	}
}

func seq(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}
