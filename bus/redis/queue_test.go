package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/internal/redistest"
)

// Entries appended on one node reach the stream in order and are read by
// another; they stay, with the same ids and data, until acknowledged.
func TestQueueAppendReadAck(t *testing.T) {
	srv := redistest.Start(t)
	nodes := newCluster(t, srv, 2, nil)
	limits := bus.QueueLimits{MaxLen: 100, MaxAge: time.Minute}
	qa := nodes[0].bus.Queues().Queue("hooks/a", limits)
	qb := nodes[1].bus.Queues().Queue("hooks/a", limits)
	ctx := context.Background()
	for i := range 5 {
		if !qa.Append(fmt.Appendf(nil, "e%d", i)) {
			t.Fatalf("Append %d refused", i)
		}
	}
	var got []bus.QueueEntry
	waitFor(t, 5*time.Second, "5 entries in the stream", func() bool {
		got, _ = qb.Read(ctx, 10)
		return len(got) == 5
	})
	if data := entryData(got); !slices.Equal(data, seq("e", 5)) {
		t.Fatalf("read %v", data)
	}
	if age := time.Since(got[0].Time); age < -time.Second || age > 5*time.Second {
		t.Errorf("entry time %v, %v ago", got[0].Time, age)
	}
	again, _ := qb.Read(ctx, 2)
	if again[0].ID != got[0].ID || string(again[1].Data) != "e1" {
		t.Errorf("unacknowledged entries read again: %v, want the first two of %v", again, got)
	}
	if err := qb.Ack(ctx, got[0].ID, got[1].ID); err != nil {
		t.Fatal(err)
	}
	st, err := qa.Stats(ctx)
	if err != nil || st.Len != 3 || !st.Oldest.Equal(got[2].Time) {
		t.Errorf("Stats = %+v, %v; want 3 entries, the oldest %v", st, err, got[2].Time)
	}
	// Entries older than a time go at once.
	if n, err := qb.Expire(ctx, time.Now().Add(time.Minute)); err != nil || n != 3 {
		t.Errorf("Expire = %d, %v; want 3", n, err)
	}
}

// The stream is bounded by MaxLen: what goes over it is dropped and
// reported through OnDrop; the local buffer is bounded too.
func TestQueueBounded(t *testing.T) {
	srv := redistest.Start(t)
	n := newCluster(t, srv, 1, nil)[0]
	var dropped atomic.Int64
	q := n.bus.Queues().Queue("hooks/b", bus.QueueLimits{MaxLen: 3, MaxBytes: 100, OnDrop: func(k int) { dropped.Add(int64(k)) }})
	// The buffer refuses some at once or the stream later, depending on
	// when the flusher runs: two drops either way.
	refused := int64(0)
	for i := range 5 {
		if !q.Append(fmt.Appendf(nil, "e%d", i)) {
			refused++
		}
	}
	waitFor(t, 5*time.Second, "two drops", func() bool { return refused+dropped.Load() == 2 })
	// Once flushed, the stream refuses more.
	waitFor(t, 5*time.Second, "the stream full", func() bool { st, _ := q.Stats(context.Background()); return st.Len == 3 })
	q.Append([]byte("late"))
	waitFor(t, 5*time.Second, "the stream's refusal reported", func() bool { return refused+dropped.Load() == 3 })
	got, _ := q.Read(context.Background(), 10)
	if data := entryData(got); !slices.Equal(data, seq("e", 3)) {
		t.Errorf("kept %v, want the first three", data)
	}
	// The local buffer refuses an entry over MaxBytes at once.
	if q.Append(make([]byte, 101)) {
		t.Error("an entry over MaxBytes was accepted")
	}
}

