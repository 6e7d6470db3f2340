package redis

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchboard-rt/switchboard/bus"
)

// edgeSweepLimit is the most edge keys one heartbeat's sweep settles; the
// rest wait for the next beat.
const edgeSweepLimit = 1000

// Edges is the bus.EdgeStore shared by the nodes of a cluster. Each node's
// holdings and each key's reported state are in Redis, and every call is
// one Lua script that writes the holding, reads whether any node holds the
// key and flips the reported state in one atomic step: of two nodes racing
// on one key, the script that runs first flips it and the other sees it
// flipped. Like every state key, the edge keys share the slot of
// {KeyPrefix} on a Redis Cluster.
//
// Each heartbeat settles the keys whose grace ended without a settle (the
// node that scheduled one died, or a dead node was their last holder: the
// reaper queues those) and reports the flips through Watch, so a key's
// down edge comes at most one HeartbeatInterval after its grace even when
// no node is left to settle it. Edges keeps this node's holdings in memory
// too; while Redis is down, calls fail, and the heartbeat writes the
// holdings back when it returns and reports the flips that makes.
type Edges struct {
	b *Bus

	// sync is held for reading by Hold, from its local change to its
	// Redis write, and for writing by resync (as Presence.sync).
	sync  sync.RWMutex
	mu    sync.Mutex                // guards local
	local map[edgeKey]time.Duration // held keys and their grace
	dirty atomic.Bool               // a write failed or was skipped: resync
	watch atomic.Pointer[func([]bus.EdgeChange)]
}

type edgeKey struct{ space, key string }

var (
	_ bus.EdgeStore   = (*Edges)(nil)
	_ bus.EdgeWatcher = (*Edges)(nil)
)

func newEdges(b *Bus) *Edges {
	return &Edges{b: b, local: make(map[edgeKey]time.Duration)}
}

// Watch registers f to receive the flips found by sweeps and write-backs;
// see bus.EdgeWatcher.
func (e *Edges) Watch(f func([]bus.EdgeChange)) { e.watch.Store(&f) }

func (e *Edges) report(changes []bus.EdgeChange) {
	if f := e.watch.Load(); f != nil && len(changes) > 0 {
		(*f)(changes)
	}
}

// clock is the time argument of the edge scripts: Options.Clock's, or 0
// for Redis's own clock.
func (e *Edges) clock() int64 {
	if e.b.opts.Clock == nil {
		return 0
	}
	return max(e.b.opts.Clock().UnixMilli(), 1)
}

// Hold records whether this node holds key and settles it; see
// bus.EdgeStore. While Redis is down it records the holding in memory only
// and fails; the holding is written back, and its flip reported through
// Watch, when Redis returns.
func (e *Edges) Hold(ctx context.Context, space, key string, held bool, grace time.Duration) (bus.Settled, error) {
	e.sync.RLock()
	defer e.sync.RUnlock()
	e.mu.Lock()
	if held {
		e.local[edgeKey{space, key}] = grace
	} else {
		delete(e.local, edgeKey{space, key})
	}
	e.mu.Unlock()
	if !e.b.linkUp.Load() {
		e.dirty.Store(true)
		return bus.Settled{}, fmt.Errorf("redis: edge hold: %w: redis unreachable", bus.ErrSharedUnavailable)
	}
	h := "0"
	if held {
		h = "1"
	}
	r, err := scriptEdgeHold.Run(ctx, e.b.client, e.b.keys, e.b.p, e.b.id, space, key, h, grace.Milliseconds(), e.clock()).Int64Slice()
	if err != nil {
		e.dirty.Store(true)
		e.b.stats.writeErrors.Add(1)
		e.b.kickHeartbeat()
		return bus.Settled{}, wrap(ctx, "edge hold", err)
	}
	return settled(r)
}

// Settle settles key; see bus.EdgeStore.
func (e *Edges) Settle(ctx context.Context, space, key string) (bus.Settled, error) {
	if !e.b.linkUp.Load() {
		return bus.Settled{}, fmt.Errorf("redis: edge settle: %w: redis unreachable", bus.ErrSharedUnavailable)
	}
	r, err := scriptEdgeSettle.Run(ctx, e.b.client, e.b.keys, e.b.p, space, key, e.clock()).Int64Slice()
	if err != nil {
		return bus.Settled{}, wrap(ctx, "edge settle", err)
	}
	return settled(r)
}

// settled reads a script's {edge, ms left}.
func settled(r []int64) (bus.Settled, error) {
	if len(r) != 2 {
		return bus.Settled{}, fmt.Errorf("redis: edge script: unexpected reply %v", r)
	}
	return bus.Settled{Edge: bus.Edge(r[0]), Wait: time.Duration(r[1]) * time.Millisecond}, nil
}

// Reported returns up to limit keys of space reported held, after after;
// see bus.EdgeStore.
func (e *Edges) Reported(ctx context.Context, space, after string, limit int) ([]string, error) {
	lo := "-"
	if after != "" {
		lo = "(" + after
	}
	keys, err := e.b.client.ZRangeArgs(ctx, goredis.ZRangeArgs{
		Key: e.b.p + "er:" + space, Start: lo, Stop: "+", ByLex: true, Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, wrap(ctx, "edge list", err)
	}
	return keys, nil
}

// sweep settles the keys whose grace ended and reports their flips.
func (e *Edges) sweep(ctx context.Context) error {
	flat, err := scriptEdgeSweep.Run(ctx, e.b.client, e.b.keys, e.b.p, e.clock(), edgeSweepLimit).StringSlice()
	if err != nil {
		return fmt.Errorf("sweep edges: %w", err)
	}
	e.report(edgeChanges(flat))
	return nil
}

// resync makes this node's holdings in Redis exactly those in memory and
// returns the flips that made.
func (e *Edges) resync(ctx context.Context) ([]bus.EdgeChange, error) {
	e.sync.Lock()
	defer e.sync.Unlock()
	e.dirty.Store(false)
	e.mu.Lock()
	args := make([]any, 0, 4+3*len(e.local))
	args = append(args, e.b.p, e.b.id, e.clock(), len(e.local))
	for k, g := range e.local {
		args = append(args, k.space, k.key, g.Milliseconds())
	}
	e.mu.Unlock()
	flat, err := scriptEdgeSync.Run(ctx, e.b.client, e.b.keys, args...).StringSlice()
	if err != nil {
		e.dirty.Store(true)
		return nil, err
	}
	return edgeChanges(flat), nil
}

// edgeChanges reads a script's flat (space, key, edge)*.
func edgeChanges(flat []string) []bus.EdgeChange {
	out := make([]bus.EdgeChange, 0, len(flat)/3)
	for i := 0; i+2 < len(flat); i += 3 {
		n, _ := strconv.Atoi(flat[i+2])
		out = append(out, bus.EdgeChange{Space: flat[i], Key: flat[i+1], Edge: bus.Edge(n)})
	}
	return out
}
