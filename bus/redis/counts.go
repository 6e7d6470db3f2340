package redis

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/switchboard-rt/switchboard/bus"
)

// Counts is the bus.Counts shared by the nodes of a cluster. Each node
// keeps its own counts in memory, where Add changes them at once, and a
// flusher goroutine writes the changed ones to Redis (one hash per key,
// node -> count). Reads add this node's counts from memory to the other
// nodes' from Redis, so a node's own changes count at once and the
// others' within a flush (about a Redis round trip). A dead node's counts
// are removed by the reaper. While Redis is down, reads answer for this
// node alone, and the counts are written back when it returns.
type Counts struct {
	b *Bus

	mu      sync.Mutex
	local   map[countKey]int      // guarded by mu; positive counts only
	pending map[countKey]struct{} // changed since the last flush; guarded by mu
	dirty   atomic.Bool           // a flush failed or was skipped: resync
	wake    chan struct{}

	// syncMu serialises flush and resync, so that a slower write never
	// overwrites a newer one.
	syncMu sync.Mutex
}

type countKey struct{ space, key string }

func newCounts(b *Bus) *Counts {
	return &Counts{
		b:       b,
		local:   make(map[countKey]int),
		pending: make(map[countKey]struct{}),
		wake:    make(chan struct{}, 1),
	}
}

// Add changes this node's count; it never blocks. See bus.Counts.
func (c *Counts) Add(space, key string, delta int) {
	k := countKey{space, key}
	c.mu.Lock()
	if n := c.local[k] + delta; n > 0 {
		c.local[k] = n
	} else {
		delete(c.local, k)
	}
	c.pending[k] = struct{}{}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Count returns key's count in space over all nodes. See bus.Counts.
func (c *Counts) Count(ctx context.Context, space, key string) (int, error) {
	c.mu.Lock()
	n := c.local[countKey{space, key}]
	c.mu.Unlock()
	if !c.b.linkUp.Load() {
		return n, nil
	}
	m, err := c.b.client.HGetAll(ctx, c.b.p+"c:"+space+":"+key).Result()
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return n, nil // Redis failed: this node's count
	}
	for node, v := range m {
		if node != c.b.id {
			x, _ := strconv.Atoi(v)
			n += x
		}
	}
	return n, nil
}

// List returns the keys of space starting with prefix, with their counts
// over all nodes. See bus.Counts.
func (c *Counts) List(ctx context.Context, space, prefix string) ([]bus.KeyCount, error) {
	sums := make(map[string]int)
	c.mu.Lock()
	for k, n := range c.local {
		if k.space == space && strings.HasPrefix(k.key, prefix) {
			sums[k.key] = n
		}
	}
	c.mu.Unlock()
	if c.b.linkUp.Load() {
		lo, hi := lexRange(prefix)
		flat, err := scriptListCounts.Run(ctx, c.b.client, c.b.keys, c.b.p, space, lo, hi, c.b.id).StringSlice()
		if err != nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		for i := 0; err == nil && i+1 < len(flat); i += 2 {
			x, _ := strconv.Atoi(flat[i+1])
			sums[flat[i]] += x
		}
	}
	out := make([]bus.KeyCount, 0, len(sums))
	for k, n := range sums {
		out = append(out, bus.KeyCount{Key: k, Count: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// runFlusher writes changed counts to Redis until the bus closes.
func (c *Counts) runFlusher() {
	for {
		select {
		case <-c.wake:
		case <-c.b.ctx.Done():
			return
		}
		ctx, cancel := context.WithTimeout(c.b.ctx, c.b.opts.OpTimeout)
		c.flush(ctx)
		cancel()
	}
}

// flush writes the counts changed since the last flush. While Redis is
// down it only marks the counts for a resync.
func (c *Counts) flush(ctx context.Context) {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	c.mu.Lock()
	if len(c.pending) == 0 {
		c.mu.Unlock()
		return
	}
	args := make([]any, 0, 3+3*len(c.pending))
	args = append(args, c.b.p, c.b.id, "0")
	for k := range c.pending {
		args = append(args, k.space, k.key, c.local[k])
	}
	clear(c.pending)
	c.mu.Unlock()
	if !c.b.linkUp.Load() {
		c.dirty.Store(true)
		return
	}
	if err := scriptSetCounts.Run(ctx, c.b.client, c.b.keys, args...).Err(); err != nil {
		c.dirty.Store(true)
		c.b.stats.writeErrors.Add(1)
		c.b.kickHeartbeat()
	}
}

// resync replaces all of this node's counts in Redis with those in memory.
func (c *Counts) resync(ctx context.Context) error {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	c.dirty.Store(false)
	c.mu.Lock()
	args := make([]any, 0, 3+3*len(c.local))
	args = append(args, c.b.p, c.b.id, "1")
	for k, n := range c.local {
		args = append(args, k.space, k.key, n)
	}
	clear(c.pending)
	c.mu.Unlock()
	if err := scriptSetCounts.Run(ctx, c.b.client, c.b.keys, args...).Err(); err != nil {
		c.dirty.Store(true)
		return err
	}
	return nil
}

// lexRange returns the ZRANGEBYLEX bounds of the names starting with
// prefix.
func lexRange(prefix string) (lo, hi string) {
	if prefix == "" {
		return "-", "+"
	}
	p := []byte(prefix)
	for len(p) > 0 && p[len(p)-1] == 0xff {
		p = p[:len(p)-1]
	}
	if len(p) == 0 {
		return "[" + prefix, "+"
	}
	p[len(p)-1]++
	return "[" + prefix, "(" + string(p)
}
