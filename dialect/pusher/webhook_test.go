package pusher

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/internal/testutil"
)

// hookServer records the webhooks it receives; the first fail calls are
// answered 500.
type hookServer struct {
	srv     *httptest.Server
	calls   atomic.Int32
	failing atomic.Bool // answer 500 to every call while set
	got     chan hookCall

	// A held server (newHeldHookServer) tells entered of each call, then
	// answers none until release.
	hold        chan struct{}
	entered     chan struct{}
	releaseOnce sync.Once
}

type hookCall struct {
	key, signature string
	body           []byte
	header         http.Header
	events         []map[string]any
	failed         bool
}

func newHookServer(t *testing.T, fail int32) *hookServer {
	return startHookServer(t, &hookServer{}, fail)
}

// newHeldHookServer is a hook server that hangs: each call waits until
// release (or the end of the test).
func newHeldHookServer(t *testing.T) *hookServer {
	return startHookServer(t, &hookServer{hold: make(chan struct{}), entered: make(chan struct{}, 100)}, 0)
}

func startHookServer(t *testing.T, h *hookServer, fail int32) *hookServer {
	h.got = make(chan hookCall, 100)
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.hold != nil {
			h.entered <- struct{}{}
			<-h.hold
		}
		body, _ := io.ReadAll(r.Body)
		var b struct {
			TimeMS int64            `json:"time_ms"`
			Events []map[string]any `json:"events"`
		}
		if err := json.Unmarshal(body, &b); err != nil || b.TimeMS == 0 {
			t.Errorf("webhook body %s: %v", body, err)
		}
		call := hookCall{key: r.Header.Get("X-Pusher-Key"), signature: r.Header.Get("X-Pusher-Signature"), body: body, header: r.Header, events: b.Events}
		if h.calls.Add(1) <= fail || h.failing.Load() {
			call.failed = true
			w.WriteHeader(http.StatusInternalServerError)
		}
		h.got <- call
	}))
	t.Cleanup(func() {
		h.release()
		h.srv.Close()
	})
	return h
}

// release lets a held server's calls through, now and from then on.
func (h *hookServer) release() {
	if h.hold != nil {
		h.releaseOnce.Do(func() { close(h.hold) })
	}
}

// waitEntered waits for a held server to receive a call.
func (h *hookServer) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-h.entered:
	case <-time.After(waitFor):
		t.Fatal("no webhook call within the deadline")
	}
}

// next returns the next webhook call.
func (h *hookServer) next(t *testing.T) hookCall {
	t.Helper()
	select {
	case c := <-h.got:
		return c
	case <-time.After(waitFor):
		t.Fatal("no webhook within the deadline")
	}
	return hookCall{}
}

// events collects webhook events until it has n of them.
func (h *hookServer) events(t *testing.T, n int) []map[string]any {
	t.Helper()
	var out []map[string]any
	for len(out) < n {
		c := h.next(t)
		if !c.failed {
			out = append(out, c.events...)
		}
	}
	return out
}

// hookApp is testApp with one webhook URL, sent the event types (none:
// all), without a grace period (its tests: edges_test.go).
func hookApp(url string, types ...string) config.PusherApp {
	a := testApp()
	a.Webhooks = []config.PusherWebhook{{URL: url, EventTypes: types}}
	a.WebhookGracePeriod = 0
	return a
}

