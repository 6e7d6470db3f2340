package atmosphere

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestWebSocketHandshake(t *testing.T) {
	e := newEnv(t, nil)
	for _, tt := range []struct {
		name, query string
		want        string // a regexp-free check: "" for no handshake
	}{
		{"protocol", "X-atmo-protocol=true", "plain"},
		{"protocol and track size", "X-atmo-protocol=true&X-Atmosphere-TrackMessageSize=true", "framed"},
		{"no protocol (atmosphere.js 5 default)", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := e.dial(tt.query)
			hash := e.login("alice", alicePassword)
			switch tt.want {
			case "plain":
				f := strings.Split(c.raw(), "|")
				if len(f) != 4 || len(f[0]) != 36 || f[1] != "30000" || f[2] != "X" || f[3] != "" {
					t.Fatalf("handshake fields %q", f)
				}
			case "framed":
				f := strings.Split(c.raw(), "|")
				if len(f) != 5 || f[0] != "45" || len(f[1]) != 36 || f[2] != "30000" || f[3] != "X" {
					t.Fatalf("framed handshake fields %q", f)
				}
			}
			// Whatever the handshake, the first application frame follows.
			resp := c.subscribe(hash, `[{"type":"state","trackers":[1]}]`)
			if resp["type"] != "response" {
				t.Fatalf("got %v", resp)
			}
		})
	}
	t.Run("reconnect", func(t *testing.T) {
		c := e.dial("X-atmo-protocol=true")
		uuid := strings.Split(c.raw(), "|")[0]
		_ = c.conn.Close(websocket.StatusNormalClosure, "")
		// A client coming back with its tracking id gets no handshake.
		c2 := e.dial("X-atmo-protocol=true")
		_ = c2.raw()
		c3 := e.dialRaw("X-Atmosphere-tracking-id=" + uuid + "&X-atmo-protocol=true")
		c3.send("X")
		c3.send(`{"action":"subscribe","hash":"` + e.login("alice", alicePassword) + `","requests":[{"type":"state","trackers":[1]}]}`)
		if m := c3.nextJSON(); m["type"] != "response" {
			t.Fatalf("first frame after reconnect: %v", m)
		}
	})
}

// dialRaw dials with a full Atmosphere query of the caller's.
func (e *env) dialRaw(query string) *wsClient {
	e.t.Helper()
	u := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/event/subscription/?X-Atmosphere-Transport=websocket&" + query
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	e.t.Cleanup(func() { _ = conn.CloseNow() })
	return &wsClient{t: e.t, conn: conn}
}

func TestWebSocketStateFlow(t *testing.T) {
	e := newEnv(t, nil)
	e.publish("state", stateBody(1, 10))
	hash := e.login("alice", alicePassword)
	c := e.dial("X-atmo-protocol=true")
	_ = c.raw() // handshake

	resp := c.subscribe(hash, `[{"type":"state","trackers":[1,2,4,99]}]`)
	if resp["action"] != "subscription/subscribe" || get(resp, "events").([]any)[0] != "state" || get(resp, "data", "state", "success") != true {
		t.Fatalf("response %v", resp)
	}
	want := map[string]any{"1": "normal", "2": "normal", "4": "unknown", "99": "unknown"}
	for id, st := range want {
		if got := get(resp, "data", "state", "value", id); got != st {
			t.Errorf("tracker %s: %v, want %v", id, got, st)
		}
	}
	// The current state follows the response at once; tracker 2 has none yet.
	ev := c.nextJSON()
	if ev["event"] != "state" || get(ev, "data", "source_id") != 1001.0 || get(ev, "data", "gps", "speed") != 10.0 || ev["user_time"] != "2024-05-17 10:00:00" {
		t.Fatalf("initial state %v", ev)
	}
	// A change is delivered; the lifecycle comes with it automatically.
	e.publish("state", stateBody(2, 20))
	if ev := c.nextJSON(); get(ev, "data", "source_id") != 1002.0 {
		t.Fatalf("change %v", ev)
	}
	e.publish("lifecycle", `{"tracker_id":1,"event":"block"}`)
	if ev := c.nextJSON(); ev["event"] != "lifecycle" || get(ev, "data", "lifecycle_event") != "block" || get(ev, "data", "source_id") != 1001.0 {
		t.Fatalf("lifecycle %v", ev)
	}
	// A blocked tracker's states are kept, not sent; unblocking sends the
	// current one.
	e.publish("state", stateBody(1, 11))
	c.quiet()
	e.publish("lifecycle", `{"tracker_id":1,"event":"unblock"}`)
	if ev := c.nextJSON(); get(ev, "data", "lifecycle_event") != "unblock" {
		t.Fatalf("unblock %v", ev)
	}
	if ev := c.nextJSON(); ev["event"] != "state" || get(ev, "data", "gps", "speed") != 11.0 {
		t.Fatalf("state after unblock %v", ev)
	}
	// Unsubscribing stops delivery.
	c.send(`{"action":"unsubscribe","hash":"` + hash + `","events":["state"],"trackers":[1]}`)
	resp = c.nextJSON()
	if resp["action"] != "subscription/unsubscribe" || len(resp["data"].([]any)) != 1 || resp["data"].([]any)[0] != 1.0 {
		t.Fatalf("unsubscribe response %v", resp)
	}
	e.publish("state", stateBody(1, 12))
	c.quiet()
	e.publish("state", stateBody(2, 21))
	if ev := c.nextJSON(); get(ev, "data", "gps", "speed") != 21.0 {
		t.Fatalf("tracker 2 stopped too: %v", ev)
	}
}

