package hub

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/switchboard-rt/switchboard/ws"
)

// BenchmarkPublish measures one publish fanned out to subs no-op
// subscribers of one channel through the in-process bus, with the default
// options (the parallel split above 512 subscribers on GOMAXPROCS
// goroutines).
func BenchmarkPublish(b *testing.B) {
	for _, subs := range []int{1, 100, 10000} {
		b.Run(fmt.Sprintf("subs=%d", subs), func(b *testing.B) {
			benchPublish(b, nil, subs, func() Subscriber { return &nopSub{} })
		})
	}
}

// BenchmarkPublishSplit compares the fan-out to 10,000 subscribers on the
// publishing goroutine alone (parallelism=1) and split over GOMAXPROCS
// goroutines, with subscribers that lock and append as a connection's send
// queue does.
func BenchmarkPublishSplit(b *testing.B) {
	for _, p := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("subs=10000/parallelism=%d", p), func(b *testing.B) {
			benchPublish(b, &Options{FanoutParallelism: p}, 10000, func() Subscriber { return &queueSub{q: make([]*ws.PreparedMessage, 0, 16)} })
		})
	}
}

// queueSub queues like a connection: a lock and an append to a bounded
// queue, emptied here when full instead of by a writer.
type queueSub struct {
	mu sync.Mutex
	q  []*ws.PreparedMessage
}

func (s *queueSub) Deliver(m *Message) error {
	s.mu.Lock()
	if len(s.q) == 16 {
		s.q = s.q[:0]
	}
	s.q = append(s.q, m.Frame())
	s.mu.Unlock()
	return nil
}

func benchPublish(b *testing.B, opts *Options, subs int, newSub func() Subscriber) {
	h := newHub(b, opts)
	for i := range subs {
		mustSubscribe(b, h, "bench", SubscriberID(i+1), newSub())
	}
	payload := []byte(`{"event":"update","channel":"bench","data":"{\"price\":42}"}`)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := h.Publish(ctx, "bench", payload, NoID); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(subs), "ns/delivery")
}