// Every webhook is signed with the app's key and an HMAC-SHA256 of the body
// that the official SDKs verify.
func TestWebhookSigningAndEvents(t *testing.T) {
	hs := newHookServer(t, 0)
	e := newEnv(t, hookApp(hs.srv.URL))
	alice, bob := e.connect("key1"), e.connect("key1")
	alice.join("secret1", "key1", "presence-room", "alice")
	bob.join("secret1", "key1", "presence-room", "bob")
	alice.expectOn("pusher_internal:member_added", "presence-room")
	alice.send(clientEvent("client-hi", "presence-room", map[string]any{"x": 1}))
	bob.expectOn("client-hi", "presence-room")
	bob.join("secret1", "key1", "cache-c", "")
	_ = alice.c.CloseNow()
	_ = bob.c.CloseNow()

	want := []map[string]any{
		{"name": "channel_occupied", "channel": "presence-room"},
		{"name": "member_added", "channel": "presence-room", "user_id": "alice"},
		{"name": "member_added", "channel": "presence-room", "user_id": "bob"},
		{"name": "client_event", "channel": "presence-room", "event": "client-hi", "data": `{"x":1}`, "socket_id": alice.socketID, "user_id": "alice"},
		{"name": "channel_occupied", "channel": "cache-c"},
		{"name": "cache_miss", "channel": "cache-c"},
		{"name": "member_removed", "channel": "presence-room", "user_id": "alice"},
		{"name": "member_removed", "channel": "presence-room", "user_id": "bob"},
		{"name": "channel_vacated", "channel": "presence-room"},
		{"name": "channel_vacated", "channel": "cache-c"},
	}
	var got []map[string]any
	ids := map[any]bool{}
	for len(got) < len(want) {
		c := hs.next(t)
		if c.key != "key1" || !validSignature([]byte("secret1"), string(c.body), c.signature) {
			t.Errorf("webhook key %q signature %q do not match body %s", c.key, c.signature, c.body)
		}
		if len(c.header.Get(webhookIDHeader)) != 32 {
			t.Errorf("%s: %q, want 32 hex digits", webhookIDHeader, c.header.Get(webhookIDHeader))
		}
		for _, ev := range c.events {
			// Every event has an id of its own.
			if id, ok := ev["id"].(string); !ok || id == "" || ids[id] {
				t.Errorf("event %v: want a unique id", ev)
			}
			ids[ev["id"]] = true
			delete(ev, "id")
		}
		got = append(got, c.events...)
	}
	// The two connections close concurrently: compare as sets.
	key := func(m map[string]any) string { b, _ := json.Marshal(m); return string(b) }
	var gs, ws []string
	for _, m := range got {
		gs = append(gs, key(m))
	}
	for _, m := range want {
		ws = append(ws, key(m))
	}
	slices.Sort(gs)
	slices.Sort(ws)
	if !slices.Equal(gs, ws) {
		t.Errorf("webhook events\n got %v\nwant %v", gs, ws)
	}
}

// A failed POST is retried with back-off until it is accepted.
func TestWebhookRetry(t *testing.T) {
	hs := newHookServer(t, 2)
	e := newEnv(t, hookApp(hs.srv.URL))
	e.d.hooks.firstRetry = 20 * time.Millisecond
	e.connect("key1").join("secret1", "key1", "news", "")
	var times []time.Time
	var ids, postIDs []string
	for range 3 {
		c := hs.next(t)
		times = append(times, time.Now())
		if len(c.events) != 1 || c.events[0]["name"] != "channel_occupied" {
			t.Fatalf("events %v", c.events)
		}
		ids, postIDs = append(ids, fmt.Sprint(c.events[0]["id"])), append(postIDs, c.header.Get(webhookIDHeader))
	}
	// A retry carries the same idempotency ids.
	if ids[0] == "" || ids[0] != ids[1] || ids[1] != ids[2] || postIDs[0] == "" || postIDs[0] != postIDs[2] {
		t.Errorf("event ids %v, POST ids %v across retries: want each the same", ids, postIDs)
	}
	if gap1, gap2 := times[1].Sub(times[0]), times[2].Sub(times[1]); gap1 < 15*time.Millisecond || gap2 < 30*time.Millisecond {
		t.Errorf("retries after %v and %v: want back-off of about 20 ms then 40 ms", gap1, gap2)
	}
	waitUntil(t, func() bool { return e.d.stats.webhooksSent.Load() == 1 })
	if f := e.d.stats.webhookFailures.Load(); f != 2 {
		t.Errorf("webhook failures %d", f)
	}
}

// A batch that keeps failing is dropped after retry_for, and counted.
func TestWebhookGivesUp(t *testing.T) {
	hs := newHookServer(t, 1000)
	e := newEnv(t, hookApp(hs.srv.URL))
	// retryFor is long enough for a second attempt even when the first POST
	// is slow on a loaded machine.
	e.d.hooks.firstRetry, e.d.hooks.retryFor = 10*time.Millisecond, time.Second
	e.connect("key1").join("secret1", "key1", "news", "")
	waitUntil(t, func() bool { return e.d.stats.webhookEventsDropped.Load() == 1 })
	if f := e.d.stats.webhookFailures.Load(); f < 2 {
		t.Errorf("%d attempts before giving up", f)
	}
	if got := drops(e.d.apps().byID["app1"]); got != [numDropReasons]uint64{dropGaveUp: 1} {
		t.Errorf("drops by reason %v", got)
	}
}