func TestWebSocketBlockedAtSubscribe(t *testing.T) {
	e := newEnv(t, nil)
	e.publish("state", stateBody(3, 1))
	e.publish("lifecycle", `{"tracker_id":3,"event":"block"}`)
	c := e.dial("")
	resp := c.subscribe(testKey, `[{"type":"state","trackers":[1,3]},{"type":"state_batch","target":{"type":"all"}}]`)
	// The API key is limited to trackers 1 and 2 of alice.
	if get(resp, "data", "state", "value", "1") != "normal" || get(resp, "data", "state", "value", "3") != "disallowed" {
		t.Fatalf("response %v", resp)
	}
	if v := get(resp, "data", "state_batch", "value").(map[string]any); len(v) != 15 || v["2"] != "normal" || v["3"] != "disallowed" {
		t.Fatalf("target all lists every tracker of the user: %v", v)
	}
	c.quiet() // tracker 1 has no state yet; 3 is not this key's
	c2 := e.dial("")
	resp = c2.subscribe(e.login("alice", alicePassword), `[{"type":"state","trackers":[3]}]`)
	if get(resp, "data", "state", "value", "3") != "blocked" {
		t.Fatalf("response %v", resp)
	}
	c2.quiet() // no state for a blocked tracker
	e.publish("lifecycle", `{"tracker_id":3,"event":"unblock"}`)
	if ev := c2.nextJSON(); ev["event"] != "lifecycle" {
		t.Fatalf("got %v", ev)
	}
	if ev := c2.nextJSON(); ev["event"] != "state" {
		t.Fatalf("no state after unblock: %v", ev)
	}
}

func TestWebSocketCompactAndTrackSize(t *testing.T) {
	e := newEnv(t, nil)
	e.publish("state", `{"tracker_id":1,"data":{"source_id":7,"gps":{"speed":1},"gsm":null,"last_update":"x","name":"🚗|car"}}`)
	hash := e.login("alice", alicePassword)
	full := e.dial("X-Atmosphere-TrackMessageSize=true")
	compact := e.dial("X-Atmosphere-TrackMessageSize=true")
	full.subscribe(hash, `[{"type":"state","trackers":[1]}]`)
	compact.subscribe(hash, `[{"type":"state","trackers":[1]}, {"type":"state","trackers":[2],"format":"compact"}]`)
	if ev := full.nextJSON(); get(ev, "data", "name") != "🚗|car" || get(ev, "data", "gsm") != nil {
		t.Fatalf("full %v", ev)
	}
	// The newest format applies to the whole type.
	ev := compact.nextJSON()
	d := ev["data"].(map[string]any)
	if len(d) != 3 || d["source_id"] != 7.0 || d["last_update"] != "x" || d["gps"] == nil {
		t.Fatalf("compact %v", ev)
	}
	// Both variants come from one publish.
	e.publish("state", `{"tracker_id":1,"data":{"source_id":7,"name":"😀😀"}}`)
	if ev := full.nextJSON(); get(ev, "data", "name") != "😀😀" {
		t.Fatalf("full %v", ev)
	}
	if ev := compact.nextJSON(); len(ev["data"].(map[string]any)) != 1 {
		t.Fatalf("compact %v", ev)
	}
}

