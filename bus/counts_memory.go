package bus

import (
	"context"
	"hash/maphash"
	"sort"
	"strings"
	"sync"
)

// MemoryCounts is the in-memory Counts of a single node: its counts are the
// cluster's. Its methods never fail; Add is a map update under a short
// lock.
type MemoryCounts struct {
	seed   maphash.Seed
	shards [16]countShard
}

var _ Counts = (*MemoryCounts)(nil)

type countKey struct{ space, key string }

type countShard struct {
	mu sync.Mutex
	m  map[countKey]int // only positive counts are kept
}

// NewMemoryCounts returns an empty in-memory store.
func NewMemoryCounts() *MemoryCounts {
	c := &MemoryCounts{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[countKey]int)
	}
	return c
}

func (c *MemoryCounts) shard(key string) *countShard {
	return &c.shards[maphash.String(c.seed, key)%uint64(len(c.shards))]
}

// Add adds delta to key's count in space; a count that reaches zero or
// less is forgotten.
func (c *MemoryCounts) Add(space, key string, delta int) {
	sh := c.shard(key)
	k := countKey{space, key}
	sh.mu.Lock()
	if n := sh.m[k] + delta; n > 0 {
		sh.m[k] = n
	} else {
		delete(sh.m, k)
	}
	sh.mu.Unlock()
}

// Count returns key's count in space.
func (c *MemoryCounts) Count(_ context.Context, space, key string) (int, error) {
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.m[countKey{space, key}], nil
}

// List returns the keys of space starting with prefix, sorted, with their
// counts.
func (c *MemoryCounts) List(_ context.Context, space, prefix string) ([]KeyCount, error) {
	var out []KeyCount
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for k, n := range sh.m {
			if k.space == space && strings.HasPrefix(k.key, prefix) {
				out = append(out, KeyCount{k.key, n})
			}
		}
		sh.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}
