package redis

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/internal/redistest"
)

// topologyTimers sets heartbeats of 500 ms, not the usual 200, for the
// tests on several servers: a link whose PING goes unanswered for a
// heartbeat (each primary's, on a cluster), or that misses two Sentinel
// probes, restarts, and on a loaded machine that would lose messages the
// tests expect. With -v the nodes log to stderr.
func topologyTimers(o *Options) {
	o.HeartbeatInterval, o.PresenceTTL = 500*time.Millisecond, 2*time.Second
	if testing.Verbose() {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
}

// channelsOnEveryShard returns n channel names whose Redis channels
// spread over many slots (and so over every primary of a 3-primary
// cluster).
func channelsOnEveryShard(n int) []string {
	return seq("room-", n)
}

// checkDelivery subscribes channels on b, publishes k messages to each
// from a, and checks that b got them all, in order.
func checkDelivery(t *testing.T, a, b *node, channels []string, k int) {
	t.Helper()
	recs := make([]*recorder, len(channels))
	for i, ch := range channels {
		recs[i], _ = subscribe(t, b, ch)
	}
	for j := range k {
		for _, ch := range channels {
			publish(t, a, ch, fmt.Sprintf("%s/%d", ch, j))
		}
	}
	for i, ch := range channels {
		want := seq(ch+"/", k)
		waitFor(t, 10*time.Second, "delivery on "+ch, func() bool { return recs[i].count() >= k })
		if got := recs[i].got(); !slices.Equal(got, want) {
			t.Errorf("%s: got %q, want %q", ch, got, want)
		}
	}
}

// The nodes of a Redis Cluster deliver to each other through sharded
// pub/sub, and share presence, counts and the key/value store.
func TestClusterBus(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 0)
	prefix := uniquePrefix(t)
	a := newNodeURL(t, rc.URL(), prefix, topologyTimers)
	b := newNodeURL(t, rc.URL(), prefix, topologyTimers)
	if a.bus.cluster == nil {
		t.Fatal("a redis-cluster:// URL did not make a cluster client")
	}
	channels := channelsOnEveryShard(30)
	checkDelivery(t, a, b, channels, 20)

	// The channels live on every primary, and messages went by SPUBLISH:
	// each primary counts its shard channels (PUBSUB SHARDNUMSUB) and no
	// classic subscriptions (PUBSUB NUMSUB).
	owners := map[string]bool{}
	for _, ch := range channels {
		owners[rc.PrimaryOf(t, keySlot(a.bus.mp+ch), time.Second).Addr] = true
	}
	if len(owners) != 3 {
		t.Errorf("30 channels on %d primaries, want all 3", len(owners))
	}
	for _, ch := range channels[:3] {
		p := rc.PrimaryOf(t, keySlot(a.bus.mp+ch), time.Second)
		out, err := rc.Do(p.Addr, "pubsub", "shardnumsub", a.bus.mp+ch)
		if err != nil || !strings.HasSuffix(out, "\n1") {
			t.Errorf("PUBSUB SHARDNUMSUB %s on its primary = %q, %v; want 1 subscriber", ch, out, err)
		}
	}

	// State keys share one slot: the hash tag {prefix}.
	ctx := context.Background()
	if added, err := a.hub.AddMember(ctx, "presence-c", "u1", nil, a.hub.NewID()); err != nil || !added {
		t.Fatalf("AddMember on A = %v, %v", added, err)
	}
	if added, err := b.hub.AddMember(ctx, "presence-c", "u1", nil, b.hub.NewID()); err != nil || added {
		t.Errorf("AddMember of the same user on B = %v, %v; want not added (already a member)", added, err)
	}
	if got := userIDs(t, b, "presence-c"); !slices.Equal(got, []string{"u1"}) {
		t.Errorf("members on B = %q, want [u1]", got)
	}
	p := rc.PrimaryOf(t, keySlot(a.bus.p), time.Second)
	if out, err := rc.Do(p.Addr, "exists", a.bus.p+"pm:presence-c"); err != nil || out != "1" {
		t.Errorf("EXISTS %spm:presence-c on the primary of {%s} = %q, %v", a.bus.p, prefix, out, err)
	}
	waitFor(t, 5*time.Second, "counts of B's subscriptions seen on A", func() bool {
		n, err := a.hub.ClusterSubscriberCount(ctx, channels[0])
		return err == nil && n == 1
	})
	if err := a.hub.Shared().Set(ctx, "space", "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := b.hub.Shared().Get(ctx, "space", "k"); err != nil || !ok || string(v) != "v" {
		t.Errorf("Shared Get on B = %q, %v, %v", v, ok, err)
	}
	// The work queues too: appended on A, leased, read and acknowledged on
	// B; the stream's byte count is in the slot of {prefix} with it, and
	// bounds it.
	var dropped atomic.Int64
	limits := bus.QueueLimits{MaxLen: 10, MaxBytes: 4, MaxAge: time.Minute, OnDrop: func(n int) { dropped.Add(int64(n)) }}
	qa := a.bus.Queues().Queue("hooks/x", limits)
	qa.Append([]byte("e0"))
	qb := b.bus.Queues().Queue("hooks/x", limits)
	if ok, err := qb.Lease(ctx, "b", time.Second); !ok || err != nil {
		t.Errorf("Lease on B = %v, %v", ok, err)
	}
	var got []bus.QueueEntry
	waitFor(t, 5*time.Second, "A's entry read on B", func() bool { got, _ = qb.Read(ctx, 10); return len(got) == 1 })
	if out, err := rc.Do(p.Addr, "get", a.bus.p+"qb:hooks/x"); err != nil || out != "2" {
		t.Errorf("GET %sqb:hooks/x on the primary of {%s} = %q, %v; want 2", a.bus.p, prefix, out, err)
	}
	qa.Append([]byte("e1e1"))
	waitFor(t, 5*time.Second, "an entry over MaxBytes refused", func() bool { return dropped.Load() == 1 })
	if err := qb.Ack(ctx, got[0].ID); err != nil {
		t.Errorf("Ack on B: %v", err)
	}
	if st, err := qb.Stats(ctx); err != nil || st.Len != 0 {
		t.Errorf("Stats after Ack = %+v, %v", st, err)
	}
	qa.Append([]byte("e2e2"))
	waitFor(t, 5*time.Second, "an entry that fits after the Ack", func() bool { got, _ = qb.Read(ctx, 10); return len(got) == 1 })
	if n, err := qb.Expire(ctx, time.Now().Add(time.Minute)); err != nil || n != 1 || dropped.Load() != 1 {
		t.Errorf("Expire on B = %d, %v (%d dropped); want 1 (1 dropped)", n, err, dropped.Load())
	}
	if out, err := rc.Do(p.Addr, "exists", a.bus.p+"qb:hooks/x"); err != nil || out != "0" {
		t.Errorf("EXISTS %sqb:hooks/x after the last entry went = %q, %v", a.bus.p, out, err)
	}
}

