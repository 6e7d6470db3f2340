package main

import (
	"strings"
	"testing"

	"github.com/switchboard-rt/switchboard/internal/loadgen"
)

func TestBesideTargets(t *testing.T) {
	window := func(n int) *int { return &n }
	for _, tc := range []struct {
		name string
		r    loadgen.Result
		want []string
		not  []string
	}{
		{
			"a short fanout is not comparable",
			loadgen.Result{Scenario: "fanout", Protocol: "pusher", Connections: 1000, Channels: 1, Window: window(64), DurationS: 5,
				DeliveryRate: 400000, Latency: &loadgen.Latency{P99: 30}},
			[]string{"fanout pusher: 400,000 deliveries/s, p99 30.0 ms", "target: ≥ 750,000 deliveries/s", "README: 1.2 M deliveries/s",
				"not comparable", "--window 64 (--window 8)", "a 5 s measurement (10 s)"},
			[]string{"MISSES", "meets"},
		},
		{
			"the target's configuration that meets it",
			loadgen.Result{Scenario: "fanout", Protocol: "pusher", Connections: 1000, Channels: 1, Window: window(8), DurationS: 10,
				DeliveryRate: 1175907, Latency: &loadgen.Latency{P99: 12.7}},
			[]string{"1,175,907 deliveries/s, p99 12.7 ms", "same configuration as the target's run: meets the target"},
			[]string{"not comparable"},
		},
		{
			"the target's configuration that misses it",
			loadgen.Result{Scenario: "channels", Protocol: "pusher", Connections: 10000, Channels: 1000, Window: window(64), DurationS: 10,
				PublishRate: 16662, Latency: &loadgen.Latency{P99: 18.1}},
			[]string{"16,662 publishes/s, p99 18.1 ms", "MISSES the target"},
			[]string{"not comparable"},
		},
		{
			"a small hold",
			loadgen.Result{Scenario: "hold", Protocol: "pusher", Connections: 2000, DurationS: 2, ServerRSSPerConn: 1712, ConnectRate: 9000},
			[]string{"1,712 B per connection, 9,000 connects/s", "README: 1.7 KB", "2,000 connections (target's run: 19,000)", "a 2 s measurement (10 s)"},
			nil,
		},
		{
			"a run with no target",
			loadgen.Result{Scenario: "echo", Protocol: "echo", Connections: 100, DurationS: 5},
			nil,
			[]string{"echo echo"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			writeBesideTargets(&b, []loadgen.Result{tc.r})
			out := b.String()
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("lacks %q:\n%s", w, out)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out, n) {
					t.Errorf("has %q:\n%s", n, out)
				}
			}
		})
	}
}
