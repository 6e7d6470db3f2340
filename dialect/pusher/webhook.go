package pusher

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/switchboard-rt/switchboard/internal/routine"
)

// Webhook delivery settings.
const (
	webhookQueue        = 10000            // events waiting for their first POST, shared out among all webhook URLs
	webhookMinQueue     = webhookBatch     // the smallest share of one URL
	webhookBatch        = 100              // most events in one POST
	webhookTimeout      = 10 * time.Second // one POST
	webhookRetryFor     = 5 * time.Minute  // a failing batch is retried this long
	webhookFirstRetry   = time.Second      // then 2 s, 4 s, ... up to webhookMaxRetry
	webhookMaxRetry     = time.Minute
	webhookBacklog      = 1000    // events of failed POSTs kept for retries, per URL
	webhookBacklogBytes = 4 << 20 // bytes of failed POSTs' bodies kept for retries, per URL
	webhookDropLogEvery = 10 * time.Second
)

// dropReason is why webhook events were dropped; the metric's reason label.
type dropReason int

const (
	dropQueueFull   dropReason = iota // the URL's queue was full
	dropBacklogFull                   // the URL's retry backlog was full: the oldest failed POST went
	dropGaveUp                        // failed for webhookRetryFor
	dropShutdown                      // not delivered when Shutdown ended
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{"queue_full", "backlog_full", "retries_exhausted", "shutdown"}

func (r dropReason) String() string { return dropReasonNames[r] }

// webhookEvent is one event of a webhook body.
type webhookEvent struct {
	app *app

	Name              string  `json:"name"`
	Channel           string  `json:"channel,omitempty"`
	UserID            string  `json:"user_id,omitempty"`
	Event             string  `json:"event,omitempty"`
	Data              *string `json:"data,omitempty"`
	SocketID          string  `json:"socket_id,omitempty"`
	SubscriptionCount *int    `json:"subscription_count,omitempty"`
}

// delivery is one POST to one URL, with its retry state.
type delivery struct {
	body     []byte
	events   int
	first    time.Time // first attempt
	attempts int
	next     time.Time // next attempt
}

// webhooks sends the apps' webhooks, so that an event never waits for the
// network. Every webhook URL of every app is a hookTarget with its own
// bounded queue, its own bounded backlog of failed POSTs and, while it has
// either, its own sender goroutine: a URL that fails or hangs delays and
// drops only its own events. Dropped events are counted per app and
// reason, and logged. Shutdown stops every sender.
type webhooks struct {
	current   func(*app) *app // the served version of an app (Dialect.current)
	log       *slog.Logger
	stats     *counters
	client    *http.Client
	transport *http.Transport

	firstRetry, maxRetry, retryFor time.Duration // webhookFirstRetry etc.; tests shorten them
	maxBacklog, maxBacklogBytes    int           // webhookBacklog and webhookBacklogBytes; tests shorten them

	// ctx is for the senders' POSTs; it is cancelled when Shutdown's
	// context ends, so that none outlives it.
	ctx    context.Context
	cancel context.CancelFunc

	// senders owns the sender goroutines; their context is done when
	// Shutdown begins, and from then on no sender starts. stopCtx is
	// Shutdown's context, for the last attempts; it is set before senders
	// is stopped.
	senders  *routine.Group
	stopCtx  context.Context
	stopOnce sync.Once
}

// newWebhooks returns the webhook sender of apps, and gives each of their
// webhook URLs its share of webhookQueue.
func newWebhooks(log *slog.Logger, stats *counters, apps []*app) *webhooks {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	w := &webhooks{
		log:             log,
		stats:           stats,
		client:          &http.Client{Timeout: webhookTimeout, Transport: tr},
		transport:       tr,
		firstRetry:      webhookFirstRetry,
		maxRetry:        webhookMaxRetry,
		retryFor:        webhookRetryFor,
		maxBacklog:      webhookBacklog,
		maxBacklogBytes: webhookBacklogBytes,
		senders:         routine.New(context.Background()),
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	for _, a := range apps {
		w.attach(a, apps)
	}
	return w
}

// attach readies the webhook URLs of a, a new app or a new version of one
// about to be served among apps, giving each its share of webhookQueue.
// The URLs of an app's previous version keep sending what they hold.
func (w *webhooks) attach(a *app, apps []*app) {
	n := 0
	for _, x := range apps {
		n += len(x.webhooks)
	}
	share := webhookQueue
	if n > 0 {
		share = max(webhookQueue/n, webhookMinQueue)
	}
	for _, t := range a.webhooks {
		t.w, t.limit, t.wake = w, share, make(chan struct{}, 1)
	}
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
	for _, t := range e.app.webhooks {
		if t.wants(e.Name) {
			t.push(e)
		}
	}
}

// dropped counts n events of a dropped for reason.
func (w *webhooks) dropped(a *app, reason dropReason, n int) {
	w.stats.webhookEventsDropped.Add(uint64(n))
	a.hookDrops[reason].Add(uint64(n))
}

// shutdown stops the senders: each makes one last attempt at what it holds
// within ctx, and drops (and counts) what it cannot deliver. When ctx ends,
// POSTs still running are cancelled; shutdown returns once every sender has
// exited.
func (w *webhooks) shutdown(ctx context.Context) {
	w.stopOnce.Do(func() {
		w.stopCtx = ctx // read by the senders once they see the stop
		w.senders.Stop()
	})
	stopWatch := context.AfterFunc(ctx, w.cancel)
	w.senders.Wait()
	stopWatch()
	w.cancel()
	w.transport.CloseIdleConnections()
}

// hookTarget is one webhook URL of one app: its queue of events waiting for
// their first POST, its backlog of failed POSTs waiting for a retry, and
// whether a sender goroutine serves it. A sender runs while the target has
// work and exits when it has none, so an idle target costs no goroutine.
type hookTarget struct {
	app    *app
	url    string
	events []string // event types sent; nil for all
	w      *webhooks
	limit  int           // most events in queue
	wake   chan struct{} // tells a waiting sender of new events

	mu            sync.Mutex
	queue         []webhookEvent // oldest first
	backlog       []*delivery    // sorted by next attempt
	backlogEvents int
	backlogBytes  int
	running       bool      // a sender serves the target
	dropLog       time.Time // when a full queue was last logged
}

// waiting returns the events queued or waiting for a retry.
func (t *hookTarget) waiting() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.queue) + t.backlogEvents
}