func TestServerHeartbeat(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial("X-atmo-protocol=true&X-Atmosphere-TrackMessageSize=true")
	_ = c.raw()
	hash := e.login("alice", alicePassword)
	// The client's heartbeat is swallowed: no error, no answer.
	c.send("X")
	c.send(" X\n")
	c.quiet()
	// After 60 s without output the server sends its own, length-prefixed,
	// once.
	e.tick(59 * time.Second)
	e.tick(time.Second)
	if got := c.raw(); got != "1|X" {
		t.Fatalf("heartbeat %q", got)
	}
	c.quiet()
	// Any output starts the period again.
	c.subscribe(hash, `[{"type":"state","trackers":[1]}]`)
	e.tick(59 * time.Second)
	e.tick(time.Second)
	if got := c.raw(); got != "1|X" {
		t.Fatalf("heartbeat %q", got)
	}
	c.quiet()
	// X-Heartbeat-Server=0 turns it off for one client.
	off := e.dial("X-Heartbeat-Server=0")
	e.tick(10 * time.Minute)
	off.quiet()
}

func TestIdleWebSocketClosed(t *testing.T) {
	e := newEnv(t, nil)
	silent := e.dial("X-atmo-protocol=true")
	_ = silent.raw()
	noProtocol := e.dial("") // was never told to send heartbeats
	e.tick(89 * time.Second)
	e.tick(time.Second) // 3 x the announced 30 s
	if code := silent.closeStatus(); code != websocket.StatusGoingAway {
		t.Fatalf("silent client closed with %d", code)
	}
	// A client that sends its heartbeat stays.
	active := e.dial("X-atmo-protocol=true")
	_ = active.raw()
	for range 4 {
		e.tick(60 * time.Second)
		active.send("X")
		active.send(`{"action":"probe"}`) // its answer tells that X was read
		if m := active.nextSkipX(); m["action"] != "subscription/probe" {
			t.Fatalf("got %v", m)
		}
	}
	noProtocol.send(`{"action":"probe"}`)
	if m := noProtocol.nextSkipX(); m["action"] != "subscription/probe" {
		t.Fatalf("got %v", m)
	}
	e.tick(90 * time.Second)
	if code := active.closeStatus(); code != websocket.StatusGoingAway {
		t.Fatalf("closed with %d", code)
	}
}

func TestWebSocketCloseNotice(t *testing.T) {
	e := newEnv(t, nil)
	e.publish("state", stateBody(1, 1))
	c := e.dial("X-atmo-protocol=true")
	uuid := strings.Split(c.raw(), "|")[0]
	c.subscribe(e.login("alice", alicePassword), `[{"type":"state","trackers":[1]}]`)
	_ = c.nextJSON()
	code, _ := e.call("GET", "/event/subscription?X-Atmosphere-Transport=close&X-Atmosphere-tracking-id="+uuid, "", "")
	if code != 200 {
		t.Fatalf("close notice: %d", code)
	}
	e.publish("state", stateBody(1, 2))
	c.quiet()
	if n := e.hub.SubscriberCount(channelName(chState, 1)); n != 0 {
		t.Errorf("%d subscribers left on the state channel", n)
	}
}

func TestSlowWebSocketClosedWith1013(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial("")
	c.subscribe(e.login("alice", alicePassword), `[{"type":"state","trackers":[1]}]`)
	// The client reads nothing while far more than its send queue (and the
	// socket buffers) is published; the server must close it with 1013,
	// not block and not drop messages silently.
	payload := stateEvent("2024-05-17 10:00:00", []byte(`{"source_id":1,"pad":"`+strings.Repeat("x", 4000)+`"}`))
	for i := 0; e.d.Stats().Overflows == 0; i++ {
		if i == 100_000 {
			t.Fatal("no overflow")
		}
		if err := e.hub.Publish(context.Background(), channelName(chState, 1), payload, 0); err != nil {
			t.Fatal(err)
		}
	}
	if code := c.closeStatus(); code != websocket.StatusTryAgainLater {
		t.Fatalf("closed with %d, want 1013", code)
	}
	if e.hub.Stats().SlowConsumers == 0 {
		t.Error("the hub did not count the slow consumer")
	}
}
