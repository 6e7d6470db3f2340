package pusher

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/config"
)

// hookServer records the webhooks it receives; the first fail calls are
// answered 500.
type hookServer struct {
	srv   *httptest.Server
	calls atomic.Int32
	got   chan hookCall
}

type hookCall struct {
	key, signature string
	body           []byte
	events         []map[string]any
	failed         bool
}

func newHookServer(t *testing.T, fail int32) *hookServer {
	h := &hookServer{got: make(chan hookCall, 100)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var b struct {
			TimeMS int64            `json:"time_ms"`
			Events []map[string]any `json:"events"`
		}
		if err := json.Unmarshal(body, &b); err != nil || b.TimeMS == 0 {
			t.Errorf("webhook body %s: %v", body, err)
		}
		call := hookCall{key: r.Header.Get("X-Pusher-Key"), signature: r.Header.Get("X-Pusher-Signature"), body: body, events: b.Events}
		if h.calls.Add(1) <= fail {
			call.failed = true
			w.WriteHeader(http.StatusInternalServerError)
		}
		h.got <- call
	}))
	t.Cleanup(h.srv.Close)
	return h
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

func hookApp(url string, types ...string) config.PusherApp {
	a := testApp()
	a.Webhooks = []config.PusherWebhook{{URL: url, EventTypes: types}}
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
	for len(got) < len(want) {
		c := hs.next(t)
		if c.key != "key1" || !validSignature([]byte("secret1"), string(c.body), c.signature) {
			t.Errorf("webhook key %q signature %q do not match body %s", c.key, c.signature, c.body)
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
	for range 3 {
		c := hs.next(t)
		times = append(times, time.Now())
		if len(c.events) != 1 || c.events[0]["name"] != "channel_occupied" {
			t.Fatalf("events %v", c.events)
		}
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
	e.d.hooks.firstRetry, e.d.hooks.retryFor = 10*time.Millisecond, 50*time.Millisecond
	e.connect("key1").join("secret1", "key1", "news", "")
	waitUntil(t, func() bool { return e.d.stats.webhookEventsDropped.Load() == 1 })
	if f := e.d.stats.webhookFailures.Load(); f < 2 {
		t.Errorf("%d attempts before giving up", f)
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

// Events queued together go in one POST.
func TestWebhookBatching(t *testing.T) {
	hs := newHookServer(t, 0)
	a := hookApp(hs.srv.URL)
	e := newEnv(t, a)
	app := e.d.byKey["key1"]
	// Fill the queue before the sender starts, so that it finds them together.
	for i := range 5 {
		e.d.hooks.queue <- webhookEvent{app: app, Name: "channel_occupied", Channel: "c" + string(rune('0'+i))}
	}
	e.d.hooks.channelVacated(app, "last")
	total := 0
	posts := 0
	for total < 6 {
		c := hs.next(t)
		total += len(c.events)
		posts++
	}
	if posts > 2 {
		t.Errorf("6 queued events took %d POSTs", posts)
	}
}

// A full queue drops events instead of blocking, and counts them.
func TestWebhookQueueFullDrops(t *testing.T) {
	e := newEnv(t, hookApp("http://127.0.0.1:1/never"))
	app := e.d.byKey["key1"]
	e.d.hooks.startOnce.Do(func() {}) // no sender yet: the queue stays full
	for range webhookQueue {
		e.d.hooks.queue <- webhookEvent{app: app, Name: "channel_occupied", Channel: "x"}
	}
	e.d.hooks.channelOccupied(app, "dropped")
	if n := e.d.stats.webhookEventsDropped.Load(); n < 1 {
		t.Errorf("dropped %d", n)
	}
	if !strings.Contains(e.logs.String(), "webhook queue full") {
		t.Errorf("drop not logged:\n%s", e.logs.String())
	}
	go e.d.hooks.run() // for Shutdown to stop
}