// The stream is bounded by MaxBytes too, through the byte count kept
// beside it: what would pass it is refused and reported through OnDrop;
// Ack and Expire free the bytes of what they remove; a count that outlived
// its stream, or is missing beside entries, does not wrongly refuse.
func TestQueueBoundedBytes(t *testing.T) {
	srv := redistest.Start(t)
	n := newCluster(t, srv, 1, nil)[0]
	ctx := context.Background()
	rdb := n.bus.client
	const maxAge = time.Minute
	tests := []struct {
		name    string
		prepare func(t *testing.T, q bus.Queue, stream, count string)
		append  []string
		kept    []string // the stream's data afterwards
		dropped int
	}{
		{
			name:    "over MaxBytes refused",
			append:  []string{"aaaa", "bbbb", "ccc", "dd"},
			kept:    []string{"aaaa", "bbbb", "dd"},
			dropped: 1,
		},
		{
			name: "ack frees bytes",
			prepare: func(t *testing.T, q bus.Queue, _, _ string) {
				ids := appendFlushed(t, q, "aaaa", "bbbb")
				if err := q.Ack(ctx, ids[0]); err != nil {
					t.Fatal(err)
				}
			},
			append: []string{"cccccc", "d"},
			kept:   []string{"bbbb", "cccccc"}, dropped: 1,
		},
		{
			name: "expire frees bytes",
			prepare: func(t *testing.T, q bus.Queue, _, _ string) {
				appendFlushed(t, q, "aaaa", "bbbb")
				if n, err := q.Expire(ctx, time.Now().Add(time.Minute)); err != nil || n != 2 {
					t.Fatalf("Expire = %d, %v; want 2", n, err)
				}
			},
			append: []string{"0123456789"},
			kept:   []string{"0123456789"},
		},
		{
			name: "expire of some entries",
			prepare: func(t *testing.T, q bus.Queue, stream, _ string) {
				// An old entry, by its id: 1 ms after the epoch.
				if err := rdb.Do(ctx, "xadd", stream, "1-1", "d", "aaaa").Err(); err != nil {
					t.Fatal(err)
				}
				appendFlushed(t, q, "bbbb")
				if n, err := q.Expire(ctx, time.Now().Add(-time.Minute)); err != nil || n != 1 {
					t.Fatalf("Expire = %d, %v; want 1", n, err)
				}
			},
			append: []string{"cccccc", "d"},
			kept:   []string{"bbbb", "cccccc"}, dropped: 1,
		},
		{
			name: "stale count beside no stream",
			prepare: func(t *testing.T, _ bus.Queue, _, count string) {
				if err := rdb.Set(ctx, count, 1000, 0).Err(); err != nil {
					t.Fatal(err)
				}
			},
			append: []string{"0123456789"},
			kept:   []string{"0123456789"},
		},
		{
			name: "stale count beside an emptied stream",
			prepare: func(t *testing.T, q bus.Queue, stream, count string) {
				ids := appendFlushed(t, q, "aaaa")
				if err := rdb.XDel(ctx, stream, ids...).Err(); err != nil { // as by a consumer of an older version
					t.Fatal(err)
				}
				if v, _ := rdb.Get(ctx, count).Int(); v != 4 {
					t.Fatalf("count %d before, want 4", v)
				}
			},
			append: []string{"0123456789"},
			kept:   []string{"0123456789"},
		},
		{
			name: "count missing beside entries",
			prepare: func(t *testing.T, _ bus.Queue, stream, _ string) {
				// Written by an older version, which kept no count.
				if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []string{"d", "aaaaaaaa"}}).Err(); err != nil {
					t.Fatal(err)
				}
			},
			append: []string{"bbb", "cc"},
			kept:   []string{"aaaaaaaa", "cc"}, dropped: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var dropped atomic.Int64
			name := "hooks/bytes/" + tc.name
			q := n.bus.Queues().Queue(name, bus.QueueLimits{MaxLen: 100, MaxBytes: 10, MaxAge: maxAge, OnDrop: func(k int) { dropped.Add(int64(k)) }})
			stream, count := n.bus.p+"q:"+name, n.bus.p+"qb:"+name
			if tc.prepare != nil {
				tc.prepare(t, q, stream, count)
			}
			if d := dropped.Load(); d != 0 {
				t.Fatalf("%d dropped while preparing", d)
			}
			for _, data := range tc.append {
				// One at a time, flushed, so that the stream (not the
				// local buffer) decides.
				before := dropped.Load()
				st, _ := q.Stats(ctx)
				if !q.Append([]byte(data)) {
					t.Fatalf("Append(%q) refused by the local buffer", data)
				}
				waitFor(t, 5*time.Second, data+" written or refused", func() bool {
					now, _ := q.Stats(ctx)
					return now.Len+int(dropped.Load()-before) == st.Len+1
				})
			}
			got, err := q.Read(ctx, 100)
			if data := entryData(got); err != nil || !slices.Equal(data, tc.kept) || int(dropped.Load()) != tc.dropped {
				t.Errorf("kept %q, %v, %d dropped; want %q, %d dropped", data, err, dropped.Load(), tc.kept, tc.dropped)
			}
			want := 0
			for _, d := range tc.kept {
				want += len(d)
			}
			if v, err := rdb.Get(ctx, count).Int(); err != nil || v != want {
				t.Errorf("count %d, %v; want %d", v, err, want)
			}
			// The count expires with the stream.
			ttlS, _ := rdb.PTTL(ctx, stream).Result()
			ttlC, _ := rdb.PTTL(ctx, count).Result()
			if ttlC <= 0 || ttlC > 2*maxAge || ttlC < ttlS-time.Second {
				t.Errorf("count's TTL %v, the stream's %v; want the same, at most %v", ttlC, ttlS, 2*maxAge)
			}
			// Once acknowledged, the count goes with the last entry.
			ids := make([]string, 0, len(got))
			for _, e := range got {
				ids = append(ids, e.ID)
			}
			if err := q.Ack(ctx, ids...); err != nil {
				t.Fatal(err)
			}
			if k, err := rdb.Exists(ctx, count).Result(); err != nil || k != 0 {
				t.Errorf("count exists (%d, %v) after every entry was acknowledged", k, err)
			}
		})
	}
}

