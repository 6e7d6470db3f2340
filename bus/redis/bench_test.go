package redis

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/internal/redistest"
)

// latencySub records, for each message, the time since the publish
// timestamp in its first 8 bytes.
type latencySub struct {
	mu   sync.Mutex
	lat  []time.Duration
	n    atomic.Int64
	want int64
	done chan struct{}
	each chan struct{} // paced mode: one signal per message
}

func (s *latencySub) Deliver(m *hub.Message) error {
	sent := int64(binary.BigEndian.Uint64(m.Payload()))
	d := time.Duration(time.Now().UnixNano() - sent)
	s.mu.Lock()
	s.lat = append(s.lat, d)
	s.mu.Unlock()
	if s.n.Add(1) == s.want {
		close(s.done)
	}
	if s.each != nil {
		s.each <- struct{}{}
	}
	return nil
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

// BenchmarkCrossNode publishes b.N messages on node B to one channel with
// one subscriber on node A, through a real redis-server on loopback, and
// reports the delivery rate and the publish-to-delivery latency. "burst"
// publishes as fast as Publish returns (the most the path carries; the
// latency is then mostly time spent in the publish queue); "rate20k"
// publishes 20,000 a second (latency at a sustained load); "paced" waits
// for each message before the next (latency of one message alone).
//
//	go test -run '^$' -bench CrossNode -benchtime 20000x ./bus/redis/
func BenchmarkCrossNode(b *testing.B) {
	srv := redistest.Start(b)
	for _, size := range []int{64, 1024} {
		for _, mode := range []string{"burst", "rate20k", "paced"} {
			b.Run(fmt.Sprintf("%s_%dB", mode, size), func(b *testing.B) {
				nodes := newCluster(b, srv, 2, func(o *Options) {
					o.HeartbeatInterval, o.PresenceTTL = time.Second, 5*time.Second
				})
				a, pub := nodes[0], nodes[1]
				sub := &latencySub{want: int64(b.N), done: make(chan struct{}), lat: make([]time.Duration, 0, b.N)}
				if mode == "paced" {
					sub.each = make(chan struct{}, 1)
				}
				if _, err := a.hub.Subscribe(context.Background(), "bench", a.hub.NewID(), sub); err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				b.SetBytes(int64(size))
				b.ResetTimer()
				start := time.Now()
				for i := range b.N {
					p := make([]byte, size)
					binary.BigEndian.PutUint64(p, uint64(time.Now().UnixNano()))
					if err := pub.hub.Publish(ctx, "bench", p, hub.NoID); err != nil {
						b.Fatal(err)
					}
					switch mode {
					case "paced":
						<-sub.each
					case "rate20k":
						// 20 messages a millisecond: sleep to the next
						// millisecond boundary after each 20th.
						if i%20 == 19 {
							time.Sleep(time.Until(start.Add(time.Duration(i+1) * time.Second / 20000)))
						}
					}
				}
				select {
				case <-sub.done:
				case <-time.After(time.Minute):
					b.Fatalf("only %d of %d messages arrived", sub.n.Load(), b.N)
				}
				elapsed := time.Since(start)
				b.StopTimer()
				sub.mu.Lock()
				lat := slices.Clone(sub.lat)
				sub.mu.Unlock()
				slices.Sort(lat)
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
				b.ReportMetric(float64(percentile(lat, 0.50).Microseconds()), "p50-µs")
				b.ReportMetric(float64(percentile(lat, 0.99).Microseconds()), "p99-µs")
				b.ReportMetric(float64(percentile(lat, 1).Microseconds()), "max-µs")
				if s := pub.bus.Stats(); s.Dropped != 0 {
					b.Errorf("%d publishes dropped", s.Dropped)
				}
			})
		}
	}
}
