package hub

import (
	"context"
	"maps"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestCollector(t *testing.T) {
	h := newHub(t, nil)
	ctx := context.Background()
	var delivered atomic.Int64
	for id := SubscriberID(1); id <= 2; id++ {
		if _, err := h.Subscribe(ctx, "c", id, SubscriberFunc(func(*Message) error { delivered.Add(1); return nil })); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Publish(ctx, "c", []byte("x"), NoID); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(h.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		got[mf.GetName()] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	want := map[string]float64{
		"switchboard_hub_published_total": 1, "switchboard_hub_received_total": 1, "switchboard_hub_delivered_total": 2,
		"switchboard_hub_slow_consumers_total": 0, "switchboard_hub_channels": 1, "switchboard_hub_subscriptions": 2,
	}
	if !maps.Equal(got, want) || delivered.Load() != 2 {
		t.Errorf("gathered %v, want %v", got, want)
	}
}