// Entries a failed write puts back into the local buffer keep it within
// MaxLen and MaxBytes: the oldest go first.
func TestQueuePutBack(t *testing.T) {
	tests := []struct {
		name        string
		limits      bus.QueueLimits
		buf, back   []string
		want        []string
		wantDropped int
	}{
		{"room for all", bus.QueueLimits{MaxLen: 10, MaxBytes: 100}, []string{"cccc"}, []string{"aaaa", "bbbb"}, []string{"aaaa", "bbbb", "cccc"}, 0},
		{"over MaxLen", bus.QueueLimits{MaxLen: 2}, []string{"cccc"}, []string{"aaaa", "bbbb"}, []string{"bbbb", "cccc"}, 1},
		{"over MaxBytes", bus.QueueLimits{MaxLen: 10, MaxBytes: 10}, []string{"cccc"}, []string{"aaaa", "bbbb"}, []string{"bbbb", "cccc"}, 1},
		{"over both", bus.QueueLimits{MaxLen: 3, MaxBytes: 5}, []string{"cc"}, []string{"a", "bbbb", "dd", "e"}, []string{"dd", "e", "cc"}, 2},
		{"full buffer", bus.QueueLimits{MaxLen: 10, MaxBytes: 4}, []string{"cccc"}, []string{"a"}, []string{"cccc"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := &queue{limits: tc.limits}
			for _, d := range tc.buf {
				q.buf = append(q.buf, []byte(d))
				q.bufBytes += len(d)
			}
			back := make([][]byte, 0, len(tc.back))
			for _, d := range tc.back {
				back = append(back, []byte(d))
			}
			dropped := q.putBack(back)
			var got []string
			size := 0
			for _, e := range q.buf {
				got = append(got, string(e))
				size += len(e)
			}
			if dropped != tc.wantDropped || !slices.Equal(got, tc.want) || q.bufBytes != size {
				t.Errorf("putBack dropped %d, buffer %q (%d bytes, counted %d); want %d dropped, %q", dropped, got, size, q.bufBytes, tc.wantDropped, tc.want)
			}
		})
	}
}

// appendFlushed appends data to q and waits for it in the stream; it
// returns the stream's ids.
func appendFlushed(t *testing.T, q bus.Queue, data ...string) []string {
	t.Helper()
	st, _ := q.Stats(context.Background())
	for _, d := range data {
		if !q.Append([]byte(d)) {
			t.Fatalf("Append(%q) refused", d)
		}
	}
	var got []bus.QueueEntry
	waitFor(t, 5*time.Second, "appended entries in the stream", func() bool {
		got, _ = q.Read(context.Background(), 100)
		return len(got) == st.Len+len(data)
	})
	ids := make([]string, 0, len(data))
	for _, e := range got[st.Len:] {
		ids = append(ids, e.ID)
	}
	return ids
}

