package bus

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// QueueStore holds bounded work queues, such as a webhook URL's pending
// events: any node appends, one node at a time (the holder of the queue's
// lease) reads and acknowledges. MemoryQueues serves one node and loses
// its queues with the process; bus/redis keeps them in Redis, where they
// outlive the node that appended and are taken over by another node when
// the consumer's lease lapses. All methods are safe for concurrent use.
type QueueStore interface {
	// Queue returns the queue called name, with limits; every call with
	// one name returns the same queue (the limits of the first call
	// apply).
	Queue(name string, limits QueueLimits) Queue
	// Durable reports whether queued entries outlive this process.
	Durable() bool
}

// QueueLimits bound one queue.
type QueueLimits struct {
	// MaxLen is the most entries the queue holds; Append drops what would
	// go over it.
	MaxLen int
	// MaxBytes is the most bytes of entries held (0: no limit beyond
	// MaxLen); Append drops what would go over it. Both MemoryQueues and
	// bus/redis honour it.
	MaxBytes int
	// MaxAge is how long an entry may wait; a durable queue left with no
	// appends and no consumer disappears after it (0: never).
	MaxAge time.Duration
	// OnDrop, if set, is called with the number of entries that Append
	// accepted but the queue dropped later, because the shared queue was
	// full or could not be written: a Redis queue appends in the
	// background. It is called from the store's own goroutine.
	OnDrop func(n int)
}

// QueueEntry is one entry of a queue.
type QueueEntry struct {
	// ID is the entry's id in the queue, for Ack.
	ID string
	// Time is when it was appended, to the millisecond.
	Time time.Time
	// Data is what was appended.
	Data []byte
}

// QueueStats is a snapshot of one queue.
type QueueStats struct {
	Len    int       // entries held
	Oldest time.Time // the first entry's Time; zero when empty
}

// Queue is one bounded FIFO queue of opaque entries.
type Queue interface {
	// Append queues data, without blocking on the network: a shared
	// queue writes it in the background. The queue may keep data: the
	// caller must not change it afterwards. It reports false when the queue
	// (or its local buffer) is full and data is dropped.
	Append(data []byte) bool
	// Lease takes the queue's consumer lease for holder, or renews it if
	// holder has it, for ttl; it reports whether holder has it now. Only
	// the holder should Read and Ack.
	Lease(ctx context.Context, holder string, ttl time.Duration) (bool, error)
	// Release gives up holder's lease, if it has it, so that another
	// consumer can take over at once.
	Release(ctx context.Context, holder string) error
	// Read returns up to n of the oldest entries, without removing them:
	// an entry stays until acknowledged, so that a consumer that dies
	// before Ack leaves it to the next (at-least-once).
	Read(ctx context.Context, n int) ([]QueueEntry, error)
	// Ack removes the entries with ids; unknown ids are ignored.
	Ack(ctx context.Context, ids ...string) error
	// Expire removes the entries appended before t and returns how many.
	Expire(ctx context.Context, t time.Time) (int, error)
	// Stats returns the queue's length and oldest entry.
	Stats(ctx context.Context) (QueueStats, error)
}

// MemoryQueues is the QueueStore of a single node: queues in memory, lost
// when the process ends. Its methods never fail.
type MemoryQueues struct {
	mu     sync.Mutex
	queues map[string]*MemoryQueue
	now    func() time.Time
}

var _ QueueStore = (*MemoryQueues)(nil)

// NewMemoryQueues returns an empty store.
func NewMemoryQueues() *MemoryQueues {
	return &MemoryQueues{queues: make(map[string]*MemoryQueue), now: time.Now}
}

// Queue returns the queue called name; see QueueStore.
func (s *MemoryQueues) Queue(name string, limits QueueLimits) Queue {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[name]
	if q == nil {
		q = &MemoryQueue{limits: limits, now: s.now}
		s.queues[name] = q
	}
	return q
}

// Durable reports false: the queues end with the process.
func (s *MemoryQueues) Durable() bool { return false }

// MemoryQueue is one queue of MemoryQueues.
type MemoryQueue struct {
	limits QueueLimits
	now    func() time.Time

	mu       sync.Mutex
	entries  []QueueEntry // oldest first
	bytes    int
	seq      uint64 // the last id given
	holder   string
	leaseEnd time.Time
}

var _ Queue = (*MemoryQueue)(nil)

// Append queues data, which it keeps (the caller must not change it), or
// reports false when the queue is at MaxLen or MaxBytes.
func (q *MemoryQueue) Append(data []byte) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.entries) >= q.limits.MaxLen || (q.limits.MaxBytes > 0 && q.bytes+len(data) > q.limits.MaxBytes) {
		return false
	}
	q.seq++
	q.entries = append(q.entries, QueueEntry{ID: strconv.FormatUint(q.seq, 10), Time: q.now(), Data: data})
	q.bytes += len(data)
	return true
}

// Lease takes or renews holder's lease; see Queue.
func (q *MemoryQueue) Lease(_ context.Context, holder string, ttl time.Duration) (bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	if q.holder != "" && q.holder != holder && now.Before(q.leaseEnd) {
		return false, nil
	}
	q.holder, q.leaseEnd = holder, now.Add(ttl)
	return true, nil
}

// Release gives up holder's lease; see Queue.
func (q *MemoryQueue) Release(_ context.Context, holder string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.holder == holder {
		q.holder = ""
	}
	return nil
}

// Read returns up to n of the oldest entries; see Queue.
func (q *MemoryQueue) Read(_ context.Context, n int) ([]QueueEntry, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]QueueEntry(nil), q.entries[:min(n, len(q.entries))]...), nil
}

// Ack removes the entries with ids; see Queue.
func (q *MemoryQueue) Ack(_ context.Context, ids ...string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	// The usual case: the oldest entries, in order.
	n := 0
	for n < len(ids) && n < len(q.entries) && q.entries[n].ID == ids[n] {
		q.bytes -= len(q.entries[n].Data)
		n++
	}
	clear(q.entries[:n])
	q.entries, ids = q.entries[n:], ids[n:]
	if len(ids) == 0 {
		return nil
	}
	acked := make(map[string]bool, len(ids))
	for _, id := range ids {
		acked[id] = true
	}
	kept := q.entries[:0]
	for _, e := range q.entries {
		if acked[e.ID] {
			q.bytes -= len(e.Data)
			continue
		}
		kept = append(kept, e)
	}
	clear(q.entries[len(kept):])
	q.entries = kept
	return nil
}

// Expire removes the entries appended before t; see Queue.
func (q *MemoryQueue) Expire(_ context.Context, t time.Time) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for n < len(q.entries) && q.entries[n].Time.Before(t) {
		q.bytes -= len(q.entries[n].Data)
		n++
	}
	clear(q.entries[:n])
	q.entries = q.entries[n:]
	return n, nil
}

// Stats returns the queue's length and oldest entry; see Queue.
func (q *MemoryQueue) Stats(context.Context) (QueueStats, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := QueueStats{Len: len(q.entries)}
	if len(q.entries) > 0 {
		s.Oldest = q.entries[0].Time
	}
	return s, nil
}
