package pusher

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Signature verification, one row per way to get it wrong.
func TestRESTSignatures(t *testing.T) {
	e := newEnv(t)
	body := []byte(`{"name":"e","channel":"news","data":"x"}`)
	path := "/apps/app1/events"
	good := signedParams("key1", "secret1", "POST", path, body, nil, time.Now())
	replace := func(q, key, val string) string {
		v, _ := url.ParseQuery(q)
		v.Set(key, val)
		return v.Encode()
	}
	for _, tt := range []struct {
		name   string
		query  string
		body   []byte
		status int
		msg    string
	}{
		{"good", good, body, 200, ""},
		{"good, query escaped", url.Values(mustParse(good)).Encode(), body, 200, ""},
		{"bad signature", replace(good, "auth_signature", strings.Repeat("0", 64)), body, 401, "Invalid signature"},
		{"no signature", strings.Split(good, "&auth_signature=")[0], body, 401, "auth_signature"},
		{"wrong key", signedParams("other", "secret1", "POST", path, body, nil, time.Now()), body, 401, "auth_key"},
		{"wrong secret", signedParams("key1", "nope", "POST", path, body, nil, time.Now()), body, 401, "Invalid signature"},
		{"expired timestamp", signedParams("key1", "secret1", "POST", path, body, nil, time.Now().Add(-610*time.Second)), body, 401, "Timestamp expired"},
		{"future timestamp", signedParams("key1", "secret1", "POST", path, body, nil, time.Now().Add(610*time.Second)), body, 401, "Timestamp expired"},
		{"timestamp within 600 s", signedParams("key1", "secret1", "POST", path, body, nil, time.Now().Add(-590*time.Second)), body, 200, ""},
		{"no timestamp", "auth_key=key1&auth_signature=00", body, 401, "auth_timestamp"},
		{"body_md5 mismatch", good, []byte(`{"name":"e","channel":"news","data":"y"}`), 401, "body_md5"},
		{"signed for another method", signedParams("key1", "secret1", "GET", path, body, nil, time.Now()), body, 401, "Invalid signature"},
		{"signed for another path", signedParams("key1", "secret1", "POST", "/apps/app1/batch_events", body, nil, time.Now()), body, 401, "Invalid signature"},
		{"bad auth_version", replace(good, "auth_version", "2.0"), body, 401, "auth_version"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := e.with(t)
			status, resp := e.do("POST", path+"?"+tt.query, tt.body)
			if status != tt.status {
				t.Fatalf("status %d (%s), want %d", status, resp, tt.status)
			}
			if tt.status == 200 {
				if resp != "{}" {
					t.Errorf("body %s", resp)
				}
				return
			}
			var er struct{ Error string }
			if err := json.Unmarshal([]byte(resp), &er); err != nil || !strings.Contains(er.Error, tt.msg) {
				t.Errorf("body %s, want an error containing %q", resp, tt.msg)
			}
			if strings.Contains(resp, "secret1") {
				t.Errorf("the secret is in the answer: %s", resp)
			}
		})
	}
	// Extra query parameters are signed too.
	q := signedParams("key1", "secret1", "GET", "/apps/app1/channels", nil, url.Values{"filter_by_prefix": {"presence-"}, "info": {"user_count"}}, time.Now())
	if status, resp := e.do("GET", "/apps/app1/channels?"+q, nil); status != 200 {
		t.Errorf("signed GET with parameters: %d %s", status, resp)
	}
	if status, _ := e.do("GET", "/apps/app1/channels?"+q+"&extra=1", nil); status != 401 {
		t.Errorf("unsigned extra parameter: %d, want 401", status)
	}
}

func mustParse(q string) url.Values {
	v, err := url.ParseQuery(q)
	if err != nil {
		panic(err)
	}
	return v
}