func (t *hookTarget) wants(name string) bool {
	return t.events == nil || slices.Contains(t.events, name)
}

// push queues e, starting a sender if none runs. A full queue, or a
// shutdown under way, drops e.
func (t *hookTarget) push(e webhookEvent) {
	t.mu.Lock()
	if len(t.queue) >= t.limit {
		logIt := time.Since(t.dropLog) >= webhookDropLogEvery
		if logIt {
			t.dropLog = time.Now()
		}
		t.mu.Unlock()
		t.w.dropped(t.app, dropQueueFull, 1)
		if logIt {
			t.w.log.Warn("pusher: webhook queue full, dropping events", "app_id", t.app.id, "url", t.url, "event", e.Name,
				"queue", t.limit, "dropped_total", t.app.hookDrops[dropQueueFull].Load())
		}
		return
	}
	if t.running {
		t.queue = append(t.queue, e)
		t.mu.Unlock()
		select {
		case t.wake <- struct{}{}:
		default: // the sender has a wake-up pending already
		}
		return
	}
	w := t.w
	if !w.senders.Go(t.run) { // the sender waits for t.mu, held until e is queued
		t.mu.Unlock()
		w.dropped(t.app, dropShutdown, 1)
		return
	}
	t.queue = append(t.queue, e)
	t.running = true
	t.mu.Unlock()
}

// run is a target's sender: it sends retries when they are due and queued
// events in batches, until the target has no work or Shutdown begins (stop
// is done).
func (t *hookTarget) run(stop context.Context) {
	w := t.w
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-stop.Done():
			t.drain(w.stopCtx)
			return
		default:
		}
		d, wait, ok := t.next(false)
		if !ok {
			return
		}
		if d != nil {
			if !w.attempt(w.ctx, t, d) {
				t.retry(d)
			}
			continue
		}
		timer.Reset(wait)
		select {
		case <-stop.Done():
		case <-t.wake:
		case <-timer.C:
		}
	}
}

