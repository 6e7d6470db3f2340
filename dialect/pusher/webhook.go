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
)

// Webhook delivery settings.
const (
	webhookQueue      = 10000            // events waiting to be sent, for all apps
	webhookBatch      = 100              // most events in one POST
	webhookTimeout    = 10 * time.Second // one POST
	webhookRetryFor   = 5 * time.Minute  // a failing batch is retried this long
	webhookFirstRetry = time.Second      // then 2 s, 4 s, ... up to webhookMaxRetry
	webhookMaxRetry   = time.Minute
)

// webhookTarget is one configured webhook URL of an app.
type webhookTarget struct {
	url    string
	events []string // event types sent; nil for all
}

func (t webhookTarget) wants(name string) bool {
	return t.events == nil || slices.Contains(t.events, name)
}

// webhookEvent is one event of a webhook body.
type webhookEvent struct {
	app *app

	Name              string  `json:"name"`
	Channel           string  `json:"channel"`
	UserID            string  `json:"user_id,omitempty"`
	Event             string  `json:"event,omitempty"`
	Data              *string `json:"data,omitempty"`
	SocketID          string  `json:"socket_id,omitempty"`
	SubscriptionCount *int    `json:"subscription_count,omitempty"`
}

// delivery is one POST to one URL, with its retry state.
type delivery struct {
	app      *app
	url      string
	body     []byte
	events   int
	first    time.Time // first attempt
	attempts int
	next     time.Time // next attempt
}

// webhooks sends the apps' webhooks from a bounded queue, so that an event
// never waits for the network: when the queue is full the event is dropped,
// counted and logged. One goroutine, started only when an app has webhooks
// and stopped by shutdown, batches queued events per URL, signs each POST
// and retries failed ones with exponential back-off for webhookRetryFor.
type webhooks struct {
	log    *slog.Logger
	stats  *counters
	client *http.Client
	queue  chan webhookEvent

	firstRetry, maxRetry, retryFor time.Duration // webhookFirstRetry etc.; tests shorten them

	startOnce sync.Once
	stopOnce  sync.Once
	stop      chan context.Context // shutdown's context, for the last deliveries
	done      chan struct{}
	dropLog   time.Time // when a drop was last logged; owned by enqueue callers via mu
	mu        sync.Mutex
}