// Statuses other than 401, one row each.
func TestRESTStatuses(t *testing.T) {
	off := testApp()
	off.ID, off.Key, off.Secret, off.Enabled = "app2", "key2", "secret2", false
	e := newEnv(t, testApp(), off)
	ev := eventBody
	many := make([]string, 101)
	for i := range many {
		many[i] = "c" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + strings.Repeat("y", i/26)
	}
	batch := func(n int) map[string]any {
		b := make([]map[string]any, n)
		for i := range b {
			b[i] = ev(nil)
		}
		return map[string]any{"batch": b}
	}
	for _, tt := range []struct {
		name, method, path string
		body               any
		params             url.Values
		status             int
		msg                string
	}{
		{"unknown app", "POST", "/apps/nope/events", ev(nil), nil, 404, "Unknown app"},
		{"disabled app", "POST", "/apps/app2/events", ev(nil), nil, 403, "disabled"},
		{"payload too large", "POST", "/apps/app1/events", ev(map[string]any{"data": strings.Repeat("x", 10*1024+1)}), nil, 413, "larger"},
		{"payload at the limit", "POST", "/apps/app1/events", ev(map[string]any{"data": strings.Repeat("x", 10*1024)}), nil, 200, ""},
		{"not JSON", "POST", "/apps/app1/events", "nope", nil, 400, "not a JSON"},
		{"no name", "POST", "/apps/app1/events", ev(map[string]any{"name": nil}), nil, 400, "event name is empty"},
		{"no channels", "POST", "/apps/app1/events", ev(map[string]any{"channel": nil}), nil, 400, "No channels"},
		{"101 channels", "POST", "/apps/app1/events", ev(map[string]any{"channel": nil, "channels": many}), nil, 400, "Too many channels"},
		{"100 channels", "POST", "/apps/app1/events", ev(map[string]any{"channel": nil, "channels": many[:100]}), nil, 200, ""},
		{"bad channel name", "POST", "/apps/app1/events", ev(map[string]any{"channel": "a b"}), nil, 400, "invalid channel name"},
		{"bad socket_id", "POST", "/apps/app1/events", ev(map[string]any{"socket_id": "abc"}), nil, 400, "socket_id"},
		{"unknown info", "POST", "/apps/app1/events", ev(map[string]any{"info": "color"}), nil, 400, "info attribute"},
		{"user_count on a public channel", "POST", "/apps/app1/events", ev(map[string]any{"info": "user_count"}), nil, 400, "presence"},
		{"encrypted with others", "POST", "/apps/app1/events", ev(map[string]any{"channel": nil, "channels": []string{"private-encrypted-a", "b"}}), nil, 400, "encrypted"},
		{"batch of 11", "POST", "/apps/app1/batch_events", batch(11), nil, 400, "Batch too large"},
		{"empty batch", "POST", "/apps/app1/batch_events", batch(0), nil, 400, "Empty batch"},
		{"batch with a bad event", "POST", "/apps/app1/batch_events", map[string]any{"batch": []any{ev(nil), ev(map[string]any{"channel": "a b"})}}, nil, 400, "batch[1]"},
		{"user_count without presence prefix", "GET", "/apps/app1/channels", nil, url.Values{"info": {"user_count"}}, 400, "filter_by_prefix=presence-"},
		{"users of a public channel", "GET", "/apps/app1/channels/news/users", nil, nil, 400, "presence"},
		{"user_count of a public channel", "GET", "/apps/app1/channels/news", nil, url.Values{"info": {"user_count"}}, 400, "presence"},
		{"bad channel in path", "GET", "/apps/app1/channels/a%20b", nil, nil, 400, "invalid channel name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := e.with(t)
			key, secret := "key1", "secret1"
			if strings.Contains(tt.path, "app2") {
				key, secret = "key2", "secret2"
			}
			status, resp := e.restAs(key, secret, tt.method, tt.path, tt.body, tt.params, time.Now())
			if status != tt.status {
				t.Fatalf("status %d (%s), want %d", status, resp, tt.status)
			}
			if tt.msg != "" && !strings.Contains(resp, tt.msg) {
				t.Errorf("body %s, want it to contain %q", resp, tt.msg)
			}
		})
	}
}