// A cluster key prefix with braces would break the hash tag.
func TestClusterKeyPrefixBraces(t *testing.T) {
	_, err := New(&Options{URL: "redis-cluster://127.0.0.1:7000", KeyPrefix: "a{b}:"})
	if err == nil || !strings.Contains(err.Error(), "hash tag") {
		t.Errorf("New with a braced prefix on a cluster: %v, want a hash tag error", err)
	}
}

// The nodes of a Sentinel set deliver to each other through its primary.
func TestSentinelBus(t *testing.T) {
	ss := redistest.StartSentinel(t, 1)
	prefix := uniquePrefix(t)
	a := newNodeURL(t, ss.URL(), prefix, topologyTimers)
	b := newNodeURL(t, ss.URL(), prefix, topologyTimers)
	checkDelivery(t, a, b, seq("room-", 5), 20)
	if added, err := a.hub.AddMember(context.Background(), "presence-s", "u1", nil, a.hub.NewID()); err != nil || !added {
		t.Fatalf("AddMember on A = %v, %v", added, err)
	}
	if got := userIDs(t, b, "presence-s"); !slices.Equal(got, []string{"u1"}) {
		t.Errorf("members on B = %q, want [u1]", got)
	}
}

// traffic publishes numbered messages from a to channels, one channel
// after another every tick, until stopped, and remembers when each was
// published.
type traffic struct {
	channels []string
	stop     chan struct{}
	done     chan struct{}

	mu   sync.Mutex
	sent map[string][]time.Time // channel -> publish time of message i
}