// One node at a time holds a queue's lease; when the holder stops renewing
// it (it died), another takes over once the TTL lapses and reads the
// entries the first left unacknowledged; a released lease is free at once.
func TestQueueLeaseTakeover(t *testing.T) {
	srv := redistest.Start(t)
	nodes := newCluster(t, srv, 2, nil)
	ctx := context.Background()
	limits := bus.QueueLimits{MaxLen: 10}
	qa := nodes[0].bus.Queues().Queue("hooks/c", limits)
	qb := nodes[1].bus.Queues().Queue("hooks/c", limits)
	qa.Append([]byte("pending"))
	const ttl = 300 * time.Millisecond
	if ok, err := qa.Lease(ctx, "a", ttl); !ok || err != nil {
		t.Fatalf("a: Lease = %v, %v", ok, err)
	}
	var first []bus.QueueEntry
	waitFor(t, 5*time.Second, "the entry in the stream", func() bool { first, _ = qa.Read(ctx, 1); return len(first) == 1 })
	if ok, _ := qb.Lease(ctx, "b", ttl); ok {
		t.Fatal("b took the lease a holds")
	}
	// a dies: it renews no more. b gets the lease within the TTL.
	start := time.Now()
	waitFor(t, 5*time.Second, "b takes the lease over", func() bool { ok, _ := qb.Lease(ctx, "b", ttl); return ok })
	if waited := time.Since(start); waited > 3*ttl {
		t.Errorf("took over after %v, want about %v", waited, ttl)
	}
	got, _ := qb.Read(ctx, 10)
	if len(got) != 1 || got[0].ID != first[0].ID || string(got[0].Data) != "pending" {
		t.Errorf("b read %v, want a's unacknowledged %v with the same id", got, first)
	}
	if ok, _ := qa.Lease(ctx, "a", ttl); ok {
		t.Error("a took the lease back while b holds it")
	}
	if err := qb.Release(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := qa.Lease(ctx, "a", ttl); !ok {
		t.Error("a could not take the lease b released")
	}
}

// Entries appended just before Close are written to the stream by Close.
func TestQueueFlushedOnClose(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	a := newNode(t, srv, prefix, nil)
	b := newNode(t, srv, prefix, nil)
	limits := bus.QueueLimits{MaxLen: 1000}
	qa := a.bus.Queues().Queue("hooks/d", limits)
	for i := range 200 {
		qa.Append(fmt.Appendf(nil, "e%d", i))
	}
	if err := a.hub.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := b.bus.Queues().Queue("hooks/d", limits).Read(context.Background(), 1000)
	if err != nil || len(got) != 200 {
		t.Errorf("after Close the stream has %d entries, %v; want 200", len(got), err)
	}
}

func entryData(es []bus.QueueEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, string(e.Data))
	}
	return out
}

// While Redis is down, Append still returns at once and buffers (bounded);
// the buffer is written once Redis is back, and the queue's other methods
// fail with bus.ErrSharedUnavailable meanwhile.
func TestQueueOutage(t *testing.T) {
	srv := redistest.Start(t)
	n := newCluster(t, srv, 1, nil)[0]
	var dropped atomic.Int64
	q := n.bus.Queues().Queue("hooks/e", bus.QueueLimits{MaxLen: 3, OnDrop: func(k int) { dropped.Add(int64(k)) }})
	srv.Stop()
	waitFor(t, 5*time.Second, "the link down", func() bool { return n.bus.Ready(context.Background()) != nil })
	accepted := 0
	for i := range 5 {
		start := time.Now()
		if q.Append(fmt.Appendf(nil, "e%d", i)) {
			accepted++
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Append took %v while Redis was down", d)
		}
	}
	if _, err := q.Read(context.Background(), 1); !errors.Is(err, bus.ErrSharedUnavailable) {
		t.Errorf("Read while Redis is down: %v, want ErrSharedUnavailable", err)
	}
	if _, err := q.Lease(context.Background(), "a", time.Second); !errors.Is(err, bus.ErrSharedUnavailable) {
		t.Errorf("Lease while Redis is down: %v, want ErrSharedUnavailable", err)
	}
	srv.Restart(t)
	var got []bus.QueueEntry
	waitFor(t, 10*time.Second, "the buffer written after the outage", func() bool {
		got, _ = q.Read(context.Background(), 10)
		return len(got) == 3
	})
	if data := entryData(got); !slices.Equal(data, seq("e", 3)) || accepted-int(dropped.Load()) != 3 {
		t.Errorf("after the outage: %v, %d accepted, %d dropped later; want e0-e2 kept", data, accepted, dropped.Load())
	}
}
