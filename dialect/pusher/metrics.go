package pusher

import (
	"context"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// counters are the dialect's own statistics, read at scrape time.
type counters struct {
	connections             atomic.Int64  // open, served (not refused) connections
	closedByServer          atomic.Uint64 // connections closed with a protocol error
	pongTimeouts            atomic.Uint64
	subscriptions           atomic.Uint64
	subscriptionErrors      atomic.Uint64
	authFailures            atomic.Uint64 // bad channel or sign-in signatures
	published               atomic.Uint64 // messages handed to the hub
	clientEvents            atomic.Uint64
	clientEventsRejected    atomic.Uint64
	clientEventsRateLimited atomic.Uint64
	restRequests            atomic.Uint64
	restErrors              atomic.Uint64 // REST answers of 400 and above
	restAuthFailures        atomic.Uint64
	webhooksSent            atomic.Uint64 // POSTs answered 2xx
	webhookFailures         atomic.Uint64 // attempts that failed (each retry counts)
	webhookEventsDropped    atomic.Uint64 // events dropped, all apps and reasons (per app: app.hookDrops)
	edgeErrors              atomic.Uint64 // failed calls of the edge store (webhook state)
}

// metric is one series read from the counters.
type metric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(*counters) float64
}

var metrics = func() []metric {
	m := func(name, help string, kind prometheus.ValueType, v func(*counters) float64) metric {
		return metric{prometheus.NewDesc("switchboard_pusher_"+name, help, nil, nil), kind, v}
	}
	c := prometheus.CounterValue
	u := func(f func(*counters) *atomic.Uint64) func(*counters) float64 {
		return func(s *counters) float64 { return float64(f(s).Load()) }
	}
	return []metric{
		m("connections", "Open Pusher connections (served, not refused).", prometheus.GaugeValue,
			func(s *counters) float64 { return float64(s.connections.Load()) }),
		m("protocol_closes_total", "Connections closed by the server with a Pusher error code.", c, u(func(s *counters) *atomic.Uint64 { return &s.closedByServer })),
		m("pong_timeouts_total", "Connections closed with 4201 for a missing pong.", c, u(func(s *counters) *atomic.Uint64 { return &s.pongTimeouts })),
		m("subscriptions_total", "Successful channel subscriptions.", c, u(func(s *counters) *atomic.Uint64 { return &s.subscriptions })),
		m("subscription_errors_total", "Subscriptions refused with pusher:subscription_error.", c, u(func(s *counters) *atomic.Uint64 { return &s.subscriptionErrors })),
		m("auth_failures_total", "Channel subscriptions and sign-ins with a bad signature.", c, u(func(s *counters) *atomic.Uint64 { return &s.authFailures })),
		m("published_total", "Messages published to the hub (events, presence, client events).", c, u(func(s *counters) *atomic.Uint64 { return &s.published })),
		m("client_events_total", "Client events relayed.", c, u(func(s *counters) *atomic.Uint64 { return &s.clientEvents })),
		m("client_events_rejected_total", "Client events refused, rate-limited ones included.", c, u(func(s *counters) *atomic.Uint64 { return &s.clientEventsRejected })),
		m("client_events_rate_limited_total", "Client events refused with 4301.", c, u(func(s *counters) *atomic.Uint64 { return &s.clientEventsRateLimited })),
		m("rest_requests_total", "REST API requests.", c, u(func(s *counters) *atomic.Uint64 { return &s.restRequests })),
		m("rest_errors_total", "REST API requests answered with an error status.", c, u(func(s *counters) *atomic.Uint64 { return &s.restErrors })),
		m("rest_auth_failures_total", "REST API requests refused for their signature or timestamp.", c, u(func(s *counters) *atomic.Uint64 { return &s.restAuthFailures })),
		m("webhooks_sent_total", "Webhook POSTs delivered (2xx).", c, u(func(s *counters) *atomic.Uint64 { return &s.webhooksSent })),
		m("webhook_failures_total", "Webhook POST attempts that failed; each retry counts.", c, u(func(s *counters) *atomic.Uint64 { return &s.webhookFailures })),
		m("webhook_state_errors_total", "Calls of the cluster's webhook state store (occupied channels, members, online users) that failed; "+
			"their changes are reported once the store is back.", c, u(func(s *counters) *atomic.Uint64 { return &s.edgeErrors })),
	}
}()

// webhookDropped is the webhook events dropped, per app and reason: one
// series for each configured app and each dropReason.
var webhookDropped = prometheus.NewDesc("switchboard_pusher_webhook_events_dropped_total",
	"Webhook events dropped by this node, by app and reason: queue_full (the URL's queue was full), "+
		"retries_exhausted (not delivered within 5 minutes), shutdown (not delivered at shutdown, without Redis).",
	[]string{"app_id", "reason"}, nil)