// A REST publish reaches every subscriber of every listed channel, except
// the socket_id given.
func TestRESTPublishAndExclusion(t *testing.T) {
	e := newEnv(t)
	a, b := e.connect("key1"), e.connect("key1")
	for _, c := range []*client{a, b} {
		c.join("secret1", "key1", "news", "")
		c.join("secret1", "key1", "private-x", "")
	}
	e.trigger(map[string]any{"name": "update", "channels": []string{"news", "private-x"}, "data": `{"n":1}`})
	for _, c := range []*client{a, b} {
		for _, ch := range []string{"news", "private-x"} {
			if ev := c.expectOn("update", ch); ev.DataString() != `{"n":1}` {
				t.Errorf("data %q", ev.DataString())
			}
		}
	}
	e.trigger(map[string]any{"name": "update", "channels": []string{"news", "private-x"}, "data": "2", "socket_id": a.socketID})
	b.expectOn("update", "news")
	b.expectOn("update", "private-x")
	a.quiet()

	// A socket id of no connection excludes no one.
	e.trigger(map[string]any{"name": "update", "channel": "news", "data": "3", "socket_id": "1.1"})
	a.expectOn("update", "news")
}

func TestRESTInfo(t *testing.T) {
	e := newEnv(t)
	u1a, u1b, u2 := e.connect("key1"), e.connect("key1"), e.connect("key1")
	u1a.join("secret1", "key1", "presence-room", "u1")
	u1b.join("secret1", "key1", "presence-room", "u1")
	u2.join("secret1", "key1", "presence-room", "u2")
	u2.join("secret1", "key1", "news", "")

	resp := e.trigger(map[string]any{"name": "e", "channels": []string{"presence-room"}, "data": "x", "info": "user_count,subscription_count"})
	if resp != `{"channels":{"presence-room":{"user_count":2,"subscription_count":3}}}` {
		t.Errorf("events with info: %s", resp)
	}
	status, resp := e.rest("POST", "/apps/app1/batch_events", map[string]any{"batch": []any{
		map[string]any{"name": "e", "channel": "news", "data": "x", "info": "subscription_count"},
		map[string]any{"name": "e", "channel": "presence-room", "data": "x"},
	}}, nil)
	if status != 200 || resp != `{"batch":[{"subscription_count":1},{}]}` {
		t.Errorf("batch with info: %d %s", status, resp)
	}
	status, resp = e.rest("POST", "/apps/app1/batch_events", map[string]any{"batch": []any{
		map[string]any{"name": "e", "channel": "news", "data": "x"},
	}}, nil)
	if status != 200 || resp != `{}` {
		t.Errorf("batch: %d %s", status, resp)
	}

	for _, tt := range []struct {
		path   string
		params url.Values
		want   string
	}{
		{"/apps/app1/channels", nil, `{"channels":{"news":{},"presence-room":{}}}`},
		{"/apps/app1/channels", url.Values{"filter_by_prefix": {"presence-"}, "info": {"user_count"}}, `{"channels":{"presence-room":{"user_count":2}}}`},
		{"/apps/app1/channels", url.Values{"filter_by_prefix": {"private-"}}, `{"channels":{}}`},
		{"/apps/app1/channels/presence-room", url.Values{"info": {"user_count,subscription_count"}}, `{"occupied":true,"user_count":2,"subscription_count":3}`},
		{"/apps/app1/channels/news", nil, `{"occupied":true}`},
		{"/apps/app1/channels/empty", url.Values{"info": {"subscription_count"}}, `{"occupied":false}`},
		{"/apps/app1/channels/presence-room/users", nil, `{"users":[{"id":"u1"},{"id":"u2"}]}`},
		{"/apps/app1/channels/presence-nobody/users", nil, `{"users":[]}`},
	} {
		status, resp := e.rest("GET", tt.path, nil, tt.params)
		if status != 200 || resp != tt.want {
			t.Errorf("GET %s %v: %d %s\nwant %s", tt.path, tt.params, status, resp, tt.want)
		}
	}
}

// Channels of sign-ins and watchlists are not listed.
func TestRESTHidesInternalChannels(t *testing.T) {
	e := newEnv(t)
	c := e.connect("key1")
	c.signin("secret1", "key1", `{"id":"u1","watchlist":["u2"]}`)
	status, resp := e.rest("GET", "/apps/app1/channels", nil, nil)
	if status != 200 || resp != `{"channels":{}}` {
		t.Errorf("%d %s", status, resp)
	}
}