// Only the configured event types are sent.
func TestWebhookEventTypes(t *testing.T) {
	hs := newHookServer(t, 0)
	e := newEnv(t, hookApp(hs.srv.URL, "member_added"))
	c := e.connect("key1")
	c.join("secret1", "key1", "news", "")
	c.join("secret1", "key1", "presence-a", "u1")
	got := hs.events(t, 1)
	if len(got) != 1 || got[0]["name"] != "member_added" {
		t.Errorf("events %v", got)
	}
}

// drops returns a's dropped webhook events by reason.
func drops(a *app) (out [numDropReasons]uint64) {
	for r := range numDropReasons {
		out[r] = a.hookDrops[r].Load()
	}
	return out
}

// Events queued while a POST is out go together in the next one.
func TestWebhookBatching(t *testing.T) {
	hs := newHeldHookServer(t)
	e := newEnv(t, hookApp(hs.srv.URL))
	app := e.d.apps().byKey["key1"]
	e.d.hooks.channelOccupied(app, "first")
	hs.waitEntered(t) // the first POST is out, and held
	for i := range 5 {
		e.d.hooks.channelOccupied(app, fmt.Sprintf("c%d", i))
	}
	hs.release()
	if c := hs.next(t); len(c.events) != 1 || c.events[0]["channel"] != "first" {
		t.Errorf("first POST %v", c.events)
	}
	c := hs.next(t)
	var got []any
	for _, ev := range c.events {
		got = append(got, ev["channel"])
	}
	if want := []any{"c0", "c1", "c2", "c3", "c4"}; !slices.Equal(got, want) {
		t.Errorf("second POST has channels %v, want %v in one POST", got, want)
	}
}

// Each webhook URL has its own sender: while one URL hangs, the app's
// other URL and other apps' URLs get their events at once; the hanging
// URL's queue fills, and only its app's events are dropped, counted
// under that app and logged. Once the URL answers, what was queued goes
// out in full batches.
func TestWebhookTargetsIndependent(t *testing.T) {
	hung, good1, good2 := newHeldHookServer(t), newHookServer(t, 0), newHookServer(t, 0)
	a1 := testApp()
	a1.Webhooks = []config.PusherWebhook{{URL: hung.srv.URL}, {URL: good1.srv.URL, EventTypes: []string{"member_added"}}}
	a2 := testApp()
	a2.ID, a2.Key, a2.Secret = "app2", "key2", "secret2"
	a2.Webhooks = []config.PusherWebhook{{URL: good2.srv.URL}}
	e := newEnv(t, a1, a2)
	app1, app2 := e.d.apps().byID["app1"], e.d.apps().byID["app2"]
	share := webhookQueue / 3 // three URLs share the queue

	e.d.hooks.channelOccupied(app1, "held")
	hung.waitEntered(t)
	// Fill the hanging URL's queue (which still holds the event being
	// sent), and one more.
	for i := range share {
		e.d.hooks.channelOccupied(app1, fmt.Sprintf("c%d", i))
	}
	if got := drops(app1); got != [numDropReasons]uint64{dropQueueFull: 1} {
		t.Errorf("app1 drops by reason %v, want one queue_full", got)
	}
	if got := drops(app2); got != [numDropReasons]uint64{} {
		t.Errorf("app2 drops by reason %v, want none", got)
	}
	if n := e.d.stats.webhookEventsDropped.Load(); n != 1 {
		t.Errorf("dropped %d in all", n)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "the URL's queue is full") || !strings.Contains(logs, "app_id=app1") {
		t.Errorf("drop not logged:\n%s", logs)
	}
	// The good URLs are not held up: the app's other URL and the other
	// app's get their events now.
	e.d.hooks.member(app1, "member_added", "presence-a", "u1")
	if ev := good1.events(t, 1); len(ev) != 1 || ev[0]["name"] != "member_added" || ev[0]["user_id"] != "u1" {
		t.Errorf("app1's other URL got %v", ev)
	}
	e.d.hooks.channelVacated(app2, "other")
	if ev := good2.events(t, 1); len(ev) != 1 || ev[0]["channel"] != "other" || ev[0]["name"] != "channel_vacated" {
		t.Errorf("app2's URL got %v", ev)
	}

	// The metric has the drops per app and reason: member_added went to
	// the full queue of the hanging URL too.
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.d)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "switchboard_pusher_webhook_events_dropped_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var k []string
			for _, l := range m.GetLabel() {
				k = append(k, l.GetName()+"="+l.GetValue())
			}
			series[strings.Join(k, ",")] = m.GetCounter().GetValue()
		}
	}
	if len(series) != 2*int(numDropReasons) || series["app_id=app1,reason=queue_full"] != 2 || series["app_id=app2,reason=queue_full"] != 0 {
		t.Errorf("dropped series %v", series)
	}

	// Released, the hanging URL gets everything it queued, in full batches.
	hung.release()
	total, posts := 0, 0
	for total < share {
		c := hung.next(t)
		if len(c.events) > webhookBatch {
			t.Fatalf("a POST of %d events", len(c.events))
		}
		total += len(c.events)
		posts++
	}
	if want := 1 + (share-1+webhookBatch-1)/webhookBatch; posts != want {
		t.Errorf("%d events took %d POSTs, want %d", total, posts, want)
	}
}

