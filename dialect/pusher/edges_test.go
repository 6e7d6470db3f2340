package pusher

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/internal/edgetest"
	"github.com/switchboard-rt/switchboard/ws"
)

// fakeTimers is the dialect's grace-period scheduler on a clock that moves
// only when the test advances it: due settles run, in order, inside
// advance.
type fakeTimers struct {
	clock *edgetest.Clock
	mu    sync.Mutex
	list  []*fakeTimer
}

type fakeTimer struct {
	at time.Time
	f  func()
}

func (ft *fakeTimers) after(d time.Duration, f func()) func() bool {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	t := &fakeTimer{at: ft.clock.Now().Add(d), f: f}
	ft.list = append(ft.list, t)
	return func() bool {
		ft.mu.Lock()
		defer ft.mu.Unlock()
		i := slices.Index(ft.list, t)
		if i < 0 {
			return false
		}
		ft.list = slices.Delete(ft.list, i, i+1)
		return true
	}
}

// advance moves the clock by d and runs the settles that became due.
func (ft *fakeTimers) advance(d time.Duration) {
	ft.clock.Advance(d)
	now := ft.clock.Now()
	for {
		ft.mu.Lock()
		var due *fakeTimer
		for i, t := range ft.list {
			if !t.at.After(now) {
				due = t
				ft.list = slices.Delete(ft.list, i, i+1)
				break
			}
		}
		ft.mu.Unlock()
		if due == nil {
			return
		}
		due.f()
	}
}

// graceEnv is a dialect whose edge store and grace timers run on a fake
// clock, with every webhook sent to hs.
type graceEnv struct {
	*env
	hs     *hookServer
	timers *fakeTimers
	flush  int
}

func newGraceEnv(t *testing.T, grace time.Duration) *graceEnv {
	hs := newHookServer(t, 0)
	a := hookApp(hs.srv.URL)
	a.WebhookGracePeriod = config.Duration(grace)
	a.EnableUserOnlineEvents = true
	clock := edgetest.NewClock()
	e := newEnvHub(t, &hub.Options{Backend: bus.Backend{Edges: bus.NewMemoryEdges(clock.Now)}}, ws.Options{}, a)
	ft := &fakeTimers{clock: clock}
	e.d.edges.after = ft.after
	return &graceEnv{env: e, hs: hs, timers: ft}
}

// sent returns the webhook events sent since the last call, as "name
// channel user" strings, sorted: it subscribes a new connection to a new
// marker channel and reads the webhooks up to the marker's
// channel_occupied, which the same queue carries after everything sent
// before.
func (g *graceEnv) sent(t *testing.T) []string {
	t.Helper()
	g.flush++
	marker := fmt.Sprintf("marker-%d", g.flush)
	g.with(t).connect("key1").join("secret1", "key1", marker, "")
	var out []string
	for {
		for _, ev := range g.hs.events(t, 1) {
			s := func(k string) string { v, _ := ev[k].(string); return v }
			if s("channel") == marker {
				slices.Sort(out)
				return out
			}
			if strings.HasPrefix(s("channel"), "marker-") {
				continue
			}
			out = append(out, strings.TrimSpace(s("name")+" "+s("channel")+" "+s("user_id")))
		}
	}
}

// closeAndWait closes c and waits until the server has let it go.
func (g *graceEnv) closeAndWait(t *testing.T, c *client) {
	t.Helper()
	n := g.d.stats.connections.Load()
	_ = c.c.CloseNow()
	waitUntil(t, func() bool { return g.d.stats.connections.Load() == n-1 })
}

