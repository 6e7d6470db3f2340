package redis

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/internal/redistest"
)

// crash stops the bus as a killed process would: no flush, no goodbye;
// its Redis connections are simply closed. For tests of node loss.
func (b *Bus) crash() {
	if b.closed.Swap(true) {
		return
	}
	b.writers.Stop()
	b.routines.Stop()
	_ = b.client.Close() // in-flight commands fail; the writer drops its queue
	b.mu.Lock()
	if b.ps != nil {
		_ = b.ps.Close()
	}
	b.mu.Unlock()
	b.writers.Wait()
	b.routines.Wait()
}

// announce makes n behave like a dialect: each reported member change is
// published to the channel as "added:<user>" or "removed:<user>".
func announce(n *node) {
	n.hub.OnMemberChange(func(c bus.MemberChange) {
		ev := "removed:"
		if c.Added {
			ev = "added:"
		}
		_ = n.hub.Publish(context.Background(), c.Channel, []byte(ev+c.UserID), hub.NoID)
	})
}

// beatsAfter waits until every node ran k more heartbeats.
func beatsAfter(t *testing.T, k uint64, nodes ...*node) {
	t.Helper()
	start := make([]uint64, len(nodes))
	for i, n := range nodes {
		start[i] = n.bus.stats.beats.Load()
	}
	waitFor(t, 10*time.Second, "more heartbeats", func() bool {
		for i, n := range nodes {
			if n.bus.stats.beats.Load() < start[i]+k {
				return false
			}
		}
		return true
	})
}

// A node killed without a goodbye is reaped by a survivor: its users who
// have no connection elsewhere are reported as left exactly once across
// the cluster, within the TTL and a heartbeat, and its counts disappear.
func TestNodeLoss(t *testing.T) {
	srv := redistest.Start(t)
	nodes := newCluster(t, srv, 3, nil)
	a, b, c := nodes[0], nodes[1], nodes[2]
	announce(a)
	announce(c)
	ctx := context.Background()
	ra, _ := subscribe(t, a, "presence-x")
	rc, _ := subscribe(t, c, "presence-x")
	subscribe(t, b, "presence-x")
	add := func(n *node, user string) {
		t.Helper()
		if _, err := n.hub.AddMember(ctx, "presence-x", user, json.RawMessage(`{}`), n.hub.NewID()); err != nil {
			t.Fatal(err)
		}
	}
	add(b, "u1")
	add(b, "u2")
	add(a, "u2") // u2 stays, through A
	b.hub.AddConnections("app", 5)
	waitFor(t, 5*time.Second, "B's counts", func() bool {
		n, _ := a.hub.ClusterSubscriberCount(ctx, "presence-x")
		k, _ := a.hub.ConnectionCount(ctx, "app")
		return n == 3 && k == 5
	})

	killed := time.Now()
	b.bus.crash()
	opts := b.bus.opts
	bound := opts.PresenceTTL + 2*opts.HeartbeatInterval + time.Second
	waitFor(t, bound, "member_removed for u1 on A and C", func() bool {
		return slices.Contains(ra.got(), "removed:u1") && slices.Contains(rc.got(), "removed:u1")
	})
	took := time.Since(killed)
	beatsAfter(t, 3, a, c) // any second report would have come by now

	var reports []bus.MemberChange
	for _, n := range []*node{a, c} {
		reports = append(reports, n.recorded()...)
	}
	if len(reports) != 1 || reports[0].Channel != "presence-x" || reports[0].UserID != "u1" || reports[0].Added {
		t.Errorf("reported changes %+v, want u1 removed once", reports)
	}
	for name, r := range map[string]*recorder{"A": ra, "C": rc} {
		if got := r.got(); !slices.Equal(got, []string{"removed:u1"}) {
			t.Errorf("%s's subscriber got %q, want one removed:u1", name, got)
		}
	}
	if got := userIDs(t, c, "presence-x"); !slices.Equal(got, []string{"u2"}) {
		t.Errorf("members after the loss = %q, want [u2]", got)
	}
	if n, _ := c.hub.ClusterSubscriberCount(ctx, "presence-x"); n != 2 {
		t.Errorf("subscriptions after the loss = %d, want 2", n)
	}
	if k, _ := c.hub.ConnectionCount(ctx, "app"); k != 0 {
		t.Errorf("connections after the loss = %d, want 0", k)
	}
	if s := a.bus.Stats(); s.Connects != 1 || s.StateChanges != 1 {
		t.Errorf("A's stats %+v: the pub/sub link must stay up through quiet periods (pinged, not reconnected)", s)
	}
	if s := a.bus.Stats().ReapedNodes + c.bus.Stats().ReapedNodes; s != 1 {
		t.Errorf("the dead node was reaped %d times", s)
	}
	t.Logf("member_removed %s after the kill (TTL %s, heartbeat %s)", took.Round(time.Millisecond), opts.PresenceTTL, opts.HeartbeatInterval)
}

// A node that closes properly marks itself gone, so a survivor reaps what
// it still held at its next heartbeat instead of after the TTL.
func TestCloseHandsOver(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	a := newNode(t, srv, prefix, func(o *Options) { o.PresenceTTL = time.Minute })
	b := newNode(t, srv, prefix, func(o *Options) { o.PresenceTTL = time.Minute })
	announce(a)
	ra, _ := subscribe(t, a, "presence-y")
	if _, err := b.hub.AddMember(context.Background(), "presence-y", "u9", nil, b.hub.NewID()); err != nil {
		t.Fatal(err)
	}
	if err := b.hub.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "u9 removed well before the 1m TTL", func() bool { return slices.Contains(ra.got(), "removed:u9") })
}

// A node cut off long enough to be reaped writes its entries back when it
// returns, and reports its users as joined again.
func TestReapedNodeReturns(t *testing.T) {
	srv := redistest.Start(t)
	nodes := newCluster(t, srv, 2, nil)
	a, b := nodes[0], nodes[1]
	announce(a)
	announce(b)
	ra, _ := subscribe(t, a, "presence-z")
	ctx := context.Background()
	if _, err := b.hub.AddMember(ctx, "presence-z", "u7", json.RawMessage(`{"x":1}`), b.hub.NewID()); err != nil {
		t.Fatal(err)
	}
	// What a long pause of B looks like from Redis: its deadline passes
	// and A reaps it. B's own heartbeat may renew its deadline between the
	// two steps, and then there is nothing to reap: expire it again.
	waitFor(t, 5*time.Second, "A to reap B", func() bool {
		if err := scriptExpire.Run(ctx, a.bus.client, nil, a.bus.p, b.bus.id).Err(); err != nil {
			t.Fatal(err)
		}
		if err := a.bus.reap(ctx); err != nil {
			t.Fatal(err)
		}
		return a.bus.stats.reapedNodes.Load() > 0
	})
	waitFor(t, 5*time.Second, "u7 removed then added back", func() bool {
		return slices.Equal(ra.got(), []string{"removed:u7", "added:u7"})
	})
	if got := userIDs(t, a, "presence-z"); !slices.Equal(got, []string{"u7"}) {
		t.Errorf("members = %q, want u7 back", got)
	}
	if got := b.recorded(); len(got) != 1 || !got[0].Added || string(got[0].Info) != `{"x":1}` {
		t.Errorf("B reported %+v, want u7 added with its info", got)
	}
}