// A URL's queue is bounded, by events and by bytes: over either, new
// events are dropped, counted and logged, and what was queued is kept and
// sent once the URL answers.
func TestWebhookQueueBounds(t *testing.T) {
	for _, tt := range []struct {
		name     string
		dataSize int
		fits     int // events that fit, the one being sent included
	}{
		{"events", 10, webhookQueue},
		{"bytes", 9000, webhookQueueBytes / (9000 + 120)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHeldHookServer(t)
			a := hookApp(hs.srv.URL)
			a.MaxEventPayloadKB = 10
			e := newEnv(t, a)
			app := e.d.apps().byID["app1"]
			data := strings.Repeat("x", tt.dataSize)
			e.d.hooks.clientEvent(app, "private-a", "client-0", data, "1.1", "")
			hs.waitEntered(t)
			sent := 1
			for app.hookDrops[dropQueueFull].Load() == 0 {
				if sent > tt.fits+100 {
					t.Fatalf("%d events queued, none dropped", sent)
				}
				e.d.hooks.clientEvent(app, "private-a", fmt.Sprintf("client-%d", sent), data, "1.1", "")
				sent++
			}
			if kept := sent - 1; kept < tt.fits-10 || kept > tt.fits+10 {
				t.Errorf("%d events kept before the first drop, want about %d", kept, tt.fits)
			}
			if !strings.Contains(e.logs.String(), "the URL's queue is full") {
				t.Errorf("drop not logged:\n%s", e.logs.String())
			}
			hs.release()
			got := hs.events(t, sent-1)
			if got[0]["event"] != "client-0" || got[len(got)-1]["event"] != fmt.Sprintf("client-%d", sent-2) {
				t.Errorf("delivered %v ... %v, want the first events in order", got[0]["event"], got[len(got)-1]["event"])
			}
			if d := drops(app); d != [numDropReasons]uint64{dropQueueFull: 1} {
				t.Errorf("drops by reason %v", d)
			}
		})
	}
}

// Shutdown stops a sender stuck in a POST when its context ends: the POST
// is cancelled, what the URL held is dropped and counted, no goroutine is
// left (TestMain checks), and events after Shutdown are dropped.
func TestWebhookShutdownStopsSenders(t *testing.T) {
	hs := newHeldHookServer(t)
	e := newEnv(t, hookApp(hs.srv.URL))
	app := e.d.apps().byID["app1"]
	e.d.hooks.channelOccupied(app, "held")
	hs.waitEntered(t)
	e.d.hooks.channelOccupied(app, "queued")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := e.d.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := drops(app); got != [numDropReasons]uint64{dropShutdown: 2} {
		t.Errorf("drops by reason %v, want 2 at shutdown", got)
	}
	e.d.hooks.channelVacated(app, "late")
	if got := drops(app); got != [numDropReasons]uint64{dropShutdown: 3} {
		t.Errorf("drops by reason %v after a late event", got)
	}
	if !strings.Contains(e.logs.String(), "not delivered before shutdown") {
		t.Errorf("not logged:\n%s", e.logs.String())
	}
}

