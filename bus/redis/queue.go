package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchboard-rt/switchboard/bus"
)

// Queues is the bus.QueueStore of a cluster: each queue is a Redis stream
// (P q:<name>) with the bytes of data it holds (P qb:<name>, kept by the
// scripts that write and delete entries) and its consumer lease beside it
// (P ql:<name>, a string holding the holder's name, with a TTL). Append
// buffers locally and one goroutine of the Bus writes the buffers to their
// streams, so that appending never waits for Redis; the buffer and the
// stream are each bounded by the queue's MaxLen and MaxBytes. Entries stay
// in the stream until the consumer acknowledges them, so that a consumer
// that dies leaves them to the next one.
type Queues struct {
	b    *Bus
	kick chan struct{} // wakes the flusher

	mu     sync.Mutex
	queues map[string]*queue
}

var _ bus.QueueStore = (*Queues)(nil)

func newQueues(b *Bus) *Queues {
	return &Queues{b: b, kick: make(chan struct{}, 1), queues: make(map[string]*queue)}
}

// Queue returns the queue called name; see bus.QueueStore.
func (s *Queues) Queue(name string, limits bus.QueueLimits) bus.Queue {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[name]
	if q == nil {
		q = &queue{s: s, stream: s.b.p + "q:" + name, bytes: s.b.p + "qb:" + name, lease: s.b.p + "ql:" + name, limits: limits}
		s.queues[name] = q
	}
	return q
}

// Durable reports true: the queues are in Redis.
func (s *Queues) Durable() bool { return true }

// queue is one queue of Queues.
type queue struct {
	s                    *Queues
	stream, bytes, lease string // key names
	limits               bus.QueueLimits

	mu       sync.Mutex
	buf      [][]byte // appended, not yet written to the stream; oldest first
	bufBytes int
}

var _ bus.Queue = (*queue)(nil)

// Append buffers data for the flusher; see bus.Queue.
func (q *queue) Append(data []byte) bool {
	q.mu.Lock()
	if len(q.buf) >= q.limits.MaxLen || (q.limits.MaxBytes > 0 && q.bufBytes+len(data) > q.limits.MaxBytes) {
		q.mu.Unlock()
		return false
	}
	q.buf = append(q.buf, data)
	q.bufBytes += len(data)
	q.mu.Unlock()
	select {
	case q.s.kick <- struct{}{}:
	default:
	}
	return true
}

// take returns the buffered entries and empties the buffer.
func (q *queue) take() [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	buf := q.buf
	q.buf, q.bufBytes = nil, 0
	return buf
}

// putBack returns entries that could not be written to the front of the
// buffer, as far as its bounds allow, and reports how many it dropped.
func (q *queue) putBack(entries [][]byte) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	room := max(0, q.limits.MaxLen-len(q.buf))
	dropped := max(0, len(entries)-room)
	entries = entries[dropped:] // keep the newest of the oldest
	size := q.bufBytes
	for _, e := range entries {
		size += len(e)
	}
	for q.limits.MaxBytes > 0 && size > q.limits.MaxBytes && len(entries) > 0 {
		size -= len(entries[0])
		entries = entries[1:]
		dropped++
	}
	q.buf, q.bufBytes = append(entries, q.buf...), size
	return dropped
}

// flushRetry is how long the flusher waits after a failed write.
const flushRetry = 200 * time.Millisecond

// runFlusher writes the queues' buffers to Redis until the bus closes, and
// then once more within closeFlushTimeout.
func (s *Queues) runFlusher() {
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-s.b.closing:
			ctx, cancel := context.WithTimeout(context.Background(), closeFlushTimeout)
			s.flush(ctx, true)
			cancel()
			return
		case <-s.kick:
		case <-retry.C:
		}
		ctx, cancel := context.WithTimeout(s.b.ctx, s.b.opts.OpTimeout)
		ok := s.flush(ctx, false)
		cancel()
		if !ok {
			retry.Reset(flushRetry)
		}
	}
}

// flush writes every queue's buffer; it reports false when a write failed
// and the entries were put back (or, when last, dropped).
func (s *Queues) flush(ctx context.Context, last bool) bool {
	s.mu.Lock()
	qs := make([]*queue, 0, len(s.queues))
	for _, q := range s.queues {
		qs = append(qs, q)
	}
	s.mu.Unlock()
	ok := true
	for _, q := range qs {
		entries := q.take()
		if len(entries) == 0 {
			continue
		}
		refused, err := q.write(ctx, entries)
		if err != nil {
			ok = false
			dropped := len(entries)
			if !last {
				dropped = q.putBack(entries)
			}
			q.dropped(dropped)
			lvl := slog.LevelDebug // retried every flushRetry while Redis is down: the link logs the outage
			if dropped > 0 {
				lvl = slog.LevelWarn
			}
			s.b.log.Log(ctx, lvl, "redis: could not append to a queue", "queue", q.stream, "entries", len(entries), "dropped", dropped, "err", err)
			continue
		}
		q.dropped(refused)
	}
	return ok
}