func startTraffic(t *testing.T, a *node, channels []string, tick time.Duration) *traffic {
	tr := &traffic{channels: channels, stop: make(chan struct{}), done: make(chan struct{}), sent: map[string][]time.Time{}}
	go func() {
		defer close(tr.done)
		tk := time.NewTicker(tick)
		defer tk.Stop()
		for i := 0; ; i++ {
			select {
			case <-tr.stop:
				return
			case <-tk.C:
			}
			ch := channels[i%len(channels)]
			tr.mu.Lock()
			n := len(tr.sent[ch])
			tr.sent[ch] = append(tr.sent[ch], time.Now())
			tr.mu.Unlock()
			if err := a.hub.Publish(context.Background(), ch, fmt.Appendf(nil, "%d", n), hub.NoID); err != nil {
				t.Errorf("publish: %v", err)
				return
			}
		}
	}()
	t.Cleanup(tr.halt)
	return tr
}

func (tr *traffic) halt() {
	select {
	case <-tr.stop:
	default:
		close(tr.stop)
	}
	<-tr.done
}

func (tr *traffic) count(ch string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.sent[ch])
}

// checkLoss checks what each recorder got of its channel's traffic: no
// duplicates, in order, and every message not delivered either in flight
// at from (published before it, its index at least delivered[ch], the
// count delivered just before) or published within [from, to]: what the
// documentation allows to lose. With late, a message in flight at from or
// published within [from, to] may also arrive after later ones (seen on a
// manual cluster failover; see docs/clustering.md).
func (tr *traffic) checkLoss(t *testing.T, recs map[string]*recorder, delivered map[string]int, from, to time.Time, late bool) (lost int) {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for ch, r := range recs {
		inFlight := func(i int) bool { return i >= delivered[ch] && tr.sent[ch][i].Before(from) }
		got := r.got()
		seen := make(map[int]bool, len(got))
		last := -1
		for _, s := range got {
			var i int
			if _, err := fmt.Sscan(s, &i); err != nil || i < 0 || i >= len(tr.sent[ch]) {
				t.Fatalf("%s: bad payload %q", ch, s)
			}
			switch {
			case seen[i]:
				t.Errorf("%s: %d delivered twice", ch, i)
			case i < last && !(late && (inFlight(i) || !tr.sent[ch][i].After(to))):
				t.Errorf("%s: %d delivered after %d", ch, i, last)
			}
			seen[i], last = true, max(last, i)
		}
		for i, at := range tr.sent[ch] {
			if seen[i] {
				continue
			}
			lost++
			if !inFlight(i) && (at.Before(from) || at.After(to)) {
				t.Errorf("%s: message %d, published %s after the failure, was lost, outside the window [0, %s] (and not in flight then)",
					ch, i, at.Sub(from).Round(time.Millisecond), to.Sub(from).Round(time.Millisecond))
			}
		}
	}
	return lost
}

// failoverBound is the documented bound of a failover in the tests: the
// time the servers take to replace the primary (NodeTimeout and an
// election, allowed three seconds on a loaded machine), a reconnection
// (ReconnectMax), two heartbeats for the nodes to find the new primary
// and report up, and a command's timeout.
func failoverBound(o *Options) time.Duration {
	return redistest.NodeTimeout + 3*time.Second + o.ReconnectMax + 2*o.HeartbeatInterval + o.OpTimeout
}