// A request refused for its content publishes nothing, whichever of its
// events or channels is at fault, so that it can be fixed and sent again
// without duplicates.
func TestRESTValidatesBeforePublishing(t *testing.T) {
	e := newEnv(t)
	sub := e.connect("key1")
	sub.join("secret1", "key1", "news", "")
	sub.join("secret1", "key1", "presence-room", "u")
	published := e.hub.Stats().Published // member_added
	ok := eventBody(nil)
	bad := func(k string, v any) map[string]any { return eventBody(map[string]any{k: v}) }
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf("c%d", i)
	}
	for _, tt := range []struct {
		name, path string
		body       any
		status     int
		msg        string
	}{
		{"events: a bad channel after a good one", "/apps/app1/events", map[string]any{"name": "e", "channels": []string{"news", "presence-room", "a b"}, "data": "x"}, 400, "invalid channel name"},
		{"events: encrypted with others", "/apps/app1/events", map[string]any{"name": "e", "channels": []string{"news", "private-encrypted-x"}, "data": "x"}, 400, "encrypted"},
		{"events: user_count on a later public channel", "/apps/app1/events", map[string]any{"name": "e", "channels": []string{"presence-room", "news"}, "data": "x", "info": "user_count"}, 400, "presence"},
		{"batch: bad channel", "/apps/app1/batch_events", map[string]any{"batch": []any{ok, ok, bad("channel", "a b")}}, 400, "batch[2]"},
		{"batch: data too large", "/apps/app1/batch_events", map[string]any{"batch": []any{ok, bad("data", strings.Repeat("x", 10*1024+1))}}, 413, "batch[1]"},
		{"batch: bad socket_id", "/apps/app1/batch_events", map[string]any{"batch": []any{ok, bad("socket_id", "x")}}, 400, "batch[1]"},
		{"batch: unknown info", "/apps/app1/batch_events", map[string]any{"batch": []any{ok, bad("info", "color")}}, 400, "batch[1]"},
		{"batch: no name", "/apps/app1/batch_events", map[string]any{"batch": []any{ok, bad("name", nil)}}, 400, "batch[1]"},
		{"batch: too many channels", "/apps/app1/batch_events", map[string]any{"batch": []any{ok, bad("channels", many)}}, 400, "batch[1]"},
		{"batch: a bad channel among the last event's", "/apps/app1/batch_events", map[string]any{"batch": []any{ok, bad("channels", []string{"presence-room", "a b"})}}, 400, "batch[1]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := e.with(t)
			defer sub.during(t)()
			status, resp := e.rest("POST", tt.path, tt.body, nil)
			if status != tt.status || !strings.Contains(resp, tt.msg) {
				t.Fatalf("%d %s, want %d and %q", status, resp, tt.status, tt.msg)
			}
			sub.quiet() // nothing was published
		})
	}
	if n := e.hub.Stats().Published; n != published {
		t.Errorf("the hub published %d messages, want %d", n, published)
	}
}

// Only the server failing can stop a request halfway; the answer is a 500
// that says how much had been published.
func TestRESTPublishFailsHalfway(t *testing.T) {
	e := newFailingEnv(t)
	sub := e.connect("key1")
	sub.join("secret1", "key1", "news", "")
	for _, tt := range []struct {
		name, path string
		body       any
		msg        string
		news       int // events reaching news
	}{
		{"events: the first channel fails", "/apps/app1/events", map[string]any{"name": "e", "channels": []string{"broken", "news"}, "data": "x"},
			`{"error":"Publishing failed on the server; try again"}`, 0},
		{"events: the second channel fails", "/apps/app1/events", map[string]any{"name": "e", "channels": []string{"news", "broken"}, "data": "x"},
			`{"error":"Publishing failed on the server; try again (1 of the 2 messages had been published)"}`, 1},
		{"batch: the second event fails", "/apps/app1/batch_events", map[string]any{"batch": []any{
			map[string]any{"name": "e", "channel": "news", "data": "x"},
			map[string]any{"name": "e", "channels": []string{"broken", "news"}, "data": "x"},
		}}, `{"error":"Publishing failed on the server; try again (1 of the 3 messages had been published)"}`, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := e.with(t)
			defer sub.during(t)()
			status, resp := e.rest("POST", tt.path, tt.body, nil)
			if status != 500 || resp != tt.msg {
				t.Fatalf("%d %s, want 500 %s", status, resp, tt.msg)
			}
			if got := len(sub.untilPong()); got != tt.news {
				t.Errorf("news got %d events, want %d", got, tt.news)
			}
		})
	}
}

