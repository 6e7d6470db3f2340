package console

import (
	"context"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Stats is one reading of the server's figures, taken from its metrics
// registry (and, in a cluster, from Redis): what the overview shows and
// what GET <path>/api/stats answers. Counters are totals since start.
type Stats struct {
	Time          time.Time      `json:"time"`
	Node          string         `json:"node"`
	Version       string         `json:"version"`
	UptimeSeconds float64        `json:"uptime_seconds"`
	Connections   float64        `json:"connections"` // all dialects
	Dialects      []DialectStats `json:"dialects"`
	Apps          []AppStats     `json:"apps"`
	Hub           HubStats       `json:"hub"`
	Webhooks      WebhookStats   `json:"webhooks"`
	Process       ProcessStats   `json:"process"`
	// Cluster is nil on a single node (no Redis configured).
	Cluster *ClusterStats `json:"cluster,omitempty"`
	// Rates are per second over the last sampling interval; nil in the
	// first reading of a stream and in GET api/stats.
	Rates *Rates `json:"rates,omitempty"`
}

// DialectStats are one dialect's WebSocket counters.
type DialectStats struct {
	Name               string  `json:"name"`
	Connections        float64 `json:"connections"`
	Accepted           float64 `json:"accepted"`
	MessagesReceived   float64 `json:"messages_received"`
	BytesReceived      float64 `json:"bytes_received"`
	BytesSent          float64 `json:"bytes_sent"`
	SlowConsumerCloses float64 `json:"slow_consumer_closes"`
}

// AppStats are one Pusher app's figures.
type AppStats struct {
	ID          string  `json:"id"`
	Key         string  `json:"key"`
	Enabled     bool    `json:"enabled"`
	Connections float64 `json:"connections"` // on this node
	// ClusterConnections counts every node's; nil when unknown.
	ClusterConnections *int    `json:"cluster_connections,omitempty"`
	Published          float64 `json:"published"`
	WebhookQueue       float64 `json:"webhook_queue"`
}

// HubStats are the hub's counters on this node.
type HubStats struct {
	Published     float64 `json:"published"`
	Received      float64 `json:"received"`
	Delivered     float64 `json:"delivered"`
	SlowConsumers float64 `json:"slow_consumers"`
	Channels      float64 `json:"channels"`
	Subscriptions float64 `json:"subscriptions"`
}

// WebhookStats are the Pusher webhooks' counters, all apps together.
type WebhookStats struct {
	Queued   float64 `json:"queued"`
	Sent     float64 `json:"sent"`
	Failures float64 `json:"failures"`
	Dropped  float64 `json:"dropped"`
}

// ProcessStats describe the server process.
type ProcessStats struct {
	RSSBytes   float64 `json:"rss_bytes"`
	HeapBytes  float64 `json:"heap_bytes"`
	Goroutines float64 `json:"goroutines"`
	OpenFDs    float64 `json:"open_fds"`
	MaxFDs     float64 `json:"max_fds"`
}

// ClusterStats describe the Redis bus and the nodes sharing it.
type ClusterStats struct {
	RedisUp   bool    `json:"redis_up"`
	Published float64 `json:"published"`
	Received  float64 `json:"received"`
	Dropped   float64 `json:"dropped"`
	Outages   float64 `json:"outages"`
	Nodes     []Node  `json:"nodes"`
	// Error says why Nodes could not be read, if it could not.
	Error string `json:"error,omitempty"`
}

// Rates are per-second figures between two readings.
type Rates struct {
	Connects    float64 `json:"connects"`
	Disconnects float64 `json:"disconnects"`
	MessagesIn  float64 `json:"messages_in"`  // published by this node: REST, client events, presence
	MessagesOut float64 `json:"messages_out"` // queued to this node's subscribers
	BytesIn     float64 `json:"bytes_in"`
	BytesOut    float64 `json:"bytes_out"`
}

// families indexes a registry's metric families by name.
type families map[string]*dto.MetricFamily

func gather(g prometheus.Gatherer) (families, error) {
	mfs, err := g.Gather()
	f := make(families, len(mfs))
	for _, mf := range mfs {
		f[mf.GetName()] = mf
	}
	return f, err
}

// each calls fn with the value and labels of every series of name.
func (f families) each(name string, fn func(v float64, label func(string) string)) {
	mf := f[name]
	if mf == nil {
		return
	}
	for _, m := range mf.GetMetric() {
		label := func(n string) string {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == n {
					return lp.GetValue()
				}
			}
			return ""
		}
		fn(metricValue(m), label)
	}
}

