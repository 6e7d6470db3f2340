package redis

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// counters are the bus's statistics; see Stats.
type counters struct {
	published, received, dropped, overflowed, malformed atomic.Uint64
	stateChanges, outages, connects, resyncs            atomic.Uint64
	reapedNodes, reapedMembers, writeErrors             atomic.Uint64
	beats, attempts                                     atomic.Uint64 // for tests: heartbeats run, connection attempts
}

// Stats is a snapshot of a Bus's counters (totals since New).
type Stats struct {
	// Up reports that the node is connected to Redis and its state is
	// written there (what Ready checks).
	Up bool
	// StateChanges counts changes between up and down; Outages counts the
	// changes to down after the node had been up.
	StateChanges, Outages uint64
	// Connects counts pub/sub connections established.
	Connects uint64
	// Published counts messages sent to Redis; Received, messages from
	// other nodes received from Redis.
	Published, Received uint64
	// Dropped counts publishes that did not reach Redis (it was down, or
	// the send failed): they reached this node's subscribers only.
	Dropped uint64
	// Overflowed counts received messages dropped because a delivery
	// queue was full; Malformed, messages that were not envelopes.
	Overflowed, Malformed uint64
	// Resyncs counts writes of this node's whole state back to Redis.
	Resyncs uint64
	// ReapedNodes counts dead nodes this node reaped, ReapedMembers the
	// users it reported as left for them.
	ReapedNodes, ReapedMembers uint64
	// WriteErrors counts failed writes of presence and counts.
	WriteErrors uint64
}

// Stats returns the current counters.
func (b *Bus) Stats() Stats {
	s := &b.stats
	return Stats{
		Up:            b.Up(),
		StateChanges:  s.stateChanges.Load(),
		Outages:       s.outages.Load(),
		Connects:      s.connects.Load(),
		Published:     s.published.Load(),
		Received:      s.received.Load(),
		Dropped:       s.dropped.Load(),
		Overflowed:    s.overflowed.Load(),
		Malformed:     s.malformed.Load(),
		Resyncs:       s.resyncs.Load(),
		ReapedNodes:   s.reapedNodes.Load(),
		ReapedMembers: s.reapedMembers.Load(),
		WriteErrors:   s.writeErrors.Load(),
	}
}

// Collector returns a prometheus.Collector of the bus's Stats, as
// switchboard_redis_* series, read at scrape time. Register it on the
// server's registry.
func (b *Bus) Collector() prometheus.Collector { return &collector{b: b} }

type collector struct{ b *Bus }

type metric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(Stats) float64
}

func m(name, help string, kind prometheus.ValueType, value func(Stats) float64) metric {
	return metric{prometheus.NewDesc("switchboard_redis_"+name, help, nil, nil), kind, value}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

var metrics = []metric{
	m("up", "1 while connected to Redis with this node's state written there, else 0.", prometheus.GaugeValue, func(s Stats) float64 { return b2f(s.Up) }),
	m("state_changes_total", "Changes between connected and unreachable.", prometheus.CounterValue, func(s Stats) float64 { return float64(s.StateChanges) }),
	m("outages_total", "Times Redis became unreachable after being connected.", prometheus.CounterValue, func(s Stats) float64 { return float64(s.Outages) }),
	m("connects_total", "Pub/sub connections established.", prometheus.CounterValue, func(s Stats) float64 { return float64(s.Connects) }),
	m("published_total", "Messages sent to Redis for other nodes.", prometheus.CounterValue, func(s Stats) float64 { return float64(s.Published) }),
	m("received_total", "Messages received from other nodes.", prometheus.CounterValue, func(s Stats) float64 { return float64(s.Received) }),
	m("dropped_total", "Publishes that reached local subscribers only: Redis was unreachable or the send failed.", prometheus.CounterValue, func(s Stats) float64 { return float64(s.Dropped) }),
	m("receive_overflows_total", "Received messages dropped because a delivery queue was full.", prometheus.CounterValue, func(s Stats) float64 { return float64(s.Overflowed) }),
	m("resyncs_total", "Writes of this node's whole presence and counts back to Redis.", prometheus.CounterValue, func(s Stats) float64 { return float64(s.Resyncs) }),
	m("reaped_nodes_total", "Dead nodes this node reaped.", prometheus.CounterValue, func(s Stats) float64 { return float64(s.ReapedNodes) }),
	m("reaped_members_total", "Users reported as left for reaped nodes.", prometheus.CounterValue, func(s Stats) float64 { return float64(s.ReapedMembers) }),
	m("write_errors_total", "Failed writes of presence entries and counts.", prometheus.CounterValue, func(s Stats) float64 { return float64(s.WriteErrors) }),
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range metrics {
		ch <- m.desc
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.b.Stats()
	for _, m := range metrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(s))
	}
}