func newWebhooks(log *slog.Logger, stats *counters) *webhooks {
	return &webhooks{
		log:        log,
		stats:      stats,
		client:     &http.Client{Timeout: webhookTimeout},
		queue:      make(chan webhookEvent, webhookQueue),
		firstRetry: webhookFirstRetry,
		maxRetry:   webhookMaxRetry,
		retryFor:   webhookRetryFor,
		stop:       make(chan context.Context, 1),
		done:       make(chan struct{}),
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

func (w *webhooks) clientEvent(a *app, channel, event, data, socketID, userID string) {
	w.enqueue(webhookEvent{app: a, Name: "client_event", Channel: channel, Event: event, Data: &data, SocketID: socketID, UserID: userID})
}

func (w *webhooks) cacheMiss(a *app, channel string) {
	w.enqueue(webhookEvent{app: a, Name: "cache_miss", Channel: channel})
}

func (w *webhooks) subscriptionCount(a *app, channel string, n int) {
	w.enqueue(webhookEvent{app: a, Name: "subscription_count", Channel: channel, SubscriptionCount: &n})
}

// enqueue queues e if any of its app's webhooks wants it. It never blocks.
func (w *webhooks) enqueue(e webhookEvent) {
	wanted := false
	for _, t := range e.app.webhooks {
		wanted = wanted || t.wants(e.Name)
	}
	if !wanted {
		return
	}
	w.startOnce.Do(func() { go w.run() })
	select {
	case w.queue <- e:
	default:
		w.stats.webhookEventsDropped.Add(1)
		w.mu.Lock()
		logIt := time.Since(w.dropLog) > 10*time.Second
		if logIt {
			w.dropLog = time.Now()
		}
		w.mu.Unlock()
		if logIt {
			w.log.Warn("pusher: webhook queue full, dropping events", "app_id", e.app.id, "event", e.Name,
				"dropped_total", w.stats.webhookEventsDropped.Load())
		}
	}
}

// shutdown stops the sender, which uses what is left of ctx to deliver what
// is queued, once each.
func (w *webhooks) shutdown(ctx context.Context) {
	w.stopOnce.Do(func() {
		started := true
		w.startOnce.Do(func() { started = false })
		if !started {
			close(w.done)
			return
		}
		w.stop <- ctx
	})
	select {
	case <-w.done:
	case <-ctx.Done():
	}
}

// run is the sender's goroutine.
func (w *webhooks) run() {
	defer close(w.done)
	var retries []*delivery
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var due <-chan time.Time
		if len(retries) > 0 {
			timer.Reset(time.Until(retries[0].next))
			due = timer.C
		}
		select {
		case ctx := <-w.stop:
			w.drain(ctx, retries)
			return
		case e := <-w.queue:
			for _, d := range w.batch(e) {
				if !w.attempt(context.Background(), d) {
					retries = w.reschedule(retries, d)
				}
			}
		case <-due:
			now := time.Now()
			for len(retries) > 0 && !retries[0].next.After(now) {
				d := retries[0]
				retries = retries[1:]
				if !w.attempt(context.Background(), d) {
					retries = w.reschedule(retries, d)
				}
			}
		}
	}
}

// batch takes e and whatever else is queued, up to webhookBatch events, and
// builds one delivery per app URL.
func (w *webhooks) batch(e webhookEvent) []*delivery {
	events := []webhookEvent{e}
	for len(events) < webhookBatch {
		select {
		case e := <-w.queue:
			events = append(events, e)
			continue
		default:
		}
		break
	}
	type target struct {
		app *app
		url string
	}
	groups := map[target][]webhookEvent{}
	var order []target
	for _, e := range events {
		for _, t := range e.app.webhooks {
			if !t.wants(e.Name) {
				continue
			}
			k := target{e.app, t.url}
			if _, ok := groups[k]; !ok {
				order = append(order, k)
			}
			groups[k] = append(groups[k], e)
		}
	}
	out := make([]*delivery, 0, len(order))
	now := time.Now()
	for _, k := range order {
		body, err := json.Marshal(struct {
			TimeMS int64          `json:"time_ms"`
			Events []webhookEvent `json:"events"`
		}{now.UnixMilli(), groups[k]})
		if err != nil { // cannot happen: plain strings and ints
			w.log.Error("pusher: webhook encode failed", "err", err)
			continue
		}
		out = append(out, &delivery{app: k.app, url: k.url, body: body, events: len(groups[k]), first: now})
	}
	return out
}

// attempt POSTs d once and reports whether it was accepted (2xx).
func (w *webhooks) attempt(ctx context.Context, d *delivery) bool {
	d.attempts++
	err := w.post(ctx, d)
	if err == nil {
		w.stats.webhooksSent.Add(1)
		return true
	}
	w.stats.webhookFailures.Add(1)
	w.log.Warn("pusher: webhook failed", "app_id", d.app.id, "url", d.url, "attempt", d.attempts, "err", err)
	return false
}

func (w *webhooks) post(ctx context.Context, d *delivery) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(d.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Pusher-Key", d.app.key)
	req.Header.Set("X-Pusher-Signature", sign(d.app.secret, string(d.body)))
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

// reschedule queues d for another attempt with back-off, or drops it once
// it has been failing for retryFor. retries stays sorted by next attempt.
func (w *webhooks) reschedule(retries []*delivery, d *delivery) []*delivery {
	wait := w.firstRetry << min(d.attempts-1, 20)
	wait = min(wait, w.maxRetry)
	d.next = time.Now().Add(wait)
	if d.next.Sub(d.first) > w.retryFor {
		w.stats.webhookEventsDropped.Add(uint64(d.events))
		w.log.Error("pusher: webhook given up after retries", "app_id", d.app.id, "url", d.url, "attempts", d.attempts, "events", d.events)
		return retries
	}
	i, _ := slices.BinarySearchFunc(retries, d, func(a, b *delivery) int { return a.next.Compare(b.next) })
	return slices.Insert(retries, i, d)
}

// drain makes one last attempt at everything queued and waiting, within ctx.
func (w *webhooks) drain(ctx context.Context, retries []*delivery) {
	for {
		select {
		case e := <-w.queue:
			retries = append(retries, w.batch(e)...)
			continue
		default:
		}
		break
	}
	for _, d := range retries {
		if ctx.Err() != nil || !w.attempt(ctx, d) {
			w.stats.webhookEventsDropped.Add(uint64(d.events))
		}
	}
}
