// Package edgetest is the conformance test of bus.EdgeStore
// implementations: one table of steps, on an injected clock, that the
// in-memory store and the Redis store (one server, a Redis Cluster) must
// all pass alike. It is for tests only.
package edgetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/bus"
)

// Clock is a clock that moves only when told: the grace periods of a
// store built on it pass without sleeping.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at a fixed time.
func NewClock() *Clock { return &Clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Stores builds, for one case, stores that share their state as the nodes
// of one cluster do (one store for an in-memory one, which serves a single
// node), all on clock.
type Stores func(t *testing.T, clock *Clock) []bus.EdgeStore

// step is one step of a case: a call on node's store, or the clock moving.
type step struct {
	node    int
	op      string // "hold", "release", "settle", "advance"
	key     string
	d       time.Duration // grace of hold/release, or the advance
	edge    bus.Edge      // want
	wait    time.Duration // want
	listed  []string      // want Reported("s", "", 10) after the step, when non-nil
	comment string
}

const grace = 3 * time.Second

var cases = []struct {
	name  string
	nodes int
	steps []step
}{
	{"a real leave goes down once, after the grace", 1, []step{
		{op: "hold", key: "k", d: grace, edge: bus.EdgeUp, listed: []string{"k"}},
		{op: "release", key: "k", d: grace, wait: grace, listed: []string{"k"}},
		{op: "advance", d: grace - time.Millisecond},
		{op: "settle", key: "k", wait: time.Millisecond},
		{op: "advance", d: time.Millisecond},
		{op: "settle", key: "k", edge: bus.EdgeDown, listed: []string{}},
		{op: "settle", key: "k", comment: "a second settle finds nothing to do"},
	}},
	{"a reload within the grace reports nothing", 1, []step{
		{op: "hold", key: "k", d: grace, edge: bus.EdgeUp},
		{op: "release", key: "k", d: grace, wait: grace},
		{op: "advance", d: time.Second},
		{op: "hold", key: "k", d: grace, comment: "back within the grace: no up"},
		{op: "advance", d: 5 * time.Second},
		{op: "settle", key: "k", comment: "the pending settle finds it live: no down"},
	}},
	{"the grace runs from the last departure", 1, []step{
		{op: "hold", key: "k", d: grace, edge: bus.EdgeUp},
		{op: "release", key: "k", d: grace, wait: grace},
		{op: "advance", d: 2 * time.Second},
		{op: "hold", key: "k", d: grace},
		{op: "advance", d: 500 * time.Millisecond},
		{op: "release", key: "k", d: grace, wait: grace},
		{op: "advance", d: 2 * time.Second},
		{op: "settle", key: "k", wait: time.Second, comment: "the first departure's settle is early for the second"},
		{op: "advance", d: time.Second},
		{op: "settle", key: "k", edge: bus.EdgeDown},
	}},
	{"no grace goes down at once", 1, []step{
		{op: "hold", key: "k", edge: bus.EdgeUp},
		{op: "release", key: "k", edge: bus.EdgeDown, listed: []string{}},
	}},
	{"a key never reported never goes down", 1, []step{
		{op: "release", key: "k", d: grace},
		{op: "settle", key: "k"},
		{op: "settle", key: "never"},
	}},
	{"keys are independent and listed sorted", 1, []step{
		{op: "hold", key: "b", d: grace, edge: bus.EdgeUp},
		{op: "hold", key: "a", d: grace, edge: bus.EdgeUp, listed: []string{"a", "b"}},
		{op: "release", key: "b", wait: 0, edge: bus.EdgeDown, listed: []string{"a"}},
	}},
	{"two nodes: one up, one down, from whichever node sees it", 2, []step{
		{node: 0, op: "hold", key: "k", d: grace, edge: bus.EdgeUp},
		{node: 1, op: "hold", key: "k", d: grace, comment: "already reported by node 0"},
		{node: 0, op: "release", key: "k", d: grace, comment: "node 1 still holds it: no grace starts"},
		{op: "advance", d: time.Minute},
		{node: 0, op: "settle", key: "k"},
		{node: 1, op: "release", key: "k", d: grace, wait: grace},
		{op: "advance", d: grace},
		{node: 0, op: "settle", key: "k", edge: bus.EdgeDown, comment: "settled by the other node"},
		{node: 1, op: "settle", key: "k", comment: "node 1's own settle finds it done"},
	}},
	{"two nodes: a move from one node to the other within the grace", 2, []step{
		{node: 0, op: "hold", key: "k", d: grace, edge: bus.EdgeUp},
		{node: 0, op: "release", key: "k", d: grace, wait: grace},
		{op: "advance", d: time.Second},
		{node: 1, op: "hold", key: "k", d: grace},
		{op: "advance", d: grace},
		{node: 0, op: "settle", key: "k"},
	}},
}

// Run runs the table on stores.
func Run(t *testing.T, stores Stores) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := NewClock()
			ss := stores(t, clock)
			if len(ss) < tc.nodes {
				t.Skipf("needs %d nodes sharing a store; this store serves one", tc.nodes)
			}
			ctx := context.Background()
			for i, s := range tc.steps {
				var got bus.Settled
				var err error
				st := ss[s.node]
				switch s.op {
				case "hold":
					got, err = st.Hold(ctx, "s", s.key, true, s.d)
				case "release":
					got, err = st.Hold(ctx, "s", s.key, false, s.d)
				case "settle":
					got, err = st.Settle(ctx, "s", s.key)
				case "advance":
					clock.Advance(s.d)
					continue
				}
				if err != nil {
					t.Fatalf("step %d (%s %s on node %d): %v", i, s.op, s.key, s.node, err)
				}
				if got.Edge != s.edge || got.Wait != s.wait {
					t.Fatalf("step %d (%s %s on node %d; %s): got edge %s wait %s, want edge %s wait %s",
						i, s.op, s.key, s.node, s.comment, got.Edge, got.Wait, s.edge, s.wait)
				}
				if s.listed != nil {
					keys, err := st.Reported(ctx, "s", "", 10)
					if err != nil {
						t.Fatal(err)
					}
					if len(keys) == 0 {
						keys = []string{}
					}
					if !equal(keys, s.listed) {
						t.Fatalf("step %d: Reported = %q, want %q", i, keys, s.listed)
					}
				}
			}
		})
	}
	t.Run("pages", func(t *testing.T) {
		ss := stores(t, NewClock())
		ctx := context.Background()
		for _, k := range []string{"u3", "u1", "u2", "u5", "u4"} {
			if _, err := ss[0].Hold(ctx, "p", k, true, grace); err != nil {
				t.Fatal(err)
			}
		}
		var all []string
		after := ""
		for range 10 {
			page, err := ss[0].Reported(ctx, "p", after, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > 2 {
				t.Fatalf("page of %d keys, limit 2", len(page))
			}
			if len(page) == 0 {
				break
			}
			all = append(all, page...)
			after = page[len(page)-1]
		}
		if want := []string{"u1", "u2", "u3", "u4", "u5"}; !equal(all, want) {
			t.Fatalf("pages gave %q, want %q", all, want)
		}
	})
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
