package redis

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/internal/redistest"
)

// BenchmarkSubscriptionMemory measures what a subscribed channel costs
// Redis: b.N channels (-benchtime 100000x) are subscribed by a first bus,
// then again by a second (another node subscribing the same channels), and
// the used_memory of every primary is read before and after. It reports
// B/channel (the first node's subscriptions: the channel's name and
// entries) and B/node-sub (each further node subscribing a channel). On
// "cluster" the bus subscribes with SSUBSCRIBE on three primaries; the
// figure is their sum.
//
//	go test -run '^$' -bench SubscriptionMemory -benchtime 100000x ./bus/redis/
func BenchmarkSubscriptionMemory(b *testing.B) {
	topologies := []struct {
		name  string
		start func(testing.TB) (url string, primaries []string)
	}{
		{"single", func(t testing.TB) (string, []string) {
			s := redistest.Start(t)
			return s.URL(), []string{s.Addr}
		}},
		{"cluster", func(t testing.TB) (string, []string) {
			c := redistest.StartCluster(t, 3, 0)
			addrs := make([]string, len(c.Nodes))
			for i, n := range c.Nodes {
				addrs[i] = n.Addr
			}
			return c.URL(), addrs
		}},
	}
	for _, tp := range topologies {
		b.Run(tp.name, func(b *testing.B) {
			url, primaries := tp.start(b)
			prefix := uniquePrefix(b)
			channels := make([]string, b.N)
			for i := range channels {
				channels[i] = fmt.Sprintf("presence-room-%08d", i) // a typical name: 22 bytes
			}
			used := func() int64 {
				var sum int64
				for _, addr := range primaries {
					c := goredis.NewClient(&goredis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
					info, err := c.Info(context.Background(), "memory").Result()
					_ = c.Close()
					if err != nil {
						b.Fatal(err)
					}
					sum += infoInt(b, info, "used_memory")
				}
				return sum
			}
			subscribeAll := func() {
				n := newNodeURL(b, url, prefix, nil)
				var wg sync.WaitGroup
				for w := range 16 {
					wg.Go(func() {
						for i := w; i < len(channels); i += 16 {
							if err := n.bus.Subscribe(context.Background(), channels[i]); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
			}
			b.ResetTimer()
			m0 := used()
			subscribeAll()
			m1 := used()
			subscribeAll()
			m2 := used()
			b.StopTimer()
			b.ReportMetric(float64(m1-m0)/float64(b.N), "B/channel")
			b.ReportMetric(float64(m2-m1)/float64(b.N), "B/node-sub")
		})
	}
}

// BenchmarkCrossNodeTopology is BenchmarkCrossNode over 64 channels, on
// one redis-server and on a Redis Cluster of three primaries (sharded
// pub/sub), 64-byte messages published round-robin on node B to one
// subscriber per channel on node A: "burst" as fast as Publish returns,
// "rate20k" at 20,000 messages a second. Every server shares the
// machine's cores.
//
//	go test -run '^$' -bench CrossNodeTopology -benchtime 100000x -count 3 ./bus/redis/
func BenchmarkCrossNodeTopology(b *testing.B) {
	for _, topo := range []string{"single", "cluster"} {
		var url string
		switch topo {
		case "single":
			url = redistest.Start(b).URL()
		default:
			url = redistest.StartCluster(b, 3, 0).URL()
		}
		for _, mode := range []string{"burst", "rate20k"} {
			b.Run(topo+"_"+mode, func(b *testing.B) {
				prefix := uniquePrefix(b)
				tweak := func(o *Options) { o.HeartbeatInterval, o.PresenceTTL = time.Second, 5*time.Second }
				a := newNodeURL(b, url, prefix, tweak)
				pub := newNodeURL(b, url, prefix, tweak)
				sub := &latencySub{want: int64(b.N), done: make(chan struct{}), lat: make([]time.Duration, 0, b.N)}
				channels := seq("bench-", 64)
				for _, ch := range channels {
					if _, err := a.hub.Subscribe(context.Background(), ch, a.hub.NewID(), sub); err != nil {
						b.Fatal(err)
					}
				}
				ctx := context.Background()
				b.SetBytes(64)
				b.ResetTimer()
				start := time.Now()
				for i := range b.N {
					p := make([]byte, 64)
					binary.BigEndian.PutUint64(p, uint64(time.Now().UnixNano()))
					if err := pub.hub.Publish(ctx, channels[i%len(channels)], p, hub.NoID); err != nil {
						b.Fatal(err)
					}
					if mode == "rate20k" && i%20 == 19 {
						time.Sleep(time.Until(start.Add(time.Duration(i+1) * time.Second / 20000)))
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
				if s := pub.bus.Stats(); s.Dropped != 0 {
					b.Errorf("%d publishes dropped", s.Dropped)
				}
			})
		}
	}
}

// infoInt reads an integer field of an INFO reply.
func infoInt(tb testing.TB, info, field string) int64 {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				tb.Fatalf("INFO %s: %v", field, err)
			}
			return n
		}
	}
	tb.Fatalf("INFO has no %s", field)
	return 0
}
