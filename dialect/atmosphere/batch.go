package atmosphere

import (
	"slices"
	"sync"
	"time"
)

// This file sends batched events (state_batch, readings_batch,
// iot_monitor) at most once per rate limit, with the trackers changed since
// the last batch and only their latest value. There is no timer per
// client: the dialect's one ticker calls flush, which visits only the
// clients that have something pending.

// batcher is the set of clients with pending batch items.
type batcher struct {
	mu      sync.Mutex
	pending map[*client]struct{}
}

// mark notes that c has pending items.
func (b *batcher) mark(c *client) {
	b.mu.Lock()
	if b.pending == nil {
		b.pending = map[*client]struct{}{}
	}
	b.pending[c] = struct{}{}
	b.mu.Unlock()
}

// take returns the marked clients and forgets them.
func (b *batcher) take() []*client {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]*client, 0, len(b.pending))
	for c := range b.pending {
		out = append(out, c)
	}
	clear(b.pending)
	return out
}

// flush sends every batch that is due at now; clients with items not yet
// due stay marked.
func (b *batcher) flush(now time.Time) {
	for _, c := range b.take() {
		if c.flushDue(now) {
			b.mark(c)
		}
	}
}

// flushDue sends c's due batches, reporting whether items remain pending.
func (c *client) flushDue(now time.Time) (more bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.subs == nil {
		return false
	}
	for _, t := range c.subs.types {
		if t == nil || !t.marked {
			continue
		}
		if len(t.pending) == 0 {
			t.marked = false
			continue
		}
		if now.Sub(t.lastSent) < t.rate {
			more = true
			continue
		}
		c.sendBatchLocked(t, now)
		t.marked = false
	}
	return more
}

// sendBatchLocked sends t's pending items as one batch, in tracker order.
func (c *client) sendBatchLocked(t *typeSub, now time.Time) {
	ids := make([]int64, 0, len(t.pending))
	for id := range t.pending {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	items := make([][]byte, 0, len(ids))
	for _, id := range ids {
		items = append(items, t.item(t.pending[id]))
	}
	clear(t.pending)
	t.lastSent = now
	_ = c.sendOwnLocked(batchEvent(t.typ, userTime(now, c.d.loc), items))
}