// runFailover checks delivery and presence across a failover made by
// fail: traffic flows from A to subscribers on B on every channel; after
// fail, both nodes come back up, delivery resumes, and what was lost was
// in flight at the failure or published within failoverBound of it. Presence is right on
// both nodes, with each user added and removed once.
func runFailover(t *testing.T, url string, channels []string, late bool, fail func(a *Bus)) {
	prefix := uniquePrefix(t)
	a := newNodeURL(t, url, prefix, topologyTimers)
	b := newNodeURL(t, url, prefix, topologyTimers)
	ctx := context.Background()
	recs := map[string]*recorder{}
	for _, ch := range channels {
		recs[ch], _ = subscribe(t, b, ch)
	}
	// u1 on A and u2 on B, before the failure.
	if _, err := a.hub.AddMember(ctx, "presence-f", "u1", nil, a.hub.NewID()); err != nil {
		t.Fatal(err)
	}
	u2 := b.hub.NewID()
	if _, err := b.hub.AddMember(ctx, "presence-f", "u2", nil, u2); err != nil {
		t.Fatal(err)
	}
	tr := startTraffic(t, a, channels, 2*time.Millisecond)
	waitFor(t, 5*time.Second, "traffic flowing", func() bool { return recs[channels[0]].count() > 10 })

	delivered := map[string]int{}
	for _, ch := range channels {
		delivered[ch] = recs[ch].count()
	}
	failedAt := time.Now()
	fail(a.bus)
	for _, n := range []*node{a, b} {
		waitFor(t, 20*time.Second, "nodes down then up", func() bool {
			s := n.bus.Stats()
			return s.Outages >= 1 && s.Up
		})
	}
	upAt := time.Now()
	// Delivery resumed: messages published from now on all arrive.
	marks := map[string]int{}
	for _, ch := range channels {
		marks[ch] = tr.count(ch)
	}
	waitFor(t, 10*time.Second, "delivery after the failover", func() bool {
		for _, ch := range channels {
			if tr.count(ch) < marks[ch]+5 {
				return false
			}
		}
		return true
	})
	tr.halt()
	for _, ch := range channels {
		want := tr.count(ch)
		waitFor(t, 10*time.Second, "the last messages on "+ch, func() bool {
			got := recs[ch].got()
			return len(got) > 0 && got[len(got)-1] == fmt.Sprint(want-1)
		})
	}
	bound := failoverBound(&a.bus.opts)
	// The window closes when both nodes are back, and within the bound.
	lost := tr.checkLoss(t, recs, delivered, failedAt, upAt, late)
	t.Logf("failover: nodes up again after %s; %d messages of %d lost (bound %s)",
		upAt.Sub(failedAt).Round(time.Millisecond), lost, tr.total(), bound)
	if upAt.Sub(failedAt) > bound {
		t.Errorf("nodes up %s after the failure, over the bound %s", upAt.Sub(failedAt), bound)
	}

	// Presence: both users on both nodes, and no member change reported
	// by the failover (nobody joined or left).
	for _, n := range []*node{a, b} {
		if got := userIDs(t, n, "presence-f"); !slices.Equal(got, []string{"u1", "u2"}) {
			t.Errorf("members after the failover = %q, want [u1 u2]", got)
		}
		if got := n.recorded(); len(got) != 0 {
			t.Errorf("member changes reported across the failover: %+v", got)
		}
	}
	// After it: u3 joins on A then on B, u2 leaves: each once.
	if added, _ := a.hub.AddMember(ctx, "presence-f", "u3", nil, a.hub.NewID()); !added {
		t.Error("u3 not added on A after the failover")
	}
	if added, _ := b.hub.AddMember(ctx, "presence-f", "u3", nil, b.hub.NewID()); added {
		t.Error("u3 added twice")
	}
	if removed, _ := b.hub.RemoveMember(ctx, "presence-f", "u2", u2); !removed {
		t.Error("u2 not removed after the failover")
	}
	if got := userIDs(t, a, "presence-f"); !slices.Equal(got, []string{"u1", "u3"}) {
		t.Errorf("members on A at the end = %q, want [u1 u3]", got)
	}
}

func (tr *traffic) total() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	for _, s := range tr.sent {
		n += len(s)
	}
	return n
}