// Once Shutdown has begun, REST publishes are refused with 503 before
// anything is published.
func TestRESTShuttingDown(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := e.d.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	status, resp := e.rest("POST", "/apps/app1/events", map[string]any{"name": "e", "channel": "news", "data": "x"}, nil)
	if status != 503 || !strings.Contains(resp, "shutting down") {
		t.Errorf("%d %s, want 503", status, resp)
	}
	if n := e.hub.Stats().Published; n != 0 {
		t.Errorf("the hub published %d messages", n)
	}
}

// A wrong method on a REST path, or a path under /apps/ that is none, gets
// the status and Allow header ServeMux gives them, with a JSON error as
// every other REST answer, and counts as a REST error.
func TestRESTUnknownPathsAndMethods(t *testing.T) {
	e := newEnv(t)
	plain := http.NewServeMux() // the routes without the fallback: the statuses to keep
	for _, r := range e.d.Routes() {
		if r.Pattern != "/apps/" {
			plain.Handle(r.Pattern, http.NotFoundHandler())
		}
	}
	for _, tt := range []struct {
		method, path string
		status       int
		allow, msg   string
	}{
		{"GET", "/apps/app1/events", 405, "POST", "Method GET is not allowed on /apps/app1/events: use POST"},
		{"PUT", "/apps/app1/batch_events", 405, "POST", "use POST"},
		{"HEAD", "/apps/app1/events", 405, "POST", ""},
		{"POST", "/apps/app1/channels", 405, "GET, HEAD", "use GET, HEAD"},
		{"DELETE", "/apps/app1/channels/news", 405, "GET, HEAD", "use GET, HEAD"},
		{"PATCH", "/apps/app1/channels/presence-a/users", 405, "GET, HEAD", "use GET, HEAD"},
		{"GET", "/apps/app1/users/u1/terminate_connections", 405, "POST", "use POST"},
		{"GET", "/apps/nope/events", 405, "POST", "use POST"},
		{"GET", "/apps/app1/nope", 404, "", "Not found: /apps/app1/nope is not a path of the REST API"},
		{"POST", "/apps/app1/events/more", 404, "", "not a path"},
		{"GET", "/apps/app1", 404, "", "not a path"},
		{"GET", "/apps/", 404, "", "not a path"},
		{"GET", "/apps/app1/channels/", 404, "", "not a path"},
		{"GET", "/apps/app1/channels/a/b/c", 404, "", "not a path"},
		{"POST", "/apps/app1/users/u1", 404, "", "not a path"},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			plain.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.status || rec.Header().Get("Allow") != tt.allow {
				t.Fatalf("the table is wrong: ServeMux answers %d with Allow %q", rec.Code, rec.Header().Get("Allow"))
			}
			before := e.d.stats.restErrors.Load()
			req, err := http.NewRequest(tt.method, e.srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || resp.Header.Get("Allow") != tt.allow || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("%d, Allow %q, Content-Type %q; want %d, Allow %q, JSON",
					resp.StatusCode, resp.Header.Get("Allow"), resp.Header.Get("Content-Type"), tt.status, tt.allow)
			}
			if tt.method != "HEAD" {
				var er struct{ Error string }
				if err := json.Unmarshal(body, &er); err != nil || !strings.Contains(er.Error, tt.msg) {
					t.Errorf("body %s, want a JSON error containing %q", body, tt.msg)
				}
			}
			if n := e.d.stats.restErrors.Load(); n != before+1 {
				t.Errorf("REST errors %d, want %d", n, before+1)
			}
		})
	}
	// The API's own routes are unchanged.
	if status, resp := e.rest("GET", "/apps/app1/channels", nil, nil); status != 200 || resp != `{"channels":{}}` {
		t.Errorf("GET /channels: %d %s", status, resp)
	}
}
