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

// The store behaves like hub.MemoryPresence on one node (the same table as
// hub's TestPresence).
func TestPresenceLikeMemory(t *testing.T) {
	srv := redistest.Start(t)
	type step struct {
		op      string // "add", "remove"
		channel string
		user    string
		id      bus.SubscriberID
		want    bool
	}
	tests := []struct {
		name        string
		steps       []step
		wantMembers map[string][]string
	}{
		{"join and leave", []step{{"add", "p", "u1", 1, true}, {"remove", "p", "u1", 1, true}}, map[string][]string{"p": {}}},
		{"two connections of one user are one member", []step{
			{"add", "p", "u1", 1, true}, {"add", "p", "u1", 2, false},
			{"remove", "p", "u1", 1, false}, {"remove", "p", "u1", 2, true},
		}, map[string][]string{"p": {}}},
		{"adding a connection twice", []step{{"add", "p", "u1", 1, true}, {"add", "p", "u1", 1, false}, {"remove", "p", "u1", 1, true}}, map[string][]string{"p": {}}},
		{"removing what is not there", []step{
			{"add", "p", "u1", 1, true}, {"remove", "p", "u1", 2, false}, {"remove", "p", "u2", 1, false}, {"remove", "q", "u1", 1, false},
		}, map[string][]string{"p": {"u1"}}},
		{"users and channels", []step{
			{"add", "p", "u2", 1, true}, {"add", "p", "u1", 2, true}, {"add", "q", "u1", 2, true},
		}, map[string][]string{"p": {"u1", "u2"}, "q": {"u1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newCluster(t, srv, 1, nil)[0]
			ctx := context.Background()
			for i, s := range tt.steps {
				var got bool
				var err error
				if s.op == "add" {
					got, err = n.hub.AddMember(ctx, s.channel, s.user, json.RawMessage(`{"n":1}`), s.id)
				} else {
					got, err = n.hub.RemoveMember(ctx, s.channel, s.user, s.id)
				}
				if err != nil || got != s.want {
					t.Fatalf("step %d %+v: got %v, %v; want %v", i, s, got, err, s.want)
				}
			}
			for ch, want := range tt.wantMembers {
				if got := userIDs(t, n, ch); !slices.Equal(got, want) {
					t.Errorf("members of %s = %q, want %q", ch, got, want)
				}
			}
		})
	}
}

func userIDs(t testing.TB, n *node, channel string) []string {
	t.Helper()
	ms, err := n.hub.Members(context.Background(), channel)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, m := range ms {
		out = append(out, m.UserID)
	}
	return out
}

// A user joins once and leaves once for the whole cluster, whatever node
// its connections are on; every node lists the same members, with the info
// of the user's first connection.
func TestPresenceAcrossNodes(t *testing.T) {
	srv := redistest.Start(t)
	nodes := newCluster(t, srv, 3, nil)
	a, b, c := nodes[0], nodes[1], nodes[2]
	ctx := context.Background()
	must := func(got bool, err error) bool {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	ida, idb, idc := a.hub.NewID(), b.hub.NewID(), c.hub.NewID()
	if !must(a.hub.AddMember(ctx, "presence-x", "u1", json.RawMessage(`{"name":"one"}`), ida)) {
		t.Error("u1's first connection (on A) did not join")
	}
	if must(b.hub.AddMember(ctx, "presence-x", "u1", json.RawMessage(`{"name":"other"}`), idb)) {
		t.Error("u1's second connection (on B) joined again")
	}
	if !must(c.hub.AddMember(ctx, "presence-x", "u2", nil, idc)) {
		t.Error("u2 (on C) did not join")
	}
	for i, n := range nodes {
		ms, err := n.hub.Members(ctx, "presence-x")
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 2 || ms[0].UserID != "u1" || string(ms[0].Info) != `{"name":"one"}` || ms[1].UserID != "u2" || ms[1].Info != nil {
			t.Errorf("node %d members: %+v", i, ms)
		}
	}
	if must(a.hub.RemoveMember(ctx, "presence-x", "u1", ida)) {
		t.Error("u1 left while still connected through B")
	}
	if !must(b.hub.RemoveMember(ctx, "presence-x", "u1", idb)) {
		t.Error("u1's last connection (on B) did not leave")
	}
	if got := userIDs(t, a, "presence-x"); !slices.Equal(got, []string{"u2"}) {
		t.Errorf("members after u1 left: %q", got)
	}
}

// Subscription and connection counts answer for the whole cluster.
func TestCountsAcrossNodes(t *testing.T) {
	srv := redistest.Start(t)
	nodes := newCluster(t, srv, 3, nil)
	ctx := context.Background()
	subscribe(t, nodes[0], "app/a")
	subscribe(t, nodes[1], "app/a")
	_, id := subscribe(t, nodes[1], "app/a")
	subscribe(t, nodes[2], "app/b")
	subscribe(t, nodes[2], "zzz")
	nodes[0].hub.AddConnections("app", 2)
	nodes[2].hub.AddConnections("app", 1)

	want := []hub.ChannelInfo{{Name: "app/a", Subscribers: 3}, {Name: "app/b", Subscribers: 1}}
	for i, n := range nodes {
		waitFor(t, 5*time.Second, "cluster counts on every node", func() bool {
			got, err := n.hub.ClusterChannels(ctx, "app/")
			c, _ := n.hub.ConnectionCount(ctx, "app")
			return err == nil && slices.Equal(got, want) && c == 3
		})
		if got, _ := n.hub.ClusterSubscriberCount(ctx, "app/a"); got != 3 {
			t.Errorf("node %d: ClusterSubscriberCount = %d, want 3", i, got)
		}
	}
	nodes[1].hub.Unsubscribe("app/a", id)
	waitFor(t, 5*time.Second, "the unsubscribe to count on A", func() bool {
		n, _ := nodes[0].hub.ClusterSubscriberCount(ctx, "app/a")
		return n == 2
	})
	all, _ := nodes[0].hub.ClusterChannels(ctx, "")
	if len(all) != 3 {
		t.Errorf("ClusterChannels(\"\") = %+v, want 3 channels", all)
	}
	kcs, _ := nodes[1].hub.ConnectionCounts(ctx, "")
	if !slices.Equal(kcs, []bus.KeyCount{{Key: "app", Count: 3}}) {
		t.Errorf("ConnectionCounts = %+v", kcs)
	}
}

// The shared store is one store for all nodes; values expire.
func TestSharedAcrossNodes(t *testing.T) {
	srv := redistest.Start(t)
	// Not a test of outages: patient timers, so that a loaded machine's
	// slow heartbeat does not take Redis for gone mid-test.
	nodes := newCluster(t, srv, 2, func(o *Options) {
		o.HeartbeatInterval, o.PresenceTTL, o.OpTimeout = time.Second, 5*time.Second, 5*time.Second
	})
	ctx := context.Background()
	sa, sb := nodes[0].hub.Shared(), nodes[1].hub.Shared()
	if err := sa.Set(ctx, "tokens/registered", "tok1", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	if err := sa.Set(ctx, "tokens/registered", "tok2", []byte("0"), 0); err != nil {
		t.Fatal(err)
	}
	if err := sa.Set(ctx, "atmosphere/session", "h1", []byte("user"), 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	v, ok, err := sb.Get(ctx, "tokens/registered", "tok1")
	if err != nil || !ok || string(v) != "1" {
		t.Errorf("Get on B = %q, %v, %v", v, ok, err)
	}
	all, err := sb.All(ctx, "tokens/registered")
	if err != nil || len(all) != 2 || string(all["tok2"]) != "0" {
		t.Errorf("All on B = %q, %v", all, err)
	}
	if _, ok, _ := sb.Get(ctx, "atmosphere/session", "h1"); !ok {
		t.Error("the expiring value is missing before its TTL")
	}
	waitFor(t, 5*time.Second, "the value to expire", func() bool {
		_, ok, err := sb.Get(ctx, "atmosphere/session", "h1")
		return err == nil && !ok
	})
	if err := sb.Delete(ctx, "tokens/registered", "tok1"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := sa.Get(ctx, "tokens/registered", "tok1"); ok {
		t.Error("a deleted value is still there")
	}
}
