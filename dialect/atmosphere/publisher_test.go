package atmosphere

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
	if isLocal(r) {
		t.Error("192.0.2.1 counted as local")
	}
	r.RemoteAddr, r.Host = "127.0.0.1:1234", "example.com"
	if isLocal(r) {
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
