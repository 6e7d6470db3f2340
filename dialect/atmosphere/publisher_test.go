package atmosphere

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/switchboard-rt/switchboard/dialect"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/internal/localreq"

	"github.com/switchboard-rt/switchboard/config"
)

func TestPublisherAuthorization(t *testing.T) {
	local := newEnv(t, nil)
	keyed := newEnv(t, func(c *config.Atmosphere) { c.PublisherAPIKey = "pub-key" })
	hashed := newEnv(t, func(c *config.Atmosphere) { c.PublisherAPIKey = "sha256:" + sha256Hex("pub-key") })
	for _, tt := range []struct {
		name    string
		e       *env
		headers map[string]string
		want    int
	}{
		{"loopback, no key configured", local, nil, 200},
		{"through a proxy", local, map[string]string{"X-Forwarded-For": "203.0.113.9"}, 403},
		{"from a web page", local, map[string]string{"Origin": "https://evil.example"}, 403},
		{"key missing", keyed, nil, 403},
		{"wrong key", keyed, map[string]string{"X-Api-Key": "nope"}, 403},
		{"X-Api-Key", keyed, map[string]string{"X-Api-Key": "pub-key"}, 200},
		{"Bearer", keyed, map[string]string{"Authorization": "Bearer pub-key"}, 200},
		{"hashed key", hashed, map[string]string{"X-Api-Key": "pub-key"}, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", tt.e.srv.URL+"/publisher/state", strings.NewReader(stateBody(1, 1)))
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("got %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
	// A request from another address is not local.
	r := httptest.NewRequest("GET", "http://127.0.0.1/publisher/users", nil)
	r.RemoteAddr = "192.0.2.1:1234"
	if localreq.Is(r) {
		t.Error("192.0.2.1 counted as local")
	}
	r.RemoteAddr, r.Host = "127.0.0.1:1234", "example.com"
	if localreq.Is(r) {
		t.Error("a request to example.com counted as local (DNS rebinding)")
	}
}

func TestPublisherBadInput(t *testing.T) {
	e := newEnv(t, nil)
	for _, tt := range []struct {
		path, body string
		code       int
	}{
		{"/publisher/state", `nope`, 5},
		{"/publisher/state", `{"tracker_id":"x","data":{}}`, 7},
		{"/publisher/state", `{"tracker_id":1,"data":[1]}`, 7},
		{"/publisher/state", `{"tracker_id":1}`, 7},
		{"/publisher/state", `[]`, 7},
		{"/publisher/state", `{"tracker_id":1,"data":{"pad":"` + strings.Repeat("x", 70000) + `"}}`, 9},
		{"/publisher/lifecycle", `{"tracker_id":1,"event":"explode"}`, 7},
		{"/publisher/iot", `{"tracker_id":1,"fields":[1]}`, 7},
		{"/publisher/nothing", `{}`, 204},
	} {
		if _, out := e.call("POST", tt.path, "application/json", tt.body); apiCode(out) != tt.code {
			t.Errorf("%s %.40s: %v, want code %d", tt.path, tt.body, out, tt.code)
		}
	}
	if code, out := e.call("GET", "/publisher/trackers/1", "", ""); code != 404 || apiCode(out) != 204 {
		t.Errorf("unknown tracker: %d %v", code, out)
	}
	e.publish("state", stateBody(1, 1))
	if _, out := e.call("GET", "/publisher/trackers/1", "", ""); get(out, "state", "source_id") != 1001.0 || out["blocked"] != false {
		t.Errorf("tracker: %v", out)
	}
}

func TestPublisherUsers(t *testing.T) {
	e := newEnv(t, nil)
	// A new user, then a login with it.
	if code, out := e.call("PUT", "/publisher/users/carol", "application/json", `{"password":"carol-pw","trackers":[5,6]}`); code != 200 || out["created"] != true {
		t.Fatalf("create: %d %v", code, out)
	}
	hash := e.login("carol", "carol-pw")
	c := e.dial("")
	r := c.subscribe(hash, `[{"type":"state","trackers":[5,6,1]}]`)
	if get(r, "data", "state", "value", "5") != "normal" || get(r, "data", "state", "value", "1") != "unknown" {
		t.Fatalf("response %v", r)
	}
	// Withdrawing a tracker ends its subscriptions; the session stays.
	if _, out := e.call("PUT", "/publisher/users/carol", "application/json", `{"trackers":[6]}`); out["created"] != false {
		t.Fatalf("update: %v", out)
	}
	e.publish("state", stateBody(5, 1))
	e.publish("state", stateBody(6, 1))
	if ev := c.nextJSON(); get(ev, "data", "source_id") != 1006.0 {
		t.Fatalf("got %v", ev)
	}
	// A new password ends the sessions: logout event.
	e.call("PUT", "/publisher/users/carol", "application/json", `{"password":"carol-pw2"}`)
	if ev := c.nextJSON(); ev["event"] != "logout" {
		t.Fatalf("got %v", ev)
	}
	if _, out := e.call("POST", "/user/auth", "application/json", `{"login":"carol","password":"carol-pw"}`); apiCode(out) != 102 {
		t.Fatalf("old password: %v", out)
	}
	// An API key for carol; deleting carol ends it too.
	_, out := e.call("POST", "/publisher/api_keys", "application/json", `{"login":"carol"}`)
	key, _ := out["key"].(string)
	if len(key) != 32 || out["key_sha256"] != sha256Hex(key) {
		t.Fatalf("key %v", out)
	}
	c.subscribe(key, `[{"type":"state","trackers":[6]}]`)
	_ = c.nextJSON() // tracker 6's current state
	if _, out := e.call("GET", "/publisher/users", "", ""); len(out["users"].([]any)) != 3 {
		t.Fatalf("users %v", out)
	}
	if code, _ := e.call("DELETE", "/publisher/users/carol", "", ""); code != 200 {
		t.Fatalf("delete: %d", code)
	}
	if ev := c.nextJSON(); ev["event"] != "logout" {
		t.Fatalf("got %v", ev)
	}
	c.send(`{"action":"subscribe","hash":"` + key + `","requests":[{"type":"state","trackers":[6]}]}`)
	if m := c.nextJSON(); apiCode(m) != 4 {
		t.Fatalf("got %v", m)
	}
	for _, tt := range []struct{ method, path, body string }{
		{"DELETE", "/publisher/users/carol", ""},
		{"DELETE", "/publisher/api_keys/" + sha256Hex("none"), ""},
		{"POST", "/publisher/api_keys", `{"login":"nobody"}`},
	} {
		if code, out := e.call(tt.method, tt.path, "application/json", tt.body); code != 404 || apiCode(out) != 204 {
			t.Errorf("%s %s: %d %v", tt.method, tt.path, code, out)
		}
	}
	if _, out := e.call("PUT", "/publisher/users/dave", "application/json", `{"trackers":[1]}`); apiCode(out) != 7 {
		t.Errorf("a user without a password: %v", out)
	}
	if _, out := e.call("PUT", "/publisher/users/dave", "application/json", `{"password_hash":"plain"}`); apiCode(out) != 7 {
		t.Errorf("a password_hash that is not bcrypt: %v", out)
	}
}

// TestPublisherBatchAllOrNothing: a batch with a bad item publishes
// nothing, so that it can be fixed and sent again without duplicates.
func TestPublisherBatchAllOrNothing(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial("")
	hash := e.login("alice", alicePassword)
	if m := c.subscribe(hash, `[{"type":"state","trackers":[1,2]}]`); m["type"] != "response" {
		t.Fatalf("subscribe %v", m)
	}
	for _, tt := range []struct{ path, body string }{
		{"state", `[` + stateBody(1, 1) + `,{"tracker_id":2,"data":[1]}]`},
		{"readings", `[{"tracker_id":1,"data":{"inputs":[]}},{"tracker_id":2}]`},
		{"iot", `[{"tracker_id":1,"fields":{"a":1}},{"tracker_id":2,"fields":[1]}]`},
		{"lifecycle", `[{"tracker_id":1,"event":"block"},{"tracker_id":2,"event":"explode"}]`},
	} {
		if code, out := e.call("POST", "/publisher/"+tt.path, "application/json", tt.body); code == 200 || out["success"] != false {
			t.Fatalf("%s: %d %v", tt.path, code, out)
		}
		if td, ok := e.d.store.get(1); ok {
			t.Fatalf("%s: tracker 1 was published: %+v", tt.path, td)
		}
	}
	c.quiet() // no event reached the subscriber
}

// TestIoTValuesTrimmed: once a tracker's IoT values would pass the bound,
// the oldest are dropped and publishing goes on.
func TestIoTValuesTrimmed(t *testing.T) {
	e := newEnv(t, nil)
	big := strings.Repeat("v", 8000)
	for i := range 60 {
		body := toJSON(map[string]any{"tracker_id": 1, "msg_time": "2024-05-17T10:" + fmt.Sprintf("%02d", i) + ":00Z",
			"fields": map[string]any{"f" + strconv.Itoa(i%20): big, "n": i}})
		e.publish("iot", body)
	}
	td, _ := e.d.store.get(1)
	if td.iot == nil || len(td.iot.data) > maxIoTEntry {
		t.Fatalf("IoT entry of %d bytes, bound %d", len(td.iot.data), maxIoTEntry)
	}
	var got iotEntry
	if err := json.Unmarshal(td.iot.data, &got); err != nil {
		t.Fatal(err)
	}
	// The newest values are kept, the oldest gone.
	if n := got.All["n"]; len(n) == 0 || string(n[0].Value) != "59" || n[0].MsgTime != "2024-05-17T10:59:00Z" {
		t.Fatalf("newest n: %+v", n)
	}
	if f := got.NonNull["f19"]; len(f) == 0 || f[0].MsgTime != "2024-05-17T10:59:00Z" {
		t.Fatalf("newest f19: %+v", f)
	}
	for _, q := range []map[string][]iotValue{got.All, got.NonNull} {
		for name, vals := range q {
			for _, v := range vals {
				if v.MsgTime < "2024-05-17T10:30:00Z" && string(v.Value) != "null" && len(v.Value) > 100 {
					t.Fatalf("%s kept an old big value of %s", name, v.MsgTime)
				}
			}
		}
	}
	// Fields larger than one item may be are refused outright.
	if _, out := e.call("POST", "/publisher/iot", "application/json",
		toJSON(map[string]any{"tracker_id": 1, "fields": map[string]any{"x": strings.Repeat("y", maxPublishData)}})); apiCode(out) != int(CodeTooLarge) {
		t.Fatalf("oversized fields: %v", out)
	}
}

// TestBlockedSurvivesEviction: a blocked tracker evicted from the
// last-state store stays blocked; blocks beyond the bound are refused.
func TestBlockedSurvivesEviction(t *testing.T) {
	e := newEnv(t, func(c *config.Atmosphere) { c.MaxLastStates = 2 })
	e.publish("state", stateBody(1, 1))
	e.publish("lifecycle", `{"tracker_id":1,"event":"block"}`)
	e.publish("state", `[`+stateBody(2, 1)+`,`+stateBody(3, 1)+`]`) // evicts 1
	if td, ok := e.d.store.get(1); !ok || td.state != nil || !td.blocked {
		t.Fatalf("tracker 1 after eviction: %+v %v", td, ok)
	}
	c := e.dial("")
	m := c.subscribe(e.login("alice", alicePassword), `[{"type":"state","trackers":[1]}]`)
	if get(m, "data", "state", "value", "1") != "blocked" {
		t.Fatalf("subscribe %v", m)
	}
	if _, out := e.call("GET", "/publisher/trackers/1", "", ""); out["blocked"] != true {
		t.Fatalf("tracker 1: %v", out)
	}
	e.publish("lifecycle", `{"tracker_id":2,"event":"block"}`)
	if code, out := e.call("POST", "/publisher/lifecycle", "application/json", `{"tracker_id":3,"event":"block"}`); code == 200 || apiCode(out) != int(CodeTooLarge) {
		t.Fatalf("a third block: %d %v", code, out)
	}
	e.publish("lifecycle", `{"tracker_id":1,"event":"block"}`) // already blocked: no room needed
	e.publish("lifecycle", `{"tracker_id":1,"event":"unblock"}`)
	e.publish("lifecycle", `{"tracker_id":3,"event":"block"}`)
	if e.d.store.blocked(1) || !e.d.store.blocked(3) {
		t.Fatal("unblock did not free the place")
	}
}

// TestLoopbackChecks: without a key the publisher API refuses what the
// token broker refuses: cross-site pages named in Referer or flagged by
// Sec-Fetch-Site; and the startup log warns about reverse proxies.
func TestLoopbackChecks(t *testing.T) {
	for _, tt := range []struct {
		name   string
		header http.Header
		local  bool
	}{
		{"plain", nil, true},
		{"cross-site image", http.Header{"Referer": {"https://evil.example/page"}}, false},
		{"cross-site, no referrer", http.Header{"Sec-Fetch-Site": {"cross-site"}}, false},
		{"local page", http.Header{"Referer": {"http://localhost:3000/"}, "Sec-Fetch-Site": {"same-site"}}, true},
		{"typed in the address bar", http.Header{"Sec-Fetch-Site": {"none"}}, true},
		{"X-Real-IP", http.Header{"X-Real-Ip": {"203.0.113.9"}}, false},
	} {
		r := httptest.NewRequest("POST", "http://localhost:8000/publisher/state", nil)
		r.RemoteAddr = "127.0.0.1:5000"
		for k, v := range tt.header {
			r.Header[k] = v
		}
		if got := localreq.Is(r); got != tt.local {
			t.Errorf("%s: local %v, want %v", tt.name, got, tt.local)
		}
	}
	var logs strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	for _, key := range []string{"", "pub-key"} {
		cfg := testConfig()
		cfg.PublisherAPIKey = key
		h, err := hub.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Close() })
		d, err := New(cfg, dialect.Deps{Hub: h, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	l := logs.String()
	mu.Unlock()
	if strings.Count(l, "level=WARN") != 1 || !strings.Contains(l, "docs/atmosphere.md#publisher-api") || !strings.Contains(l, "publisher_api_key") || strings.Contains(l, "pub-key") {
		t.Fatalf("startup log: %s", l)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
