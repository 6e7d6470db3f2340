package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchboard-rt/switchboard/dialect"
	"github.com/switchboard-rt/switchboard/ws"
)

// newRegistry returns the server's own registry (never the global one, so
// that tests and embedders can run several servers in one process) with the
// Go runtime, process and build collectors and the per-dialect WebSocket
// counters.
func newRegistry(dialects []dialect.Dialect) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	cs := []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
		newDialectCollector(dialects),
	}
	for _, d := range dialects {
		if c, ok := d.(prometheus.Collector); ok {
			cs = append(cs, c)
		}
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

func metricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// dialectCollector reads each dialect's ws.Stats at scrape time, so the
// WebSocket layer keeps plain atomic counters and knows nothing of
// Prometheus.
type dialectCollector struct {
	dialects []dialect.Dialect
	metrics  []dialectMetric
}

// dialectMetric is one series per dialect, read from ws.Stats.
type dialectMetric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(ws.Stats) float64
}

func newDialectCollector(dialects []dialect.Dialect) *dialectCollector {
	m := func(name, help string, kind prometheus.ValueType, value func(ws.Stats) float64) dialectMetric {
		return dialectMetric{
			desc:  prometheus.NewDesc("switchboard_"+name, help, []string{"dialect"}, nil),
			kind:  kind,
			value: value,
		}
	}
	return &dialectCollector{dialects: dialects, metrics: []dialectMetric{
		m("connections", "Open WebSocket connections.", prometheus.GaugeValue,
			func(s ws.Stats) float64 { return float64(s.Connections) }),
		m("connections_accepted_total", "WebSocket handshakes completed.", prometheus.CounterValue,
			func(s ws.Stats) float64 { return float64(s.Accepted) }),
		m("messages_received_total", "WebSocket data messages received (after reassembly).", prometheus.CounterValue,
			func(s ws.Stats) float64 { return float64(s.MessagesReceived) }),
		m("received_bytes_total", "Payload bytes of WebSocket messages received.", prometheus.CounterValue,
			func(s ws.Stats) float64 { return float64(s.BytesReceived) }),
		m("frames_sent_total", "WebSocket frames written, data and control.", prometheus.CounterValue,
			func(s ws.Stats) float64 { return float64(s.FramesSent) }),
		m("sent_bytes_total", "Bytes written to WebSocket connections, frame headers included.", prometheus.CounterValue,
			func(s ws.Stats) float64 { return float64(s.BytesSent) }),
		m("socket_writes_total", "Socket write calls; frames_sent_total / socket_writes_total is the write coalescing factor.", prometheus.CounterValue,
			func(s ws.Stats) float64 { return float64(s.Writes) }),
		m("slow_consumer_closes_total", "WebSocket connections closed because their send queue was full.", prometheus.CounterValue,
			func(s ws.Stats) float64 { return float64(s.Overflows) }),
		m("connections_refused_per_ip_total", "WebSocket handshakes refused with 429 because their client address held limits.connections_per_ip connections.", prometheus.CounterValue,
			func(s ws.Stats) float64 { return float64(s.RefusedPerAddr) }),
	}}
}

// Describe implements prometheus.Collector.
func (c *dialectCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
}

// Collect implements prometheus.Collector.
func (c *dialectCollector) Collect(ch chan<- prometheus.Metric) {
	for _, d := range c.dialects {
		st := d.Stats()
		for _, m := range c.metrics {
			ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(st), d.Name())
		}
	}
}