// The grace period, step by step on an injected clock: what a reload, a
// real leave, a second connection and a sign-in send.
func TestWebhookGracePeriod(t *testing.T) {
	const grace = 3 * time.Second
	joined := []string{"channel_occupied presence-room", "member_added presence-room u1", "user_online  u1"}
	left := []string{"channel_vacated presence-room", "member_removed presence-room u1", "user_offline  u1"}
	type step struct {
		do      string // "join N", "close N", "signin N", "advance"
		d       time.Duration
		want    []string // webhooks sent by the step; nil: none
		comment string
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"a reload within the grace sends nothing", []step{
			{do: "join 0", want: joined},
			{do: "close 0"},
			{do: "advance", d: time.Second},
			{do: "join 1", comment: "back within the grace"},
			{do: "advance", d: time.Minute, comment: "the first departure's settle finds the user back"},
		}},
		{"a real leave sends each webhook once, after the grace", []step{
			{do: "join 0", want: joined},
			{do: "close 0"},
			{do: "advance", d: grace - time.Millisecond},
			{do: "advance", d: time.Millisecond, want: left},
			{do: "advance", d: time.Minute},
		}},
		{"the user's last connection counts", []step{
			{do: "join 0", want: joined},
			{do: "join 1"},
			{do: "close 0"},
			{do: "advance", d: time.Minute},
			{do: "close 1"},
			{do: "advance", d: grace, want: left},
		}},
		{"a signed-in user is online without presence", []step{
			{do: "signin 0", want: []string{"user_online  u1"}},
			{do: "join 1", want: []string{"channel_occupied presence-room", "member_added presence-room u1"}},
			{do: "close 1"},
			{do: "advance", d: grace, want: []string{"channel_vacated presence-room", "member_removed presence-room u1"}},
			{do: "close 0"},
			{do: "advance", d: grace, want: []string{"user_offline  u1"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGraceEnv(t, grace)
			conns := map[string]*client{}
			for i, s := range tc.steps {
				verb, n, _ := strings.Cut(s.do, " ")
				switch verb {
				case "join":
					conns[n] = g.with(t).connect("key1")
					conns[n].join("secret1", "key1", "presence-room", "u1")
				case "signin":
					conns[n] = g.with(t).connect("key1")
					conns[n].signin("secret1", "key1", `{"id":"u1"}`)
				case "close":
					g.closeAndWait(t, conns[n])
				case "advance":
					g.timers.advance(s.d)
				}
				if got := g.sent(t); !slices.Equal(got, s.want) {
					t.Fatalf("step %d (%s %s; %s): webhooks %q, want %q", i, s.do, s.d, s.comment, got, s.want)
				}
			}
		})
	}
}

// The WebSocket events are not delayed: the channel's other subscribers
// see pusher_internal:member_removed at once, while the webhook waits.
func TestMemberRemovedNotDelayedForClients(t *testing.T) {
	g := newGraceEnv(t, 3*time.Second)
	obs, c := g.connect("key1"), g.connect("key1")
	obs.join("secret1", "key1", "presence-room", "watcher")
	c.join("secret1", "key1", "presence-room", "u1")
	obs.expectOn("pusher_internal:member_added", "presence-room")
	g.sent(t)
	_ = c.c.CloseNow()
	obs.expectOn("pusher_internal:member_removed", "presence-room")
	if got := g.sent(t); got != nil {
		t.Fatalf("webhooks before the grace: %q", got)
	}
	g.timers.advance(3 * time.Second)
	if got := g.sent(t); !slices.Equal(got, []string{"member_removed presence-room u1", "user_offline  u1"}) {
		t.Fatalf("webhooks after the grace: %q", got)
	}
}

// GET /apps/{id}/users lists the online users, a page at a time, and is
// refused for an app that does not track them.
func TestOnlineUsersREST(t *testing.T) {
	g := newGraceEnv(t, 0)
	for _, u := range []string{"u3", "u1", "u2"} {
		g.connect("key1").signin("secret1", "key1", `{"id":"`+u+`"}`)
	}
	g.connect("key1").join("secret1", "key1", "presence-x", "u4")
	var pages []string
	cursor := ""
	for range 5 {
		p := url.Values{"limit": {"2"}}
		if cursor != "" {
			p.Set("cursor", cursor)
		}
		status, body := g.rest(http.MethodGet, "/apps/app1/users", nil, p)
		if status != http.StatusOK {
			t.Fatalf("status %d %s", status, body)
		}
		pages = append(pages, body)
		if !strings.Contains(body, "next_cursor") {
			break
		}
		cursor = map[int]string{1: "u2", 2: "u4"}[len(pages)]
	}
	want := []string{
		`{"users":[{"id":"u1"},{"id":"u2"}],"next_cursor":"u2"}`,
		`{"users":[{"id":"u3"},{"id":"u4"}],"next_cursor":"u4"}`,
		`{"users":[]}`,
	}
	if !slices.Equal(pages, want) {
		t.Errorf("pages\n got %q\nwant %q", pages, want)
	}
	if status, body := g.rest(http.MethodGet, "/apps/app1/users", nil, url.Values{"limit": {"0"}}); status != http.StatusBadRequest || !strings.Contains(body, "from 1 to 1000") {
		t.Errorf("limit 0: %d %s", status, body)
	}
	off := newEnv(t)
	if status, body := off.rest(http.MethodGet, "/apps/app1/users", nil, nil); status != http.StatusBadRequest || !strings.Contains(body, "enable_user_online_events") {
		t.Errorf("untracked app: %d %s", status, body)
	}
}

// An app whose webhooks want no channel or member events makes no edge
// store call on subscribe: the hot path stays as it was.
func TestNoEdgeCallsWithoutWebhooks(t *testing.T) {
	store := &countingEdges{EdgeStore: bus.NewMemoryEdges(nil)}
	e := newEnvHub(t, &hub.Options{Backend: bus.Backend{Edges: store}}, ws.Options{}, testApp())
	c := e.connect("key1")
	c.join("secret1", "key1", "news", "")
	c.join("secret1", "key1", "presence-a", "u1")
	c.signin("secret1", "key1", `{"id":"u1"}`)
	_ = c.c.CloseNow()
	waitUntil(t, func() bool { return e.d.stats.connections.Load() == 0 })
	if n := store.calls(); n != 0 {
		t.Errorf("%d edge store calls for an app without webhooks", n)
	}
}

type countingEdges struct {
	bus.EdgeStore
	mu sync.Mutex
	n  int
}

func (c *countingEdges) calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *countingEdges) Hold(ctx context.Context, space, key string, held bool, grace time.Duration) (bus.Settled, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.EdgeStore.Hold(ctx, space, key, held, grace)
}
