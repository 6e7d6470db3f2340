package redis

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/internal/edgetest"
	"github.com/switchboard-rt/switchboard/internal/redistest"
)

// The edge store on one Redis passes the conformance table, with two nodes
// sharing it.
func TestEdgesConformance(t *testing.T) {
	srv := redistest.Start(t)
	edgetest.Run(t, func(t *testing.T, clock *edgetest.Clock) []bus.EdgeStore {
		nodes := newCluster(t, srv, 2, func(o *Options) { o.Clock = clock.Now })
		return []bus.EdgeStore{nodes[0].bus.edges, nodes[1].bus.edges}
	})
}

// On a Redis Cluster too: every edge key is in the slot of {KeyPrefix}, so
// each script touches one slot.
func TestEdgesConformanceCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	c := redistest.StartCluster(t, 3, 0)
	edgetest.Run(t, func(t *testing.T, clock *edgetest.Clock) []bus.EdgeStore {
		prefix := uniquePrefix(t)
		a := newNodeURL(t, c.URL(), prefix, func(o *Options) { o.Clock = clock.Now })
		b := newNodeURL(t, c.URL(), prefix, func(o *Options) { o.Clock = clock.Now })
		return []bus.EdgeStore{a.bus.edges, b.bus.edges}
	})
}

// Two nodes that take and release a key at the same moment, round after
// round, make exactly one up and one down per round between them.
func TestEdgesRace(t *testing.T) {
	srv := redistest.Start(t)
	nodes := newCluster(t, srv, 2, nil)
	ctx := context.Background()
	const rounds = 50
	count := func(held bool) (ups, downs int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, n := range nodes {
			wg.Go(func() {
				<-start
				s, err := n.bus.edges.Hold(ctx, "race", "k", held, 0)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				switch s.Edge {
				case bus.EdgeUp:
					ups++
				case bus.EdgeDown:
					downs++
				}
				mu.Unlock()
			})
		}
		close(start)
		wg.Wait()
		return ups, downs
	}
	for i := range rounds {
		if ups, downs := count(true); ups != 1 || downs != 0 {
			t.Fatalf("round %d: both nodes took the key: %d ups, %d downs; want 1 up", i, ups, downs)
		}
		if ups, downs := count(false); ups != 0 || downs != 1 {
			t.Fatalf("round %d: both nodes released the key: %d ups, %d downs; want 1 down", i, ups, downs)
		}
	}
}

// A key whose only holder dies goes down once, reported by a survivor's
// sweep through Watch, a grace after the reaping; a key whose grace ends
// after the node that was to settle it died goes down the same way.
func TestEdgesNodeLoss(t *testing.T) {
	srv := redistest.Start(t)
	nodes := newCluster(t, srv, 3, nil)
	a, b, c := nodes[0], nodes[1], nodes[2]
	var mu sync.Mutex
	var got []bus.EdgeChange
	for _, n := range []*node{b, c} {
		n.hub.OnEdgeChange(func(e bus.EdgeChange) {
			mu.Lock()
			got = append(got, e)
			mu.Unlock()
		})
	}
	ctx := context.Background()
	const grace = 300 * time.Millisecond
	hold := func(n *node, key string, held bool) bus.Settled {
		t.Helper()
		s, err := n.bus.edges.Hold(ctx, "loss", key, held, grace)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := hold(a, "held-by-dead", true); s.Edge != bus.EdgeUp {
		t.Fatalf("first hold: %+v", s)
	}
	hold(a, "left-before-death", true)
	if s := hold(a, "left-before-death", false); s.Wait <= 0 {
		t.Fatalf("release: %+v, want a grace", s)
	}
	hold(b, "still-held", true)
	hold(a, "still-held", true)
	died := time.Now()
	a.bus.crash()
	waitFor(t, 10*time.Second, "both down edges", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 2
	})
	beatsAfter(t, 3, b, c) // time for a wrong third report
	mu.Lock()
	defer mu.Unlock()
	want := map[string]bool{"held-by-dead": true, "left-before-death": true}
	if len(got) != 2 {
		t.Fatalf("got %d flips %+v, want 2", len(got), got)
	}
	for _, e := range got {
		if e.Space != "loss" || !want[e.Key] || e.Edge != bus.EdgeDown {
			t.Fatalf("unexpected flip %+v", e)
		}
		delete(want, e.Key)
	}
	if late := time.Since(died); late > 800*time.Millisecond+grace+5*200*time.Millisecond {
		t.Errorf("down edges %s after the death; want within the TTL, the grace and a few beats", late)
	}
	keys, err := b.bus.edges.Reported(ctx, "loss", "", 10)
	if err != nil || len(keys) != 1 || keys[0] != "still-held" {
		t.Fatalf("Reported = %q, %v; want [still-held]", keys, err)
	}
}

// While Redis is down, Hold fails and the node keeps its holdings; when
// Redis is back (here empty: a restart without persistence), the heartbeat
// writes them back and reports the flips that makes through Watch. What
// the restart lost cannot be known: a key held throughout is reported up
// again, and one released during the outage gets no down (docs/pusher.md
// states both).
func TestEdgesWriteBack(t *testing.T) {
	srv := redistest.Start(t)
	n := newCluster(t, srv, 1, nil)[0]
	var mu sync.Mutex
	var got []bus.EdgeChange
	n.hub.OnEdgeChange(func(e bus.EdgeChange) {
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
	})
	ctx := context.Background()
	for _, k := range []string{"kept", "released"} {
		if s, err := n.bus.edges.Hold(ctx, "wb", k, true, time.Second); err != nil || s.Edge != bus.EdgeUp {
			t.Fatalf("hold %s: %+v %v", k, s, err)
		}
	}
	srv.Stop()
	waitFor(t, 10*time.Second, "the node to see Redis down", func() bool { return n.bus.Ready(ctx) != nil })
	if _, err := n.bus.edges.Hold(ctx, "wb", "released", false, time.Second); !errors.Is(err, bus.ErrSharedUnavailable) {
		t.Fatalf("release during the outage: %v, want ErrSharedUnavailable", err)
	}
	if _, err := n.bus.edges.Hold(ctx, "wb", "new", true, time.Second); err == nil {
		t.Fatal("hold during the outage succeeded")
	}
	srv.Restart(t)
	waitFor(t, 10*time.Second, "the flips of the write-back", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 2
	})
	mu.Lock()
	defer mu.Unlock()
	slices.SortFunc(got, func(a, b bus.EdgeChange) int { return strings.Compare(a.Key, b.Key) })
	want := []bus.EdgeChange{{Space: "wb", Key: "kept", Edge: bus.EdgeUp}, {Space: "wb", Key: "new", Edge: bus.EdgeUp}}
	if !slices.Equal(got, want) {
		t.Fatalf("write-back flips %+v, want %+v", got, want)
	}
	keys, err := n.bus.edges.Reported(ctx, "wb", "", 10)
	if err != nil || !slices.Equal(keys, []string{"kept", "new"}) {
		t.Fatalf("Reported = %q, %v", keys, err)
	}
}