// A URL's filter lets through only events of the channels it names, and
// its headers go with every POST; another URL of the app gets everything.
func TestWebhookFilterAndHeaders(t *testing.T) {
	filtered, all := newHookServer(t, 0), newHookServer(t, 0)
	a := testApp()
	a.Webhooks = []config.PusherWebhook{
		{URL: filtered.srv.URL, EventTypes: []string{"channel_occupied"},
			Filter:  config.PusherWebhookFilter{ChannelNameStartsWith: "private-", ChannelNamePattern: "*-eu"},
			Headers: map[string]string{"Authorization": "Bearer t0ken", "x-tenant": "42"}},
		{URL: all.srv.URL},
	}
	e := newEnv(t, a)
	app := e.d.apps().byID["app1"]
	for _, ch := range []string{"private-a-us", "public-eu", "private-b-eu"} {
		e.d.hooks.channelOccupied(app, ch)
	}
	e.d.hooks.channelVacated(app, "private-c-eu") // not one of its event types
	c := filtered.next(t)
	if len(c.events) != 1 || c.events[0]["channel"] != "private-b-eu" {
		t.Errorf("the filtered URL got %v, want only private-b-eu's channel_occupied", c.events)
	}
	if c.header.Get("Authorization") != "Bearer t0ken" || c.header.Get("X-Tenant") != "42" || c.header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", c.header)
	}
	if got := all.events(t, 4); len(got) != 4 {
		t.Errorf("the other URL got %v", got)
	}
}

// sharedQueues is one in-memory QueueStore shared by two webhook senders
// of one process, standing for Redis: durable across them.
type sharedQueues struct{ *bus.MemoryQueues }

func (sharedQueues) Durable() bool { return true }

// newTestHooks is the webhook sender of one node named holder, for the
// app of cfg, on store, with short timings.
func newTestHooks(t *testing.T, store bus.QueueStore, holder string, cfg config.PusherApp) (*webhooks, *app) {
	t.Helper()
	a := newApp(cfg, nil)
	w := newWebhooks(newTestLogger(&testutil.LogBuffer{}), &counters{}, store, holder, nil)
	w.lease, w.poll, w.firstRetry, w.maxRetry = 400*time.Millisecond, 20*time.Millisecond, 20*time.Millisecond, 50*time.Millisecond
	w.attach(a, []*app{a})
	w.start()
	t.Cleanup(func() { stopHooks(t, w) })
	return w, a
}

func stopHooks(t *testing.T, w *webhooks) {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	w.shutdown(ctx)
}

// With a durable queue, a node that stops leaves its undelivered events
// queued, dropping none; another node takes the queue over and delivers
// them, with the ids they had, once the URL answers again.
func TestWebhookDurableTakeover(t *testing.T) {
	hs := newHookServer(t, 0)
	hs.failing.Store(true)
	store := sharedQueues{bus.NewMemoryQueues()}
	a, appA := newTestHooks(t, store, "node-a", hookApp(hs.srv.URL))
	b, appB := newTestHooks(t, store, "node-b", hookApp(hs.srv.URL))
	for i := range 3 {
		a.channelOccupied(appA, fmt.Sprintf("c%d", i))
	}
	// Node a holds the queue and fails, until it has tried every event.
	ids := map[any]any{}
	for len(ids) < 3 {
		c := hs.next(t)
		if !c.failed {
			t.Fatalf("POST %v accepted by a failing server", c.events)
		}
		for _, ev := range c.events {
			ids[ev["channel"]] = ev["id"]
		}
	}
	stopHooks(t, a) // a restart: the lease is released, nothing dropped
	if d := drops(appA); d != [numDropReasons]uint64{} {
		t.Errorf("node a dropped %v at shutdown", d)
	}
	hs.failing.Store(false)
	b.channelOccupied(appB, "c3")
	var got []map[string]any
	for len(got) < 4 {
		if c := hs.next(t); !c.failed {
			got = append(got, c.events...)
		}
	}
	for i, ev := range got[:3] {
		if ch := fmt.Sprintf("c%d", i); ev["channel"] != ch || ev["id"] != ids[ch] {
			t.Errorf("event %d: %v, want %s again with its id %v", i, ev, ch, ids[ch])
		}
	}
	if got[3]["channel"] != "c3" {
		t.Errorf("last event %v", got[3])
	}
	waitUntil(t, func() bool { return b.queues[hookQueueName("app1", hs.srv.URL)].sent.Load() == 4 })
}