// sum adds up every series of name.
func (f families) sum(name string) float64 {
	var t float64
	f.each(name, func(v float64, _ func(string) string) { t += v })
	return t
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return math.NaN()
}

// dialectFields are the per-dialect series and where each goes.
var dialectFields = map[string]func(*DialectStats) *float64{
	"switchboard_connections":                func(d *DialectStats) *float64 { return &d.Connections },
	"switchboard_connections_accepted_total": func(d *DialectStats) *float64 { return &d.Accepted },
	"switchboard_messages_received_total":    func(d *DialectStats) *float64 { return &d.MessagesReceived },
	"switchboard_received_bytes_total":       func(d *DialectStats) *float64 { return &d.BytesReceived },
	"switchboard_sent_bytes_total":           func(d *DialectStats) *float64 { return &d.BytesSent },
	"switchboard_slow_consumer_closes_total": func(d *DialectStats) *float64 { return &d.SlowConsumerCloses },
}

// read takes one reading. The cluster's errors are reported in the result,
// not returned: the page still shows this node while Redis is down.
func (c *Console) read(ctx context.Context) Stats {
	now := time.Now()
	f, err := gather(c.opts.Gatherer)
	if err != nil {
		c.log.Debug("console: gathering metrics", "err", err) // what was gathered is still used
	}
	s := Stats{Time: now, Node: c.opts.NodeID, Version: c.opts.Version}
	if start := f.sum("process_start_time_seconds"); start > 0 {
		s.UptimeSeconds = math.Round(float64(now.UnixMilli())/1000 - start)
	}

	byName := map[string]*DialectStats{}
	for metric, field := range dialectFields {
		f.each(metric, func(v float64, label func(string) string) {
			name := label("dialect")
			if byName[name] == nil {
				byName[name] = &DialectStats{Name: name}
			}
			*field(byName[name]) = v
		})
	}
	for _, d := range byName {
		s.Dialects = append(s.Dialects, *d)
		s.Connections += d.Connections
	}
	slices.SortFunc(s.Dialects, func(a, b DialectStats) int { return strings.Compare(a.Name, b.Name) })

	s.Hub = HubStats{
		Published:     f.sum("switchboard_hub_published_total"),
		Received:      f.sum("switchboard_hub_received_total"),
		Delivered:     f.sum("switchboard_hub_delivered_total"),
		SlowConsumers: f.sum("switchboard_hub_slow_consumers_total"),
		Channels:      f.sum("switchboard_hub_channels"),
		Subscriptions: f.sum("switchboard_hub_subscriptions"),
	}
	s.Webhooks = WebhookStats{
		Queued:   f.sum("switchboard_pusher_app_webhook_queue_events"),
		Sent:     f.sum("switchboard_pusher_webhooks_sent_total"),
		Failures: f.sum("switchboard_pusher_webhook_failures_total"),
		Dropped:  f.sum("switchboard_pusher_webhook_events_dropped_total"),
	}
	s.Process = ProcessStats{
		RSSBytes:   f.sum("process_resident_memory_bytes"),
		HeapBytes:  f.sum("go_memstats_heap_inuse_bytes"),
		Goroutines: f.sum("go_goroutines"),
		OpenFDs:    f.sum("process_open_fds"),
		MaxFDs:     f.sum("process_max_fds"),
	}
	s.Apps = c.appStats(ctx, f)
	if c.opts.Cluster != nil {
		s.Cluster = c.clusterStats(ctx, f)
	}
	return s
}