func (q *queue) dropped(n int) {
	if n > 0 && q.limits.OnDrop != nil {
		q.limits.OnDrop(n)
	}
}

// write appends entries to the stream, up to MaxLen and MaxBytes, and
// returns how many it refused.
func (q *queue) write(ctx context.Context, entries [][]byte) (int, error) {
	ttl := int64(0)
	if q.limits.MaxAge > 0 {
		ttl = (2 * q.limits.MaxAge).Milliseconds()
	}
	args := make([]any, 0, 6+len(entries))
	args = append(args, q.s.b.p, q.stream, q.bytes, q.limits.MaxLen, max(0, q.limits.MaxBytes), ttl)
	for _, e := range entries {
		args = append(args, e)
	}
	n, err := scriptQueueAppend.Run(ctx, q.s.b.client, q.s.b.keys, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("redis: queue append: %w", err)
	}
	return n, nil
}

// check fails fast while Redis is down.
func (q *queue) check() error {
	b := q.s.b
	if b.closed.Load() {
		return fmt.Errorf("%w: bus closed", bus.ErrSharedUnavailable)
	}
	if !b.linkUp.Load() {
		return fmt.Errorf("%w: redis unreachable", bus.ErrSharedUnavailable)
	}
	return nil
}

// Lease takes or renews holder's lease; see bus.Queue.
func (q *queue) Lease(ctx context.Context, holder string, ttl time.Duration) (bool, error) {
	if err := q.check(); err != nil {
		return false, err
	}
	n, err := scriptQueueLease.Run(ctx, q.s.b.client, q.s.b.keys, q.s.b.p, q.lease, holder, max(1, ttl.Milliseconds())).Int()
	if err != nil {
		return false, fmt.Errorf("redis: queue lease: %w", err)
	}
	return n == 1, nil
}

// Release gives up holder's lease; see bus.Queue.
func (q *queue) Release(ctx context.Context, holder string) error {
	if err := q.check(); err != nil {
		return err
	}
	if err := scriptQueueRelease.Run(ctx, q.s.b.client, q.s.b.keys, q.s.b.p, q.lease, holder).Err(); err != nil {
		return fmt.Errorf("redis: queue release: %w", err)
	}
	return nil
}

// Read returns up to n of the oldest entries; see bus.Queue.
func (q *queue) Read(ctx context.Context, n int) ([]bus.QueueEntry, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	msgs, err := q.s.b.client.XRangeN(ctx, q.stream, "-", "+", int64(n)).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: queue read: %w", err)
	}
	out := make([]bus.QueueEntry, 0, len(msgs))
	for _, m := range msgs {
		d, _ := m.Values["d"].(string)
		out = append(out, bus.QueueEntry{ID: m.ID, Time: streamIDTime(m.ID), Data: []byte(d)})
	}
	return out, nil
}

// streamIDTime returns the time of a stream entry id, "<ms>-<seq>".
func streamIDTime(id string) time.Time {
	ms, _, _ := strings.Cut(id, "-")
	n, _ := strconv.ParseInt(ms, 10, 64)
	return time.UnixMilli(n)
}

// Ack removes the entries with ids; see bus.Queue.
func (q *queue) Ack(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	if err := q.check(); err != nil {
		return err
	}
	args := make([]any, 0, 3+len(ids))
	args = append(args, q.s.b.p, q.stream, q.bytes)
	for _, id := range ids {
		args = append(args, id)
	}
	if err := scriptQueueAck.Run(ctx, q.s.b.client, q.s.b.keys, args...).Err(); err != nil {
		return fmt.Errorf("redis: queue ack: %w", err)
	}
	return nil
}

// Expire removes the entries appended before t; see bus.Queue.
func (q *queue) Expire(ctx context.Context, t time.Time) (int, error) {
	if err := q.check(); err != nil {
		return 0, err
	}
	n, err := scriptQueueExpire.Run(ctx, q.s.b.client, q.s.b.keys, q.s.b.p, q.stream, q.bytes, t.UnixMilli()).Int()
	if err != nil {
		return 0, fmt.Errorf("redis: queue expire: %w", err)
	}
	return n, nil
}

// Stats returns the stream's length and oldest entry; see bus.Queue.
func (q *queue) Stats(ctx context.Context) (bus.QueueStats, error) {
	if err := q.check(); err != nil {
		return bus.QueueStats{}, err
	}
	var length *goredis.IntCmd
	var first *goredis.XMessageSliceCmd
	_, err := q.s.b.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		length = p.XLen(ctx, q.stream)
		first = p.XRangeN(ctx, q.stream, "-", "+", 1)
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return bus.QueueStats{}, fmt.Errorf("redis: queue stats: %w", err)
	}
	s := bus.QueueStats{Len: int(length.Val())}
	if msgs := first.Val(); len(msgs) > 0 {
		s.Oldest = streamIDTime(msgs[0].ID)
	}
	return s, nil
}