// With a durable queue and no event on the node, the scanner finds events
// another node left and delivers them.
func TestWebhookDurableScanner(t *testing.T) {
	hs := newHookServer(t, 0)
	store := sharedQueues{bus.NewMemoryQueues()}
	name := hookQueueName("app1", hs.srv.URL)
	// A node that died left an event; its lease has lapsed.
	q := store.Queue(name, bus.QueueLimits{MaxLen: 10})
	if ok, _ := q.Lease(context.Background(), "dead", time.Millisecond); !ok {
		t.Fatal("lease")
	}
	q.Append([]byte(`{"name":"channel_occupied","id":"x-1","channel":"left"}`))
	_, _ = newTestHooks(t, store, "node-b", hookApp(hs.srv.URL))
	if ev := hs.events(t, 1); ev[0]["id"] != "x-1" || ev[0]["channel"] != "left" {
		t.Errorf("got %v", ev)
	}
}

// Each webhook URL has its series, labelled by app, index and host (never
// the URL): queue depth and oldest age, events sent, retries, drops.
func TestWebhookTargetMetrics(t *testing.T) {
	hs := newHookServer(t, 1)
	e := newEnv(t, hookApp(hs.srv.URL))
	e.d.hooks.firstRetry = 20 * time.Millisecond
	app := e.d.apps().byID["app1"]
	e.d.hooks.channelOccupied(app, "a")
	e.d.hooks.channelOccupied(app, "b")
	hs.events(t, 2)
	waitUntil(t, func() bool { return app.webhooks[0].q.sent.Load() == 2 })
	host := strings.TrimPrefix(hs.srv.URL, "http://")
	labels := "app_id=app1,host=" + host + ",target=0"
	got := gatherSeries(t, e.d)
	for series, want := range map[string]float64{
		"switchboard_pusher_webhook_target_events_sent_total{" + labels + "}":                                              2,
		"switchboard_pusher_webhook_target_retries_total{" + labels + "}":                                                  1,
		"switchboard_pusher_webhook_target_events_dropped_total{app_id=app1,host=" + host + ",reason=queue_full,target=0}": 0,
		"switchboard_pusher_webhook_queue_events{" + labels + "}":                                                          0,
		"switchboard_pusher_webhook_queue_oldest_seconds{" + labels + "}":                                                  0,
		"switchboard_pusher_app_webhook_queue_events{app_id=app1}":                                                         0,
	} {
		if v, ok := got[series]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
	for series := range got {
		if strings.Contains(series, "http://") {
			t.Errorf("a series names the URL: %s", series)
		}
	}
}

// gatherSeries returns every series of d's collector, as name{labels} ->
// value.
func gatherSeries(t *testing.T, d *Dialect) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(d)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var k []string
			for _, l := range m.GetLabel() {
				k = append(k, l.GetName()+"="+l.GetValue())
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			out[mf.GetName()+"{"+strings.Join(k, ",")+"}"] = v
		}
	}
	return out
}

// Waiting events show in the queue's depth and age.
func TestWebhookQueueAgeMetric(t *testing.T) {
	hs := newHeldHookServer(t)
	e := newEnv(t, hookApp(hs.srv.URL))
	app := e.d.apps().byID["app1"]
	e.d.hooks.channelOccupied(app, "a")
	hs.waitEntered(t)
	e.d.hooks.channelOccupied(app, "b")
	labels := "app_id=app1,host=" + strings.TrimPrefix(hs.srv.URL, "http://") + ",target=0"
	waitUntil(t, func() bool {
		return gatherSeries(t, e.d)["switchboard_pusher_webhook_queue_oldest_seconds{"+labels+"}"] > 0.01
	})
	if n := gatherSeries(t, e.d)["switchboard_pusher_webhook_queue_events{"+labels+"}"]; n != 2 {
		t.Errorf("queue depth %v, want 2 (one being sent, one waiting)", n)
	}
}