// appStats returns each Pusher app's figures, with every node's connection
// count when the hub can tell.
func (c *Console) appStats(ctx context.Context, f families) []AppStats {
	if c.opts.Apps == nil {
		return nil
	}
	per := func(name string) map[string]float64 {
		m := map[string]float64{}
		f.each(name, func(v float64, label func(string) string) { m[label("app_id")] += v })
		return m
	}
	conns, pub, queue := per("switchboard_pusher_app_connections"), per("switchboard_pusher_app_published_total"), per("switchboard_pusher_app_webhook_queue_events")
	var cluster map[string]int
	if c.opts.Cluster != nil {
		ctx, cancel := context.WithTimeout(ctx, readTimeout)
		kcs, err := c.opts.Hub.ConnectionCounts(ctx, AppConnectionKeyPrefix)
		cancel()
		if err == nil {
			cluster = map[string]int{}
			for _, kc := range kcs {
				cluster[strings.TrimPrefix(kc.Key, AppConnectionKeyPrefix)] = kc.Count
			}
		}
	}
	apps := c.opts.Apps.Apps()
	out := make([]AppStats, len(apps))
	for i, a := range apps {
		out[i] = AppStats{ID: a.ID, Key: a.Key, Enabled: a.Enabled, Connections: conns[a.ID], Published: pub[a.ID], WebhookQueue: queue[a.ID]}
		if cluster != nil {
			n := cluster[a.ID]
			out[i].ClusterConnections = &n
		}
	}
	return out
}

// AppConnectionKeyPrefix is what the Pusher dialect's connection-count keys
// (hub.SpaceConnections) start with; the app id follows.
const AppConnectionKeyPrefix = "pusher/"

// clusterStats reads the bus's counters and the nodes Redis lists.
func (c *Console) clusterStats(ctx context.Context, f families) *ClusterStats {
	cs := &ClusterStats{
		RedisUp:   f.sum("switchboard_redis_up") == 1,
		Published: f.sum("switchboard_redis_published_total"),
		Received:  f.sum("switchboard_redis_received_total"),
		Dropped:   f.sum("switchboard_redis_dropped_total"),
		Outages:   f.sum("switchboard_redis_outages_total"),
	}
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	nodes, err := c.opts.Cluster.Nodes(ctx)
	if err != nil {
		cs.Error = err.Error()
	}
	cs.Nodes = nodes
	return cs
}

// rates returns the per-second change from prev to cur.
func rates(prev, cur *Stats) *Rates {
	dt := cur.Time.Sub(prev.Time).Seconds()
	if dt <= 0 {
		return &Rates{}
	}
	sum := func(s *Stats, f func(DialectStats) float64) float64 {
		var t float64
		for _, d := range s.Dialects {
			t += f(d)
		}
		return t
	}
	per := func(a, b float64) float64 { return math.Max(b-a, 0) / dt }
	accepted := func(d DialectStats) float64 { return d.Accepted }
	connects := per(sum(prev, accepted), sum(cur, accepted))
	// Every connection accepted and not still open has closed.
	disconnects := math.Max(connects-(cur.Connections-prev.Connections)/dt, 0)
	return &Rates{
		Connects:    connects,
		Disconnects: disconnects,
		MessagesIn:  per(prev.Hub.Published, cur.Hub.Published),
		MessagesOut: per(prev.Hub.Delivered, cur.Hub.Delivered),
		BytesIn:     per(sum(prev, func(d DialectStats) float64 { return d.BytesReceived }), sum(cur, func(d DialectStats) float64 { return d.BytesReceived })),
		BytesOut:    per(sum(prev, func(d DialectStats) float64 { return d.BytesSent }), sum(cur, func(d DialectStats) float64 { return d.BytesSent })),
	}
}
