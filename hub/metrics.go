package hub

import "github.com/prometheus/client_golang/prometheus"

// Collector returns a prometheus.Collector of the hub's Stats, as
// switchboard_hub_* series read at scrape time. Register it on the
// server's registry.
func (h *Hub) Collector() prometheus.Collector { return hubCollector{h} }

type hubCollector struct{ h *Hub }

type hubMetric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(Stats) float64
}

var hubMetrics = func() []hubMetric {
	m := func(name, help string, kind prometheus.ValueType, v func(Stats) float64) hubMetric {
		return hubMetric{prometheus.NewDesc("switchboard_hub_"+name, help, nil, nil), kind, v}
	}
	c, g := prometheus.CounterValue, prometheus.GaugeValue
	return []hubMetric{
		m("published_total", "Messages this node published (handed to the bus), from every dialect.", c, func(s Stats) float64 { return float64(s.Published) }),
		m("received_total", "Messages the bus handed to this node for its subscribers, published on any node.", c, func(s Stats) float64 { return float64(s.Received) }),
		m("delivered_total", "Messages queued to this node's subscribers, one per subscriber.", c, func(s Stats) float64 { return float64(s.Delivered) }),
		m("slow_consumers_total", "Deliveries refused because the subscriber's queue was full; each closed the subscriber.", c, func(s Stats) float64 { return float64(s.SlowConsumers) }),
		m("channels", "Channels with a subscriber on this node.", g, func(s Stats) float64 { return float64(s.Channels) }),
		m("subscriptions", "Subscriptions on this node.", g, func(s Stats) float64 { return float64(s.Subscriptions) }),
	}
}()

// Describe implements prometheus.Collector.
func (c hubCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range hubMetrics {
		ch <- m.desc
	}
}

// Collect implements prometheus.Collector.
func (c hubCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.h.Stats()
	for _, m := range hubMetrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(s))
	}
}
