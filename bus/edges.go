package bus

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"
)

// Edges: "was this change already reported?", decided once for a whole
// cluster. A key of a space (a channel of an app, a user of an app) is held
// by a node while something on that node holds it (a subscription, a
// connection of the user). The key is live while any node holds it. Beside
// the live state, the store keeps the reported state: whether the key was
// last reported held. Every call compares the two and flips the reported
// state in the same atomic step that reads the live one, so that exactly
// one caller in the cluster sees each flip (an Edge), whichever node made
// the change and however nodes race: that caller reports it (sends a
// webhook), and nobody else does.
//
// A key going up is reported at once; a key going down only once it has
// stayed down for its grace period (Pusher's delay before member_removed
// and channel_vacated, which hides a page reload). Until then Hold and
// Settle answer with the time left, and the caller settles the key again
// then. A shared store also settles on its own the keys whose grace ended
// without a settle (the node that was to settle died, or the holder was a
// dead node the store reaped), and reports those flips to its watcher.

// Edge is a flip of a key's reported state.
type Edge int8

const (
	// EdgeNone: the reported state did not change.
	EdgeNone Edge = 0
	// EdgeUp: the key became live and is now reported held.
	EdgeUp Edge = 1
	// EdgeDown: the key stayed not live for its grace period and is now
	// reported not held.
	EdgeDown Edge = -1
)

// String returns "none", "up" or "down".
func (e Edge) String() string {
	switch e {
	case EdgeUp:
		return "up"
	case EdgeDown:
		return "down"
	}
	return "none"
}

// Settled is the answer of EdgeStore.Hold and EdgeStore.Settle.
type Settled struct {
	// Edge is the flip this call made, which the caller reports.
	Edge Edge
	// Wait, when positive, is the grace left before a key that is not live
	// can go down: settle it again then.
	Wait time.Duration
}

// EdgeChange is a flip that a store found itself, without a call: see
// EdgeWatcher.
type EdgeChange struct {
	Space, Key string
	Edge       Edge
}

// EdgeStore keeps the live and reported states of keys; see the comment
// above Edge. MemoryEdges serves one node; a store shared by many nodes
// (bus/redis) must make each flip in one atomic step across them, and must
// drop the holdings of a node that died. All methods are safe for
// concurrent use.
type EdgeStore interface {
	// Hold records whether this node holds key in space, then settles the
	// key. grace is how long the key must stay not live before it goes
	// down; the last grace given for a key is the one used. A node calls
	// Hold only when its own holding changes (its first or last holder of
	// the key), and for one key one call at a time, so that the store sees
	// the node's holdings in order.
	Hold(ctx context.Context, space, key string, held bool, grace time.Duration) (Settled, error)
	// Settle compares the live and reported states of key and flips the
	// reported one if they differ and, for a key going down, its grace
	// has passed: what a caller does when Wait has passed.
	Settle(ctx context.Context, space, key string) (Settled, error)
	// Reported returns up to limit keys of space that are reported held,
	// sorted, starting after the key after ("" for the first page).
	Reported(ctx context.Context, space, after string, limit int) ([]string, error)
}

// EdgeWatcher is implemented by an EdgeStore that finds flips itself (a
// shared store settling keys whose grace ended without a settle, or that a
// dead node held). The hub calls Watch once, when it is built, with the
// function the store must call with each batch of flips, from one goroutine
// of the store's.
type EdgeWatcher interface {
	Watch(f func([]EdgeChange))
}

// MemoryEdges is the in-memory EdgeStore of a single node: its holdings are
// the cluster's. Its methods never fail.
type MemoryEdges struct {
	now func() time.Time

	mu     sync.Mutex
	spaces map[string]map[string]*memoryEdge
}

var _ EdgeStore = (*MemoryEdges)(nil)

// memoryEdge is one key: present in the map while held or reported.
type memoryEdge struct {
	held, reported bool
	grace          time.Duration
	downSince      time.Time // when it stopped being held while reported; zero otherwise
}

// NewMemoryEdges returns an empty store whose clock is now (nil:
// time.Now); tests pass their own clock.
func NewMemoryEdges(now func() time.Time) *MemoryEdges {
	if now == nil {
		now = time.Now
	}
	return &MemoryEdges{now: now, spaces: make(map[string]map[string]*memoryEdge)}
}

// Hold records this node's holding of key and settles it; see EdgeStore.
func (m *MemoryEdges) Hold(_ context.Context, space, key string, held bool, grace time.Duration) (Settled, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := m.spaces[space]
	if keys == nil {
		keys = make(map[string]*memoryEdge)
		m.spaces[space] = keys
	}
	e := keys[key]
	if e == nil {
		e = &memoryEdge{}
		keys[key] = e
	}
	e.held, e.grace = held, grace
	return m.settle(space, key, e), nil
}

// Settle settles key; see EdgeStore.
func (m *MemoryEdges) Settle(_ context.Context, space, key string) (Settled, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.spaces[space][key]
	if e == nil {
		return Settled{}, nil
	}
	return m.settle(space, key, e), nil
}

// settle is the state machine, shared in spirit with bus/redis's Lua
// esettle: up at once, down after the grace. It forgets a key neither held
// nor reported. m.mu is held.
func (m *MemoryEdges) settle(space, key string, e *memoryEdge) Settled {
	switch {
	case e.held && e.reported:
		e.downSince = time.Time{}
		return Settled{}
	case e.held:
		e.reported, e.downSince = true, time.Time{}
		return Settled{Edge: EdgeUp}
	case !e.reported:
		m.forget(space, key)
		return Settled{}
	}
	now := m.now()
	if e.downSince.IsZero() {
		e.downSince = now
	}
	if left := e.downSince.Add(e.grace).Sub(now); left > 0 {
		return Settled{Wait: left}
	}
	m.forget(space, key)
	return Settled{Edge: EdgeDown}
}

func (m *MemoryEdges) forget(space, key string) {
	delete(m.spaces[space], key)
	if len(m.spaces[space]) == 0 {
		delete(m.spaces, space)
	}
}

// Reported returns the keys of space reported held; see EdgeStore.
func (m *MemoryEdges) Reported(_ context.Context, space, after string, limit int) ([]string, error) {
	m.mu.Lock()
	out := make([]string, 0, min(limit, len(m.spaces[space])))
	for k, e := range m.spaces[space] {
		if e.reported && k > after {
			out = append(out, k)
		}
	}
	m.mu.Unlock()
	sort.Strings(out)
	if len(out) > limit {
		out = slices.Clip(out[:limit])
	}
	return out, nil
}
