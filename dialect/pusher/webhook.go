package pusher

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/internal/routine"
)

// Webhook delivery settings.
const (
	webhookQueue        = 10000            // events held in memory (no Redis), shared out among all webhook URLs
	webhookMinQueue     = webhookBatch     // the smallest share of one URL
	webhookDurableQueue = 10000            // events held per webhook URL in Redis
	webhookQueueBytes   = 8 << 20          // bytes of events held per URL, in memory or in Redis (client events carry data)
	webhookBatch        = 100              // most events in one POST
	webhookTimeout      = 10 * time.Second // one POST
	webhookRetryFor     = 5 * time.Minute  // an event not delivered this long after it was queued is dropped
	webhookFirstRetry   = time.Second      // then 2 s, 4 s, ... up to webhookMaxRetry
	webhookMaxRetry     = 10 * time.Second
	webhookLease        = 15 * time.Second // a node's hold on a URL's Redis queue, renewed before each POST (> webhookTimeout); another node takes over this long after it dies
	webhookPoll         = time.Second      // how often the holder looks for events other nodes queued in Redis
	webhookDropLogEvery = 10 * time.Second
)

// dropReason is why webhook events were dropped; the metric's reason label.
type dropReason int

const (
	dropQueueFull dropReason = iota // the URL's queue was full
	dropGaveUp                      // not delivered within webhookRetryFor
	dropShutdown                    // not delivered when Shutdown ended (no Redis)
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{"queue_full", "retries_exhausted", "shutdown"}

func (r dropReason) String() string { return dropReasonNames[r] }

// webhookEvent is one event of a webhook body.
type webhookEvent struct {
	app *app

	Name              string  `json:"name"`
	ID                string  `json:"id"` // the idempotency id, the same on every delivery of the event
	Channel           string  `json:"channel,omitempty"`
	UserID            string  `json:"user_id,omitempty"`
	Event             string  `json:"event,omitempty"`
	Data              *string `json:"data,omitempty"`
	SocketID          string  `json:"socket_id,omitempty"`
	SubscriptionCount *int    `json:"subscription_count,omitempty"`
}

// appendJSON appends e as encoding/json would encode it (a test holds them
// to the same meaning, field by field), without its reflection: it runs on
// the connection's goroutine for every event sent to a webhook.
func (e *webhookEvent) appendJSON(b []byte) []byte {
	b = append(b, `{"name":`...)
	b = appendString(b, e.Name)
	b = append(b, `,"id":`...)
	b = appendString(b, e.ID)
	for _, f := range [...]struct{ key, val string }{
		{`,"channel":`, e.Channel}, {`,"user_id":`, e.UserID}, {`,"event":`, e.Event},
	} {
		if f.val != "" {
			b = append(b, f.key...)
			b = appendString(b, f.val)
		}
	}
	if e.Data != nil {
		b = append(b, `,"data":`...)
		b = appendString(b, *e.Data)
	}
	if e.SocketID != "" {
		b = append(b, `,"socket_id":`...)
		b = appendString(b, e.SocketID)
	}
	if e.SubscriptionCount != nil {
		b = append(b, `,"subscription_count":`...)
		b = strconv.AppendInt(b, int64(*e.SubscriptionCount), 10)
	}
	return append(b, '}')
}

func (e *webhookEvent) dataLen() int {
	if e.Data == nil {
		return 0
	}
	return len(*e.Data) + len(*e.Data)/8
}

// webhooks sends the apps' webhooks, so that an event never waits for the
// network. Every webhook URL of every app has a bounded queue of its own
// (a hookQueue, in memory or, with Redis, in a Redis stream that outlives
// the node) and, while the queue holds events, one sender on one node: a
// URL that fails or hangs delays and drops only its own events. Each event
// has an id that stays the same however often it is sent, so a receiver
// can drop repeats. Dropped events are counted per app, URL and reason,
// and logged. Shutdown stops every sender.
type webhooks struct {
	current   func(*app) *app // the served version of an app (Dialect.current)
	log       *slog.Logger
	stats     *counters
	client    *http.Client
	transport *http.Transport
	store     bus.QueueStore
	durable   bool   // store.Durable()
	holder    string // this node's name on a queue's lease
	idPrefix  string // random, so that event ids are unique across nodes and restarts
	nextID    atomic.Uint64

	firstRetry, maxRetry, retryFor time.Duration // webhookFirstRetry etc.; tests shorten them
	lease, poll                    time.Duration // webhookLease, webhookPoll; tests shorten them

	mu     sync.Mutex
	queues map[string]*hookQueue // by queue name (app id and URL); kept across reloads

	// ctx is for the senders' POSTs; it is cancelled when Shutdown's
	// context ends, so that none outlives it.
	ctx    context.Context
	cancel context.CancelFunc

	// senders owns the sender goroutines and the scanner; their context
	// is done when Shutdown begins, and from then on no sender starts.
	// stopCtx is Shutdown's context, for the last attempts; it is set
	// before senders is stopped.
	senders  *routine.Group
	stopping atomic.Bool
	stopCtx  context.Context
	stopOnce sync.Once
}

// newWebhooks returns the webhook sender of apps, queueing in store under
// the name holder. With a durable store, start starts the scanner, which
// takes over the queues of nodes that died.
func newWebhooks(log *slog.Logger, stats *counters, store bus.QueueStore, holder string, apps []*app) *webhooks {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	var rnd [6]byte
	_, _ = rand.Read(rnd[:]) // crypto/rand.Read never fails
	w := &webhooks{
		log:        log,
		stats:      stats,
		client:     &http.Client{Timeout: webhookTimeout, Transport: tr},
		transport:  tr,
		store:      store,
		durable:    store.Durable(),
		holder:     holder,
		idPrefix:   hex.EncodeToString(rnd[:]) + "-",
		firstRetry: webhookFirstRetry,
		maxRetry:   webhookMaxRetry,
		retryFor:   webhookRetryFor,
		lease:      webhookLease,
		poll:       webhookPoll,
		queues:     make(map[string]*hookQueue),
		senders:    routine.New(context.Background()),
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	for _, a := range apps {
		w.attach(a, apps)
	}
	return w
}

// start starts the scanner, with a durable store.
func (w *webhooks) start() {
	if w.durable {
		w.senders.Go(w.scan)
	}
}

// attach readies the webhook URLs of a, a new app or a new version of one
// about to be served among apps: each gets its URL's queue, made on first
// use with (in memory) its share of webhookQueue. A URL's queue, and what
// it holds, outlives reloads; the new version's filters and headers apply
// from the next POST.
func (w *webhooks) attach(a *app, apps []*app) {
	n := 0
	for _, x := range apps {
		n += len(x.webhooks)
	}
	limits := bus.QueueLimits{MaxLen: webhookDurableQueue, MaxBytes: webhookQueueBytes, MaxAge: w.retryFor}
	if !w.durable {
		limits.MaxLen = webhookQueue
		if n > 0 {
			limits.MaxLen = max(webhookQueue/n, webhookMinQueue)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, t := range a.webhooks {
		name := hookQueueName(a.id, t.url)
		hq := w.queues[name]
		if hq == nil {
			hq = &hookQueue{w: w, name: name, wake: make(chan struct{}, 1)}
			l := limits
			l.OnDrop = func(n int) { hq.dropped(dropQueueFull, n, "the URL's Redis queue was full or unreachable") }
			hq.q = w.store.Queue(name, l)
			w.queues[name] = hq
		}
		hq.target.Store(t)
		t.q = hq
	}
}

// hookQueueName names the queue of one webhook URL of an app: the URL is
// hashed, as it may hold credentials.
func hookQueueName(appID, rawURL string) string {
	sum := sha256.Sum256([]byte(rawURL))
	return "pusher/webhooks/" + appID + "/" + hex.EncodeToString(sum[:8])
}

func (w *webhooks) channelOccupied(a *app, channel string) {
	w.enqueue(webhookEvent{app: a, Name: "channel_occupied", Channel: channel})
}

func (w *webhooks) channelVacated(a *app, channel string) {
	w.enqueue(webhookEvent{app: a, Name: "channel_vacated", Channel: channel})
}

// member enqueues member_added or member_removed.
func (w *webhooks) member(a *app, name, channel, userID string) {
	w.enqueue(webhookEvent{app: a, Name: name, Channel: channel, UserID: userID})
}

// user enqueues user_online or user_offline, Switchboard's extension: the
// user's first connection in the cluster came, or its last one has been
// gone for the grace period.
func (w *webhooks) user(a *app, name, userID string) {
	w.enqueue(webhookEvent{app: a, Name: name, UserID: userID})
}

func (w *webhooks) clientEvent(a *app, channel, event, data, socketID, userID string) {
	w.enqueue(webhookEvent{app: a, Name: "client_event", Channel: channel, Event: event, Data: &data, SocketID: socketID, UserID: userID})
}

func (w *webhooks) cacheMiss(a *app, channel string) {
	w.enqueue(webhookEvent{app: a, Name: "cache_miss", Channel: channel})
}

func (w *webhooks) subscriptionCount(a *app, channel string, n int) {
	w.enqueue(webhookEvent{app: a, Name: "subscription_count", Channel: channel, SubscriptionCount: &n})
}

// enqueue queues e for each webhook URL of its app's current version
// that wants it: an event of a connection accepted before a reload goes to
// the URLs, and is signed with the secret, the app has now. It never
// blocks on the network.
func (w *webhooks) enqueue(e webhookEvent) {
	if w.current != nil {
		e.app = w.current(e.app)
	}
	var data []byte
	for _, t := range e.app.webhooks {
		if !t.wants(e.Name, e.Channel) {
			continue
		}
		if data == nil {
			e.ID = w.idPrefix + strconv.FormatUint(w.nextID.Add(1), 36)
			data = e.appendJSON(make([]byte, 0, 64+len(e.Channel)+len(e.Event)+len(e.UserID)+len(e.SocketID)+e.dataLen()))
		}
		t.q.push(data)
	}
}

// shutdown stops the senders. Without Redis each makes one last attempt at
// what its queue holds within ctx, and drops (and counts) what it cannot
// deliver; with Redis each gives up its lease and leaves its queue to the
// next node (the Redis bus writes what it still buffers when it closes).
// When ctx ends, POSTs still running are cancelled; shutdown returns once
// every sender has exited.
func (w *webhooks) shutdown(ctx context.Context) {
	w.stopOnce.Do(func() {
		w.stopCtx = ctx // read by the senders once they see the stop
		w.stopping.Store(true)
		w.senders.Stop()
	})
	stopWatch := context.AfterFunc(ctx, w.cancel)
	w.senders.Wait()
	stopWatch()
	w.cancel()
	w.transport.CloseIdleConnections()
}

// scan runs with a durable store: every half lease it starts a sender for
// each queue that holds events and has none on this node, which takes the
// queue's lease if no node holds it: so the events of a node that died or
// was restarted are sent by another within about webhookLease.
func (w *webhooks) scan(stop context.Context) {
	tick := time.NewTicker(w.lease / 2)
	defer tick.Stop()
	for {
		w.mu.Lock()
		qs := make([]*hookQueue, 0, len(w.queues))
		for _, hq := range w.queues {
			qs = append(qs, hq)
		}
		w.mu.Unlock()
		for _, hq := range qs {
			ctx, cancel := context.WithTimeout(stop, w.lease/2)
			st, err := hq.q.Stats(ctx)
			cancel()
			if err == nil && st.Len > 0 {
				hq.start()
			}
		}
		select {
		case <-stop.Done():
			return
		case <-tick.C:
		}
	}
}

// hookTarget is one webhook URL of one version of an app: what is sent
// there and how. Its queue (q) is shared by every version.
type hookTarget struct {
	app     *app
	index   int    // in the app's webhooks: the metrics' target label
	url     string // may hold credentials: never logged
	host    string // url's host, for logs and metrics
	events  []string
	filter  config.PusherWebhookFilter
	headers http.Header
	q       *hookQueue
}

func newHookTarget(a *app, i int, c config.PusherWebhook) *hookTarget {
	t := &hookTarget{app: a, index: i, url: c.URL, events: c.EventTypes, filter: c.Filter}
	if u, err := url.Parse(c.URL); err == nil {
		t.host = u.Host
	}
	if len(c.Headers) > 0 {
		t.headers = make(http.Header, len(c.Headers))
		for k, v := range c.Headers {
			t.headers.Set(k, v)
		}
	}
	return t
}

// wants reports whether an event goes to the URL: its type is one of
// event_types and its channel passes the filter.
func (t *hookTarget) wants(name, channel string) bool {
	return (t.events == nil || slices.Contains(t.events, name)) && t.filter.Matches(channel)
}

// hookQueue is the delivery of one webhook URL of an app, across its
// versions: the queue and, while it holds events, the sender that empties
// it in order, batch by batch, retrying a failed batch with back-off
// until it is delivered or its events are too old.
type hookQueue struct {
	w      *webhooks
	name   string
	q      bus.Queue
	target atomic.Pointer[hookTarget] // of the app's latest version
	wake   chan struct{}              // tells a waiting sender of new events

	mu        sync.Mutex
	running   bool      // a sender of this node serves the queue
	elsewhere time.Time // with Redis: another node held the lease then; no sender starts for a poll
	dropLog   time.Time // when a drop was last logged

	sent, retried atomic.Uint64
	drops         [numDropReasons]atomic.Uint64
}

// push queues one encoded event, starting a sender if none runs. A full
// queue drops it, and so does a shutdown under way without Redis (with
// Redis it is queued for the next node).
func (hq *hookQueue) push(data []byte) {
	if hq.w.stopping.Load() && !hq.w.durable {
		hq.dropped(dropShutdown, 1, "the server is shutting down")
		return
	}
	if !hq.q.Append(data) {
		hq.dropped(dropQueueFull, 1, "the URL's queue is full")
		return
	}
	hq.start()
}

// start starts the queue's sender, or wakes it if it runs.
func (hq *hookQueue) start() {
	hq.mu.Lock()
	defer hq.mu.Unlock()
	if hq.running {
		select {
		case hq.wake <- struct{}{}:
		default: // the sender has a wake-up pending already
		}
		return
	}
	if hq.w.durable && time.Since(hq.elsewhere) < hq.w.poll {
		return // the holder finds the events within a poll
	}
	if hq.w.senders.Go(hq.run) {
		hq.running = true
	}
}

// dropped counts n events dropped for reason, and logs it at most once
// per webhookDropLogEvery per URL.
func (hq *hookQueue) dropped(reason dropReason, n int, why string) {
	if n <= 0 {
		return
	}
	t := hq.target.Load()
	hq.w.stats.webhookEventsDropped.Add(uint64(n))
	t.app.hookDrops[reason].Add(uint64(n))
	total := hq.drops[reason].Add(uint64(n))
	hq.mu.Lock()
	logIt := time.Since(hq.dropLog) >= webhookDropLogEvery
	if logIt {
		hq.dropLog = time.Now()
	}
	hq.mu.Unlock()
	if logIt {
		hq.w.log.Warn("pusher: webhook events dropped: "+why, "app_id", t.app.id, "target", t.index, "host", t.host,
			"reason", reason.String(), "events", n, "dropped_total", total)
	}
}

// idle marks the sender gone if the queue is still empty, and reports
// whether it did; a push meanwhile keeps it running.
func (hq *hookQueue) idle(ctx context.Context) bool {
	hq.mu.Lock()
	defer hq.mu.Unlock()
	if !hq.w.durable {
		if st, _ := hq.q.Stats(ctx); st.Len > 0 {
			return false
		}
	}
	select {
	case <-hq.wake:
		return false
	default:
	}
	hq.running = false
	return true
}

// run is a queue's sender: it sends the oldest events in batches, in
// order, until the queue is empty (with Redis: empty for a lease), the
// lease is another node's, or Shutdown begins (stop is done).
func (hq *hookQueue) run(stop context.Context) {
	w := hq.w
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	attempts, idlePolls := 0, 0
	for {
		if stop.Err() != nil {
			hq.finish()
			return
		}
		if w.durable {
			ctx, cancel := context.WithTimeout(stop, w.lease/2)
			held, err := hq.q.Lease(ctx, w.holder, w.lease)
			cancel()
			if err != nil || !held {
				if err != nil && stop.Err() == nil && !errors.Is(err, bus.ErrSharedUnavailable) { // an outage is logged by the bus
					w.log.Warn("pusher: webhook queue lease", "app_id", hq.target.Load().app.id, "err", err)
				}
				hq.mu.Lock()
				hq.running = false
				if err == nil {
					hq.elsewhere = time.Now()
				}
				hq.mu.Unlock()
				return
			}
		}
		entries, err := hq.oldest(stop)
		if err != nil {
			hq.wait(stop, timer, w.poll, false)
			continue
		}
		if len(entries) == 0 {
			if !w.durable || idlePolls*int(w.poll) >= int(w.lease) {
				if hq.idle(stop) {
					hq.release(context.Background())
					return
				}
				continue
			}
			idlePolls++
			hq.wait(stop, timer, w.poll, true)
			continue
		}
		idlePolls = 0
		if hq.attempt(w.ctx, entries) {
			attempts = 0
			continue
		}
		attempts++
		hq.retried.Add(1)
		hq.wait(stop, timer, min(w.firstRetry<<min(attempts-1, 20), w.maxRetry), false)
	}
}

// oldest drops the events older than retryFor, then returns up to a batch
// of the oldest.
func (hq *hookQueue) oldest(ctx context.Context) ([]bus.QueueEntry, error) {
	w := hq.w
	c, cancel := context.WithTimeout(ctx, w.lease/4)
	defer cancel()
	n, err := hq.q.Expire(c, time.Now().Add(-w.retryFor))
	if err != nil {
		return nil, err
	}
	if n > 0 {
		t := hq.target.Load()
		w.log.Error("pusher: webhook events given up after retries", "app_id", t.app.id, "target", t.index, "host", t.host, "events", n)
		hq.dropped(dropGaveUp, n, "not delivered within the retry period")
	}
	return hq.q.Read(c, webhookBatch)
}

// wait waits d, or until stop; with wakeable, a push ends it too. With
// Redis it returns at least every half lease, so that the lease is
// renewed.
func (hq *hookQueue) wait(stop context.Context, timer *time.Timer, d time.Duration, wakeable bool) {
	if hq.w.durable {
		d = min(d, hq.w.lease/2)
	}
	timer.Reset(d)
	var wake chan struct{}
	if wakeable {
		wake = hq.wake
	}
	select {
	case <-stop.Done():
	case <-wake:
	case <-timer.C:
		return
	}
	if !timer.Stop() {
		<-timer.C
	}
}

// release gives up the queue's lease, if it is durable, within ctx.
func (hq *hookQueue) release(ctx context.Context) {
	if !hq.w.durable {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, hq.w.lease/2)
	defer cancel()
	_ = hq.q.Release(ctx, hq.w.holder)
}

// finish ends the sender at shutdown: with Redis it leaves the queue to
// the next node; in memory it makes one last attempt at each batch within
// Shutdown's context and drops what fails.
func (hq *hookQueue) finish() {
	w := hq.w
	ctx := w.stopCtx // set before the stop that ended run
	if w.durable {
		hq.release(ctx)
		return
	}
	undelivered := 0
	for {
		entries, _ := hq.q.Read(ctx, webhookBatch)
		if len(entries) == 0 {
			break
		}
		if ctx.Err() != nil || !hq.attempt(ctx, entries) {
			undelivered += len(entries)
			_ = hq.q.Ack(ctx, entryIDs(entries)...)
		}
	}
	hq.dropped(dropShutdown, undelivered, "not delivered before shutdown")
}

func entryIDs(entries []bus.QueueEntry) []string {
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	return ids
}

// attempt POSTs entries once to the URL of the app's latest version, and
// acknowledges them if it was accepted (2xx).
func (hq *hookQueue) attempt(ctx context.Context, entries []bus.QueueEntry) bool {
	w, t := hq.w, hq.target.Load()
	err := w.post(ctx, t, entries)
	if err != nil {
		w.stats.webhookFailures.Add(1)
		w.log.Warn("pusher: webhook failed", "app_id", t.app.id, "target", t.index, "host", t.host, "events", len(entries), "err", err)
		return false
	}
	w.stats.webhooksSent.Add(1)
	hq.sent.Add(uint64(len(entries)))
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), webhookTimeout)
	defer cancel()
	if err := hq.q.Ack(c, entryIDs(entries)...); err != nil {
		// They will be sent again, and the receiver drops them by id.
		w.log.Warn("pusher: webhook delivered but not acknowledged in the queue", "app_id", t.app.id, "target", t.index, "err", err)
	}
	return true
}

// webhookIDHeader carries a hash of a POST's events: the same events, in
// the same order, give the same value.
const webhookIDHeader = "X-Switchboard-Webhook-Id"

func (w *webhooks) post(ctx context.Context, t *hookTarget, entries []bus.QueueEntry) error {
	var body bytes.Buffer
	body.WriteString(`{"time_ms":`)
	body.WriteString(strconv.FormatInt(time.Now().UnixMilli(), 10))
	body.WriteString(`,"events":[`)
	h := sha256.New()
	for i, e := range entries {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(e.Data)
		h.Write(e.Data)
	}
	body.WriteString(`]}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body.Bytes()))
	if err != nil {
		return err
	}
	for k, v := range t.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Pusher-Key", t.app.key)
	req.Header.Set("X-Pusher-Signature", sign(t.app.secret, body.String()))
	req.Header.Set(webhookIDHeader, hex.EncodeToString(h.Sum(nil)[:16]))
	resp, err := w.client.Do(req)
	if err != nil {
		return redactURL(err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}

// redactURL strips the URL, which may hold credentials, from a client
// error.
func redactURL(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
