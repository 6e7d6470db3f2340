package atmosphere

import (
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/config"
)

// TestErrorFrames checks every error of the spec's table (§2.6) on a live
// connection: the code, the action, and that the connection stays open.
func TestErrorFrames(t *testing.T) {
	e := newEnv(t, func(c *config.Atmosphere) { c.MaxActionsPerSecond = 1000 })
	hash := e.login("alice", alicePassword)
	other := strings.Repeat("a", 32)
	for _, tt := range []struct {
		name, msg  string
		code       Code
		action     any // the frame's action: nil or "subscription/..."
		wantInData string
	}{
		{"not JSON", "hello", CodeWrongFormat, nil, ""},
		{"not an object", `[1]`, CodeWrongFormat, nil, ""},
		{"no action", `{"hash":"` + hash + `"}`, CodeWrongFormat, nil, ""},
		{"unknown action", `{"action":"ping","hash":"` + hash + `"}`, CodeWrongFormat, "subscription/ping", ""},
		{"missing hash", `{"action":"subscribe","requests":[{"type":"state","trackers":[1]}]}`, CodeWrongHash, "subscription/subscribe", ""},
		{"malformed hash", `{"action":"subscribe","hash":"xyz","events":["state"],"trackers":[15564]}`, CodeWrongHash, "subscription/subscribe", "15564"},
		{"unknown hash", `{"action":"subscribe","hash":"` + other + `","requests":[{"type":"state","trackers":[1]}]}`, CodeSessionNotFound, "subscription/subscribe", ""},
		{"unknown hash, unsubscribe", `{"action":"unsubscribe","hash":"` + other + `","requests":[{"type":"state","trackers":[1]}]}`, CodeSessionNotFound, "subscription/unsubscribe", ""},
		{"bad parameters", `{"action":"subscribe","hash":"` + hash + `","requests":[{"type":"state_batch","target":{"type":"all"},"rate_limit":"soon"}]}`, CodeInvalidParameters, "subscription/subscribe", "rate_limit"},
		{"iot all over 10", `{"action":"subscribe","hash":"` + hash + `","requests":[{"type":"iot_monitor","target":{"type":"all"}}]}`, CodeInvalidParameters, "subscription/subscribe", "iot_monitor"},
		{"too large", `{"action":"subscribe","hash":"` + hash + `","pad":"` + strings.Repeat("p", 70000) + `"}`, CodeTooLarge, nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := e.dial("")
			c.send(tt.msg)
			m := c.nextJSON()
			if m["type"] != "error" || apiCode(m) != int(tt.code) || m["action"] != tt.action {
				t.Fatalf("got %v, want code %d action %v", m, tt.code, tt.action)
			}
			if desc := get(m, "status", "description"); desc != tt.code.Description() {
				t.Errorf("description %v", desc)
			}
			if tt.wantInData != "" && !strings.Contains(strings.ReplaceAll(toJSON(m["data"]), `\"`, `"`), tt.wantInData) {
				t.Errorf("data %v does not mention %q", m["data"], tt.wantInData)
			}
			// The connection is still usable.
			if r := c.subscribe(hash, `[{"type":"state","trackers":[1]}]`); r["type"] != "response" {
				t.Fatalf("after the error: %v", r)
			}
		})
	}
}

func TestRateLimitError(t *testing.T) {
	e := newEnv(t, nil) // 20 actions per second
	hash := e.login("alice", alicePassword)
	c := e.dial("")
	msg := `{"action":"subscribe","hash":"` + hash + `","requests":[{"type":"state","trackers":[1]}]}`
	for i := range 20 {
		c.send(msg)
		if m := c.nextJSON(); m["type"] != "response" {
			t.Fatalf("action %d: %v", i, m)
		}
	}
	c.send(msg)
	if m := c.nextJSON(); apiCode(m) != int(CodeTooManyRequests) || m["action"] != nil {
		t.Fatalf("21st action: %v", m)
	}
	// Heartbeats do not count; time refills the bucket.
	c.send("X")
	e.clock.advance(100 * time.Millisecond) // two actions' worth
	c.send(msg)
	if m := c.nextJSON(); m["type"] != "response" {
		t.Fatalf("after refill: %v", m)
	}
}

func TestUnexpectedError(t *testing.T) {
	e := newEnv(t, nil)
	hash := e.login("alice", alicePassword)
	c := e.dial("")
	_ = e.hub.Close() // the hub refuses subscriptions from now on
	c.send(`{"action":"subscribe","hash":"` + hash + `","requests":[{"type":"state","trackers":[1]}]}`)
	if m := c.nextJSON(); apiCode(m) != int(CodeUnexpected) || m["action"] != "subscription/subscribe" {
		t.Fatalf("got %v", m)
	}
	// Unknown trackers need no hub subscription: still a response.
	c.send(`{"action":"subscribe","hash":"` + hash + `","requests":[{"type":"state","trackers":[99]}]}`)
	if m := c.nextJSON(); m["type"] != "response" {
		t.Fatalf("got %v", m)
	}
}

func TestErrorFrameShape(t *testing.T) {
	got := string(errorFrame("subscribe", apiErr(CodeWrongHash, &legacyData{Events: []string{"state"}, Trackers: []int64{15564}})))
	want := `{"type":"error","action":"subscription/subscribe","status":{"code":3,"description":"Wrong hash"},"data":{"events":["state"],"trackers":[15564]}}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := string(errorFrame("", apiErr(CodeWrongFormat, nil))); got != `{"type":"error","action":null,"status":{"code":5,"description":"Wrong request format"}}` {
		t.Errorf("got %s", got)
	}
}
