package tokens

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/dialect"
	"github.com/switchboard-rt/switchboard/hub"
)

// countingSub counts what the hub delivers to it, as a connection's queue
// would take it, without a network.
type countingSub struct{ n int }

func (s *countingSub) Deliver(*hub.Message) error { s.n++; return nil }

// BenchmarkRoute is the token broker's routing: parse the recipient list of
// "abc1,group/,abc3|Hello" (two tokens and a group), then publish once per
// token and once for the group, through a real hub, to holders subscribed
// as connections are (their token's channel and one channel per group
// prefix). members is the number of holders under "group/".
func BenchmarkRoute(b *testing.B) {
	for _, members := range []int{1, 100, 10000} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			h, err := hub.New(nil)
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			d, err := New(config.Default().Tokens, dialect.Deps{Hub: h, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = d.Shutdown(context.Background()) }()
			holders := []string{"abc1", "abc3"}
			for i := range members {
				holders = append(holders, fmt.Sprintf("group/item%d", i))
			}
			subs := make([]*countingSub, len(holders))
			for i, token := range holders {
				subs[i] = &countingSub{}
				if err := d.subscribe(h.NewID(), subs[i], channelsOf(token), nil); err != nil {
					b.Fatal(err)
				}
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				msg := ParseMessage("abc1,group/,abc3|Hello")
				if err := d.route(ctx, ParseRecipients(msg.Recipients), msg.Payload); err != nil {
					b.Fatal(err)
				}
			}
			for i, s := range subs {
				if s.n != b.N {
					b.Fatalf("holder %s got %d of %d messages", holders[i], s.n, b.N)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(holders)), "ns/delivery")
		})
	}
}