// Per-app series: one for each configured app, so their number is bounded
// by the config.
var (
	appConnections = prometheus.NewDesc("switchboard_pusher_app_connections",
		"Open Pusher connections of each app on this node.", []string{"app_id"}, nil)
	appPublished = prometheus.NewDesc("switchboard_pusher_app_published_total",
		"Messages published to each app's channels (events, presence, client events).", []string{"app_id"}, nil)
	appWebhookQueue = prometheus.NewDesc("switchboard_pusher_app_webhook_queue_events",
		"Webhook events of each app waiting to be sent or retried.", []string{"app_id"}, nil)
)

// Per webhook URL series, labelled by app id, the URL's index in the
// app's webhooks and its host (never the whole URL, which may hold
// credentials). With Redis, the queue's depth and age are the cluster's;
// the counters are this node's.
var (
	hookLabels       = []string{"app_id", "target", "host"}
	hookQueueEvents  = prometheus.NewDesc("switchboard_pusher_webhook_queue_events", "Events waiting in the webhook URL's queue.", hookLabels, nil)
	hookQueueOldest  = prometheus.NewDesc("switchboard_pusher_webhook_queue_oldest_seconds", "Age of the oldest event in the webhook URL's queue (0: empty).", hookLabels, nil)
	hookSent         = prometheus.NewDesc("switchboard_pusher_webhook_target_events_sent_total", "Webhook events delivered (2xx) to the URL by this node.", hookLabels, nil)
	hookRetried      = prometheus.NewDesc("switchboard_pusher_webhook_target_retries_total", "Webhook POSTs to the URL that failed and are retried.", hookLabels, nil)
	hookDropped      = prometheus.NewDesc("switchboard_pusher_webhook_target_events_dropped_total", "Webhook events for the URL dropped by this node, by reason (as switchboard_pusher_webhook_events_dropped_total).", append(slices.Clone(hookLabels), "reason"), nil)
	hookStatsTimeout = time.Second // bounds a scrape's reads of the queues (Redis)
)

// Describe implements prometheus.Collector.
func (d *Dialect) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range metrics {
		ch <- m.desc
	}
	ch <- webhookDropped
	ch <- appConnections
	ch <- appPublished
	ch <- appWebhookQueue
	for _, d := range []*prometheus.Desc{hookQueueEvents, hookQueueOldest, hookSent, hookRetried, hookDropped} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (d *Dialect) Collect(ch chan<- prometheus.Metric) {
	for _, m := range metrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(&d.stats))
	}
	ctx, cancel := context.WithTimeout(d.ctx, hookStatsTimeout)
	defer cancel()
	now := time.Now()
	for _, a := range d.apps().list {
		for r := range numDropReasons {
			ch <- prometheus.MustNewConstMetric(webhookDropped, prometheus.CounterValue, float64(a.hookDrops[r].Load()), a.id, r.String())
		}
		ch <- prometheus.MustNewConstMetric(appConnections, prometheus.GaugeValue, float64(a.conns.Load()), a.id)
		ch <- prometheus.MustNewConstMetric(appPublished, prometheus.CounterValue, float64(a.published.Load()), a.id)
		queued := 0
		for _, t := range a.webhooks {
			queued += collectHook(ch, ctx, t, now)
		}
		ch <- prometheus.MustNewConstMetric(appWebhookQueue, prometheus.GaugeValue, float64(queued), a.id)
	}
}

// collectHook sends the series of one webhook URL and returns its queue's
// depth. A queue that cannot be read (Redis down) has no depth or age
// series.
func collectHook(ch chan<- prometheus.Metric, ctx context.Context, t *hookTarget, now time.Time) int {
	l := []string{t.app.id, strconv.Itoa(t.index), t.host}
	hq := t.q
	ch <- prometheus.MustNewConstMetric(hookSent, prometheus.CounterValue, float64(hq.sent.Load()), l...)
	ch <- prometheus.MustNewConstMetric(hookRetried, prometheus.CounterValue, float64(hq.retried.Load()), l...)
	for r := range numDropReasons {
		ch <- prometheus.MustNewConstMetric(hookDropped, prometheus.CounterValue, float64(hq.drops[r].Load()), append(l, r.String())...)
	}
	st, err := hq.q.Stats(ctx)
	if err != nil {
		return 0
	}
	age := 0.0
	if st.Len > 0 {
		age = max(0, now.Sub(st.Oldest).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(hookQueueEvents, prometheus.GaugeValue, float64(st.Len), l...)
	ch <- prometheus.MustNewConstMetric(hookQueueOldest, prometheus.GaugeValue, age, l...)
	return st.Len
}
