package bus

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// A memory queue keeps entries in order until acknowledged, refuses what
// would go over MaxLen or MaxBytes, and expires by age.
func TestMemoryQueueBounds(t *testing.T) {
	for _, tt := range []struct {
		name     string
		limits   QueueLimits
		sizes    []int
		accepted []bool
	}{
		{"by length", QueueLimits{MaxLen: 2}, []int{1, 1, 1}, []bool{true, true, false}},
		{"by bytes", QueueLimits{MaxLen: 10, MaxBytes: 5}, []int{2, 3, 1}, []bool{true, true, false}},
		{"a big entry, then small ones", QueueLimits{MaxLen: 10, MaxBytes: 5}, []int{6, 5}, []bool{false, true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q := NewMemoryQueues().Queue("q", tt.limits)
			for i, n := range tt.sizes {
				if got := q.Append(make([]byte, n)); got != tt.accepted[i] {
					t.Errorf("Append %d (%d bytes) = %v, want %v", i, n, got, tt.accepted[i])
				}
			}
		})
	}
}

func TestMemoryQueueReadAckExpire(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryQueues()
	now := time.Unix(1000, 0)
	s.now = func() time.Time { return now }
	q := s.Queue("q", QueueLimits{MaxLen: 100})
	if q2 := s.Queue("q", QueueLimits{MaxLen: 1}); q2 != q {
		t.Fatal("a second Queue call with the same name gave another queue")
	}
	for i := range 5 {
		q.Append(fmt.Appendf(nil, "e%d", i))
		now = now.Add(time.Second)
	}
	got, _ := q.Read(ctx, 3)
	if data := entryData(got); !slices.Equal(data, []string{"e0", "e1", "e2"}) {
		t.Fatalf("Read = %v", data)
	}
	// Read again without Ack: the same entries, the same ids.
	again, _ := q.Read(ctx, 3)
	if !slices.EqualFunc(got, again, func(a, b QueueEntry) bool { return a.ID == b.ID }) {
		t.Errorf("unacknowledged entries changed ids: %v, then %v", got, again)
	}
	_ = q.Ack(ctx, got[0].ID, got[2].ID, "no-such-id")
	rest, _ := q.Read(ctx, 10)
	if data := entryData(rest); !slices.Equal(data, []string{"e1", "e3", "e4"}) {
		t.Errorf("after Ack: %v", data)
	}
	// e1 was appended at 1001 s, e3 at 1003 s.
	if n, _ := q.Expire(ctx, time.Unix(1003, 0)); n != 1 {
		t.Errorf("Expire removed %d, want 1 (e1)", n)
	}
	st, _ := q.Stats(ctx)
	if st.Len != 2 || !st.Oldest.Equal(time.Unix(1003, 0)) {
		t.Errorf("Stats = %+v, want 2 entries, the oldest from 1003 s", st)
	}
}

// One holder at a time has the lease; it lapses after its TTL, and a
// release frees it at once.
func TestMemoryQueueLease(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryQueues()
	now := time.Unix(0, 0)
	s.now = func() time.Time { return now }
	q := s.Queue("q", QueueLimits{MaxLen: 1})
	steps := []struct {
		holder string
		want   bool
		after  time.Duration
	}{
		{"a", true, 0},
		{"b", false, time.Second},
		{"a", true, 0}, // renewed: 10 s from now
		{"b", false, 9 * time.Second},
		{"b", false, 2 * time.Second},
		{"b", true, 0}, // a's lease lapsed
		{"a", false, 0},
	}
	for i, st := range steps {
		if got, _ := q.Lease(ctx, st.holder, 10*time.Second); got != st.want {
			t.Fatalf("step %d: Lease(%s) = %v, want %v", i, st.holder, got, st.want)
		}
		now = now.Add(st.after)
	}
	_ = q.Release(ctx, "a") // not a's: nothing happens
	if ok, _ := q.Lease(ctx, "a", time.Second); ok {
		t.Error("a took b's lease after releasing a lease it did not hold")
	}
	_ = q.Release(ctx, "b")
	if ok, _ := q.Lease(ctx, "a", time.Second); !ok {
		t.Error("a could not take the lease b released")
	}
}

func entryData(es []QueueEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, string(e.Data))
	}
	return out
}