// Killing a cluster primary during traffic: its replica takes over, the
// nodes come back within the bound, and only messages published within
// it are lost. The primary killed serves the nodes' state keys and some of
// the channels. The same when an operator asks for the failover.
func TestClusterFailover(t *testing.T) {
	for _, tt := range []struct {
		name string
		late bool // a message in flight at the failure may arrive after later ones
		fail func(t *testing.T, rc *redistest.Cluster, primary *redistest.Server)
	}{
		{"kill the primary", false, func(t *testing.T, rc *redistest.Cluster, primary *redistest.Server) { primary.Stop() }},
		// The replica takes over with the primary's agreement; the former
		// primary pauses writes meanwhile, then lives on as its replica.
		{"CLUSTER FAILOVER", true, func(t *testing.T, rc *redistest.Cluster, primary *redistest.Server) {
			r := rc.ReplicaOf(t, primary)
			if out, err := rc.Do(r.Addr, "cluster", "failover"); err != nil || out != "OK" {
				t.Fatalf("CLUSTER FAILOVER: %q %v", out, err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rc := redistest.StartCluster(t, 3, 1)
			runFailover(t, rc.URL(), channelsOnEveryShard(12), tt.late, func(a *Bus) {
				slot := keySlot(a.p)
				victim := rc.PrimaryOf(t, slot, time.Second)
				tt.fail(t, rc, victim)
				if p := rc.PrimaryOf(t, slot, 20*time.Second); p == victim {
					t.Fatalf("slot %d still on the former primary", slot)
				}
			})
		})
	}
}

// Killing the primary of a Sentinel set during traffic: the sentinels
// promote the replica, and the nodes follow within the bound.
//
// The same when an operator asks for the failover (SENTINEL FAILOVER): the
// old primary lives on as a replica, and the sentinels disconnect its
// clients.
func TestSentinelFailover(t *testing.T) {
	for _, tt := range []struct {
		name string
		fail func(t *testing.T, ss *redistest.SentinelSet)
	}{
		{"kill the primary", func(t *testing.T, ss *redistest.SentinelSet) { ss.Primary.Stop() }},
		{"SENTINEL FAILOVER", func(t *testing.T, ss *redistest.SentinelSet) {
			if out, err := ss.Do(ss.Sentinels[0].Addr, "sentinel", "failover", redistest.MasterName); err != nil || out != "OK" {
				t.Fatalf("SENTINEL FAILOVER: %q %v", out, err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ss := redistest.StartSentinel(t, 1)
			runFailover(t, ss.URL(), seq("room-", 4), false, func(*Bus) {
				tt.fail(t, ss)
				ss.WaitPrimary(t, ss.Primary.Addr, 30*time.Second)
			})
		})
	}
}

// A resharding that moves a subscribed channel's slot to another primary:
// the old primary unsubscribes the node, which restarts its link on the
// new slot map; delivery resumes.
func TestClusterReshard(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 0)
	prefix := uniquePrefix(t)
	a := newNodeURL(t, rc.URL(), prefix, topologyTimers)
	b := newNodeURL(t, rc.URL(), prefix, topologyTimers)
	r, _ := subscribe(t, b, "moving")
	publish(t, a, "moving", "before")
	waitFor(t, 5*time.Second, "delivery before the move", func() bool { return slices.Contains(r.got(), "before") })
	connects := b.bus.stats.connects.Load()

	slot := keySlot(b.bus.mp + "moving")
	from := rc.PrimaryOf(t, slot, time.Second)
	to := rc.Nodes[0]
	if to == from {
		to = rc.Nodes[1]
	}
	rc.MoveSlot(t, slot, to)
	waitFor(t, 10*time.Second, "B's link restarted", func() bool { return b.bus.stats.connects.Load() > connects && b.bus.Up() })
	// A's client learns the move from a MOVED reply (that publish is
	// dropped): publish until one arrives.
	for i := 0; ; i++ {
		publish(t, a, "moving", fmt.Sprint("after-", i))
		if slices.ContainsFunc(r.got(), func(s string) bool { return strings.HasPrefix(s, "after-") }) {
			break
		}
		if i == 200 {
			t.Fatalf("no delivery after the move; got %q", r.got())
		}
		time.Sleep(20 * time.Millisecond) // a publish every 20 ms until one crosses, bounded above
	}
	out, err := rc.Do(to.Addr, "pubsub", "shardnumsub", b.bus.mp+"moving")
	if err != nil || !strings.HasSuffix(out, "\n1") {
		t.Errorf("PUBSUB SHARDNUMSUB on the new primary = %q, %v; want 1", out, err)
	}
}