// A reload keeps what a URL has queued and applies the new version's
// headers and filter from the next POST; the app's new secret signs it.
func TestWebhookReloadKeepsQueue(t *testing.T) {
	hs := newHeldHookServer(t)
	cfg := hookApp(hs.srv.URL)
	cfg.Webhooks[0].Headers = map[string]string{"Authorization": "old"}
	e := newEnv(t, cfg)
	app := e.d.apps().byID["app1"]
	e.d.hooks.channelOccupied(app, "first")
	hs.waitEntered(t)
	e.d.hooks.channelOccupied(app, "queued")
	cfg.Secret = "secret2"
	cfg.Webhooks[0].Headers = map[string]string{"Authorization": "new"}
	cfg.Webhooks[0].Filter.ChannelNameStartsWith = "private-"
	if _, err := e.d.SetApps([]config.PusherApp{cfg}); err != nil {
		t.Fatal(err)
	}
	e.d.hooks.channelOccupied(e.d.apps().byID["app1"], "public-after") // filtered out now
	e.d.hooks.channelOccupied(e.d.apps().byID["app1"], "private-after")
	hs.release()
	first := hs.next(t)
	if first.header.Get("Authorization") != "old" || first.events[0]["channel"] != "first" {
		t.Errorf("the POST out during the reload: %v %v", first.header, first.events)
	}
	var got []any
	for len(got) < 2 {
		c := hs.next(t)
		if c.header.Get("Authorization") != "new" || !validSignature([]byte("secret2"), string(c.body), c.signature) {
			t.Errorf("a POST after the reload: headers %v, not signed with the new secret", c.header)
		}
		for _, ev := range c.events {
			got = append(got, ev["channel"])
		}
	}
	if want := []any{"queued", "private-after"}; !slices.Equal(got, want) {
		t.Errorf("after the reload: %v, want %v", got, want)
	}
}

// appendJSON encodes every field of a webhook event as encoding/json
// would (same keys, same values, the same omitempty): a field added to
// webhookEvent without a line in appendJSON fails here.
func TestWebhookEventJSON(t *testing.T) {
	odd := "x<&>\u2028\"\\\n\x01é"
	full := webhookEvent{}
	v := reflect.ValueOf(&full).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if !v.Type().Field(i).IsExported() {
			continue
		}
		switch f.Kind() {
		case reflect.String:
			f.SetString(odd + v.Type().Field(i).Name)
		case reflect.Pointer:
			p := reflect.New(f.Type().Elem())
			switch p.Elem().Kind() {
			case reflect.String:
				p.Elem().SetString(odd)
			case reflect.Int:
				p.Elem().SetInt(-42)
			default:
				t.Fatalf("field %s: a kind this test does not fill", v.Type().Field(i).Name)
			}
			f.Set(p)
		default:
			t.Fatalf("field %s: a kind this test does not fill", v.Type().Field(i).Name)
		}
	}
	zero, empty := 0, ""
	for _, e := range []webhookEvent{
		full,
		{Name: "channel_occupied", ID: "a-1", Channel: "c"},
		{Name: "subscription_count", ID: "a-2", SubscriptionCount: &zero, Data: &empty},
		{},
	} {
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		got := e.appendJSON(nil)
		var gm, wm map[string]any
		if err := json.Unmarshal(got, &gm); err != nil {
			t.Fatalf("appendJSON gave invalid JSON %s: %v", got, err)
		}
		_ = json.Unmarshal(want, &wm)
		if !reflect.DeepEqual(gm, wm) {
			t.Errorf("appendJSON\n got %s\nwant %s", got, want)
		}
	}
}

// FuzzWebhookEventJSON: whatever a client sends (channel, event name,
// data, user id), the webhook event is valid JSON with the same meaning as
// encoding/json's.
func FuzzWebhookEventJSON(f *testing.F) {
	f.Add("private-a", "client-x", `{"a":1}`, "u1", 3)
	f.Add("", "", "", "", 0)
	f.Add("c\u2028<&>", "e\x00\"", "\xff\xfe", "é\n", -1)
	f.Fuzz(func(t *testing.T, channel, event, data, userID string, n int) {
		e := webhookEvent{Name: "client_event", ID: "p-1", Channel: channel, Event: event, Data: &data, UserID: userID, SubscriptionCount: &n}
		got := e.appendJSON(nil)
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var gm, wm map[string]any
		if err := json.Unmarshal(got, &gm); err != nil {
			t.Fatalf("invalid JSON %q: %v", got, err)
		}
		_ = json.Unmarshal(want, &wm)
		if !reflect.DeepEqual(gm, wm) {
			t.Errorf("appendJSON\n got %s\nwant %s", got, want)
		}
	})
}
