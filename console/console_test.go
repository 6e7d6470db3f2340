package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/switchboard-rt/switchboard/console"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/internal/adminauth"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// setup returns a console over a real hub and registry, guarded by a Guard
// for token ("" for loopback only).
func setup(t *testing.T, token string) (*console.Console, *hub.Hub) {
	t.Helper()
	h, err := hub.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	reg := prometheus.NewRegistry()
	reg.MustRegister(h.Collector())
	g, err := adminauth.New(token)
	if err != nil {
		t.Fatal(err)
	}
	c, err := console.New(console.Options{
		Path: "/console", Guard: g, Gatherer: reg, Hub: h, NodeID: "n1", Version: "v-test",
		SampleInterval: 10 * time.Millisecond,
		Spaces:         []console.Space{{ID: "tokens", Label: "tokens", Prefix: "tokens:"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, h
}

// routes are every console route, with a method.
var routes = []struct{ method, path string }{
	{"GET", "/console"},
	{"GET", "/console/"},
	{"GET", "/console/static/console.js"},
	{"GET", "/console/api/stats"},
	{"GET", "/console/api/spaces"},
	{"GET", "/console/api/channels?space=tokens"},
	{"GET", "/console/api/members?space=tokens&channel=x"},
	{"POST", "/console/api/publish"},
	{"GET", "/console/api/stream"},
	{"GET", "/console/api/watch?app=a&channel=c"},
	{"GET", "/console/nothing-here"},
}

func TestEveryRouteIsGuarded(t *testing.T) {
	tests := []struct {
		name, token, remote, auth string
		want                      int
		msg                       string
	}{
		{"remote without a token configured", "", "203.0.113.9:4000", "", http.StatusForbidden, "set admin.token"},
		{"remote with a Bearer but no token configured", "", "203.0.113.9:4000", "Bearer guess", http.StatusForbidden, "set admin.token"},
		{"token configured, none sent", "s3cret", "203.0.113.9:4000", "", http.StatusUnauthorized, "admin token required"},
		{"token configured, wrong one", "s3cret", "127.0.0.1:4000", "Bearer nope", http.StatusUnauthorized, "wrong admin token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := setup(t, tt.token)
			for _, r := range routes {
				req := httptest.NewRequest(r.method, r.path, nil)
				req.RemoteAddr = tt.remote
				if tt.auth != "" {
					req.Header.Set("Authorization", tt.auth)
				}
				w := httptest.NewRecorder()
				c.Handler().ServeHTTP(w, req)
				if w.Code != tt.want || !strings.Contains(w.Body.String(), tt.msg) {
					t.Errorf("%s %s: %d %s, want %d with %q", r.method, r.path, w.Code, w.Body, tt.want, tt.msg)
				}
			}
		})
	}
}

func TestLetIn(t *testing.T) {
	tests := []struct {
		name, token, remote, host, auth string
	}{
		{"loopback, no token configured", "", "127.0.0.1:4000", "localhost:8000", ""},
		{"remote with the token as Bearer", "s3cret", "203.0.113.9:4000", "console.example.com", "Bearer s3cret"},
		{"remote with the token as a Basic password", "s3cret", "203.0.113.9:4000", "console.example.com", "Basic YWRtaW46czNjcmV0"}, // admin:s3cret
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := setup(t, tt.token)
			req := httptest.NewRequest("GET", "/console/api/stats", nil)
			req.RemoteAddr, req.Host = tt.remote, tt.host
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			w := httptest.NewRecorder()
			c.Handler().ServeHTTP(w, req)
			var st console.Stats
			if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &st) != nil || st.Node != "n1" || st.Version != "v-test" {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
		})
	}
}

// serve serves c on a loopback listener for the test.
func serve(t *testing.T, c *console.Console) string {
	t.Helper()
	s := httptest.NewServer(c.Handler())
	t.Cleanup(s.Close)
	return s.URL
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("GET %s: %d %s", url, res.StatusCode, b)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func TestPageAndAssets(t *testing.T) {
	c, _ := setup(t, "")
	base := serve(t, c)
	for path, want := range map[string]string{
		"/console/":                   "<title>Switchboard console</title>",
		"/console/static/console.js":  "new EventSource('api/stream')",
		"/console/static/console.css": "--accent",
	} {
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d, body without %q", path, res.StatusCode, want)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
	}
}

// drop is a hub subscriber's Deliver that drops what it gets.
func drop(*hub.Message) error { return nil }

func TestChannelsBusiestFirstAndSearchable(t *testing.T) {
	c, h := setup(t, "")
	base := serve(t, c)
	ctx := context.Background()
	for i, ch := range []string{"tokens:a", "tokens:b", "tokens:b", "tokens:b", "tokens:c", "tokens:c", "other:z"} {
		if _, err := h.Subscribe(ctx, ch, hub.SubscriberID(i+1), hub.SubscriberFunc(drop)); err != nil {
			t.Fatal(err)
		}
	}
	var res struct {
		Channels []struct {
			Name        string
			Subscribers int
		}
		Total int
	}
	getJSON(t, base+"/console/api/channels?space=tokens", &res)
	got := []string{}
	for _, ch := range res.Channels {
		got = append(got, ch.Name+"="+strconv.Itoa(ch.Subscribers))
	}
	if strings.Join(got, " ") != "b=3 c=2 a=1" || res.Total != 3 {
		t.Errorf("channels %v (total %d), want b=3 c=2 a=1", got, res.Total)
	}
	getJSON(t, base+"/console/api/channels?space=tokens&q=C", &res)
	if len(res.Channels) != 1 || res.Channels[0].Name != "c" {
		t.Errorf("search for C: %+v", res.Channels)
	}
	r, err := http.Get(base + "/console/api/channels?space=nope")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusNotFound {
		t.Errorf("unknown space: %d", r.StatusCode)
	}
}

// TestOverviewStream checks the stream's first events, that it samples
// only while open, and that Close ends it.
func TestOverviewStream(t *testing.T) {
	c, h := setup(t, "")
	base := serve(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/console/api/stream", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	events := readEvents(res.Body)
	if e := <-events; e.name != "hello" {
		t.Fatalf("first event %q", e.name)
	}
	if _, err := h.Subscribe(ctx, "tokens:x", 1, hub.SubscriberFunc(drop)); err != nil {
		t.Fatal(err)
	}
	// Readings come until one has rates and shows the subscription.
	for {
		e, ok := <-events
		if !ok {
			t.Fatal("the stream ended")
		}
		var st console.Stats
		if err := json.Unmarshal([]byte(e.data), &st); err != nil || e.name != "stats" {
			t.Fatalf("event %q %s: %v", e.name, e.data, err)
		}
		if st.Rates != nil && st.Hub.Subscriptions == 1 {
			break
		}
	}
	c.Close() // ends the stream; goleak checks the sampler stopped
	for range events {
	}
	after, err := http.Get(base + "/console/api/stream")
	if err != nil {
		t.Fatal(err)
	}
	after.Body.Close()
	if after.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a stream after Close: %d, want 503", after.StatusCode)
	}
}

type sseEvent struct{ name, data string }

// readEvents parses a text/event-stream until it ends.
func readEvents(r io.Reader) <-chan sseEvent {
	ch := make(chan sseEvent, 16)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		var e sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				e.name = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				e.data = line[len("data: "):]
			case line == "" && e.name != "":
				ch <- e
				e = sseEvent{}
			}
		}
	}()
	return ch
}