// next returns the target's next POST: a retry that is due (any, with all),
// or else a batch of queued events. With nothing to send now it returns how
// long until the next retry; with nothing at all it marks the target idle
// and returns ok false.
func (t *hookTarget) next(all bool) (d *delivery, wait time.Duration, ok bool) {
	t.mu.Lock()
	now := time.Now()
	if len(t.backlog) > 0 && (all || !t.backlog[0].next.After(now)) {
		d = t.backlog[0]
		t.backlog[0] = nil
		t.backlog = t.backlog[1:]
		t.backlogEvents -= d.events
		t.backlogBytes -= len(d.body)
		if len(t.backlog) == 0 {
			t.backlog = nil
		}
		t.mu.Unlock()
		return d, 0, true
	}
	if len(t.queue) > 0 {
		n := min(len(t.queue), webhookBatch)
		events := slices.Clone(t.queue[:n])
		clear(t.queue[:n])
		t.queue = t.queue[n:]
		if len(t.queue) == 0 {
			t.queue = nil
		}
		t.mu.Unlock()
		return t.delivery(events, now), 0, true
	}
	if len(t.backlog) == 0 {
		t.running = false
		t.mu.Unlock()
		return nil, 0, false
	}
	wait = t.backlog[0].next.Sub(now)
	t.mu.Unlock()
	return nil, wait, true
}

// delivery builds the POST of events.
func (t *hookTarget) delivery(events []webhookEvent, now time.Time) *delivery {
	body, _ := json.Marshal(struct { // cannot fail: strings and ints only
		TimeMS int64          `json:"time_ms"`
		Events []webhookEvent `json:"events"`
	}{now.UnixMilli(), events})
	return &delivery{body: body, events: len(events), first: now}
}

// retry puts a failed d in the backlog with back-off, or drops it once it
// has been failing for retryFor. A backlog over maxBacklog events or
// maxBacklogBytes bytes drops its oldest POSTs (by first attempt) until it
// is within both, keeping at least one.
func (t *hookTarget) retry(d *delivery) {
	w := t.w
	wait := min(w.firstRetry<<min(d.attempts-1, 20), w.maxRetry)
	d.next = time.Now().Add(wait)
	if d.next.Sub(d.first) > w.retryFor {
		w.dropped(t.app, dropGaveUp, d.events)
		w.log.Error("pusher: webhook given up after retries", "app_id", t.app.id, "url", t.url, "attempts", d.attempts, "events", d.events)
		return
	}
	t.mu.Lock()
	i, _ := slices.BinarySearchFunc(t.backlog, d, func(a, b *delivery) int { return a.next.Compare(b.next) })
	t.backlog = slices.Insert(t.backlog, i, d)
	t.backlogEvents += d.events
	t.backlogBytes += len(d.body)
	dropped := 0
	for len(t.backlog) > 1 && (t.backlogEvents > w.maxBacklog || t.backlogBytes > w.maxBacklogBytes) {
		oldest := 0
		for j, b := range t.backlog {
			if b.first.Before(t.backlog[oldest].first) {
				oldest = j
			}
		}
		o := t.backlog[oldest]
		t.backlog = slices.Delete(t.backlog, oldest, oldest+1)
		t.backlogEvents -= o.events
		t.backlogBytes -= len(o.body)
		dropped += o.events
	}
	t.mu.Unlock()
	if dropped > 0 {
		w.dropped(t.app, dropBacklogFull, dropped)
		w.log.Warn("pusher: webhook retry backlog full, dropping the oldest events", "app_id", t.app.id, "url", t.url,
			"events", dropped, "backlog_events", w.maxBacklog, "backlog_bytes", w.maxBacklogBytes,
			"dropped_total", t.app.hookDrops[dropBacklogFull].Load())
	}
}

// drain makes one last attempt at everything the target holds, within
// ctx, and drops what fails.
func (t *hookTarget) drain(ctx context.Context) {
	undelivered := 0
	for {
		d, _, ok := t.next(true)
		if !ok {
			break
		}
		if ctx.Err() != nil || !t.w.attempt(ctx, t, d) {
			undelivered += d.events
		}
	}
	if undelivered > 0 {
		t.w.dropped(t.app, dropShutdown, undelivered)
		t.w.log.Warn("pusher: webhook events not delivered before shutdown", "app_id", t.app.id, "url", t.url, "events", undelivered)
	}
}

// attempt POSTs d once and reports whether it was accepted (2xx).
func (w *webhooks) attempt(ctx context.Context, t *hookTarget, d *delivery) bool {
	d.attempts++
	err := w.post(ctx, t, d)
	if err == nil {
		w.stats.webhooksSent.Add(1)
		return true
	}
	w.stats.webhookFailures.Add(1)
	w.log.Warn("pusher: webhook failed", "app_id", t.app.id, "url", t.url, "attempt", d.attempts, "err", err)
	return false
}

func (w *webhooks) post(ctx context.Context, t *hookTarget, d *delivery) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(d.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Pusher-Key", t.app.key)
	req.Header.Set("X-Pusher-Signature", sign(t.app.secret, string(d.body)))
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}
