package pusher

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/ws"
)

func TestConnectionEstablished(t *testing.T) {
	e := newEnv(t)
	c := e.connect("key1")
	if _, ok := parseSocketID(c.socketID); !ok {
		t.Fatalf("socket id %q", c.socketID)
	}
	c2 := e.connect("key1")
	if c2.socketID == c.socketID {
		t.Errorf("two connections share socket id %s", c.socketID)
	}
	// pusher:ping from the client is answered with pusher:pong.
	c.quiet()
}

// Each refusal is accepted as a WebSocket, answered with pusher:error
// carrying the code, and closed with that code (pusher-js acts on it).
func TestCloseCodes(t *testing.T) {
	disabled := testApp()
	disabled.ID, disabled.Key, disabled.Enabled = "app2", "key2", false
	full := testApp()
	full.ID, full.Key, full.MaxConnections = "app3", "key3", 1
	e := newEnv(t, testApp(), disabled, full)
	e.connect("key3") // takes the one connection app3 allows

	for _, tt := range []struct {
		name, path string
		code       Code
	}{
		{"unknown app", "/app/nope?protocol=7", CodeAppNotFound},
		{"disabled app", "/app/key2?protocol=7", CodeAppDisabled},
		{"over quota", "/app/key3?protocol=7", CodeOverQuota},
		{"bad path", "/app/key1/extra?protocol=7", CodePathNotFound},
		{"invalid version", "/app/key1?protocol=seven", CodeInvalidVersion},
		{"unsupported protocol", "/app/key1?protocol=4", CodeUnsupportedProtocol},
		{"future protocol", "/app/key1?protocol=8", CodeUnsupportedProtocol},
		{"no protocol", "/app/key1", CodeNoProtocol},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := e.dial(tt.path).in(t)
			ev := c.expect("pusher:error")
			var d struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			c.data(ev, &d)
			if d.Code != int(tt.code) || d.Message == "" {
				t.Errorf("pusher:error data %+v, want code %d", d, tt.code)
			}
			c.closedWith(int(tt.code))
		})
	}
	// The refused connections did not count against app3's quota.
	if n := e.d.apps().byKey["key3"].conns.Load(); n != 1 {
		t.Errorf("app3 has %d connections, want 1", n)
	}
}

func TestAcceptsProtocols5To7(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"5", "6", "7"} {
		c := e.dial("/app/key1?protocol=" + p)
		c.expect("pusher:connection_established")
	}
}

func TestInvalidMessagesKeepTheConnection(t *testing.T) {
	e := newEnv(t)
	c := e.connect("key1")
	for _, msg := range []string{`not json`, `{"data":{}}`, `{"event":"pusher:unknown"}`} {
		c.sendRaw([]byte(msg))
		ev := c.expect("pusher:error")
		var d errorData
		c.data(ev, &d)
		if d.Code != nil || d.Message == "" {
			t.Errorf("%s: error data %+v, want code null and a message", msg, d)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := c.c.Write(ctx, websocket.MessageBinary, []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	c.expect("pusher:error")
	c.quiet()
}

// The server pings a silent connection after activity_timeout and closes it
// with 4201 when no pong comes within pong_timeout; any message counts as
// the answer.
func TestActivityTimeout(t *testing.T) {
	a := testApp()
	a.ActivityTimeout = config.Duration(200 * time.Millisecond)
	a.PongTimeout = config.Duration(200 * time.Millisecond)
	e := newEnv(t, a)

	alive := e.connect("key1")
	for range 3 { // answered pings keep the connection open
		alive.expect("pusher:ping")
		alive.send(map[string]any{"event": "pusher:pong", "data": map[string]any{}})
	}

	silent := e.connect("key1")
	silent.expect("pusher:ping")
	silent.closedWith(int(CodePongTimeout))
}

func TestActivityTimeoutAnnounced(t *testing.T) {
	a := testApp()
	a.ActivityTimeout = config.Duration(45 * time.Second)
	e := newEnv(t, a)
	c := e.dial("/app/key1?protocol=7")
	ev := c.expect("pusher:connection_established")
	var d struct {
		ActivityTimeout int `json:"activity_timeout"`
	}
	c.data(ev, &d)
	if d.ActivityTimeout != 45 {
		t.Errorf("activity_timeout = %d, want 45", d.ActivityTimeout)
	}
}

func TestShutdownSends4200(t *testing.T) {
	e := newEnv(t)
	c := e.connect("key1")
	c.join("secret1", "key1", "presence-room", "u1")
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := e.d.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	c.closedWith(int(CodeReconnect))
	// Closing left the presence channel and the hub.
	if n := e.hub.SubscriberCount("pusher/app1/presence-room"); n != 0 {
		t.Errorf("%d subscribers left after shutdown", n)
	}
	if ms, _ := e.hub.Members(ctx, "pusher/app1/presence-room"); len(ms) != 0 {
		t.Errorf("members left after shutdown: %v", ms)
	}
}

// A connection whose send queue overflows is closed with 4100 (over
// capacity: reconnect with back-off).
func TestSlowConsumerGets4100(t *testing.T) {
	e := newEnvWith(t, ws.Options{SendQueue: 4, WriteTimeout: time.Minute}, testApp())
	d := e.d

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/app/key1?protocol=7", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	read := func() Event {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ev Event
		_ = json.Unmarshal(b, &ev)
		return ev
	}
	read() // connection_established
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"event":"pusher:subscribe","data":{"channel":"news"}}`)); err != nil {
		t.Fatal(err)
	}
	if ev := read(); ev.Event != "pusher_internal:subscription_succeeded" {
		t.Fatalf("got %+v", ev)
	}
	// Stop reading and publish until the queue overflows.
	big := encodeEvent("big", "news", strings.Repeat("x", 64<<10), "")
	a := d.apps().byKey["key1"]
	for i := 0; d.Stats().Overflows == 0; i++ {
		if i > 10000 {
			t.Fatal("the send queue never overflowed")
		}
		_ = d.publish(a, "news", big, 0)
	}
	for {
		_, _, err := c.Read(ctx)
		if err != nil {
			if got := websocket.CloseStatus(err); got != websocket.StatusCode(CodeOverCapacity) {
				t.Fatalf("closed with %v (%v), want 4100", got, err)
			}
			return
		}
	}
}

// Any origin may connect unless the app lists allowed_origins; a refused
// origin gets HTTP 403 before the upgrade.
func TestAllowedOrigins(t *testing.T) {
	open := testApp()
	strict := testApp()
	strict.ID, strict.Key, strict.AllowedOrigins = "app2", "key2", []string{"https://app.example.com"}
	e := newEnv(t, open, strict)
	for _, tt := range []struct {
		key, origin string
		ok          bool
	}{
		{"key1", "https://anywhere.example", true},
		{"key2", "https://app.example.com", true},
		{"key2", "https://APP.example.com/", true},
		{"key2", "https://evil.example", false},
		{"key2", "", true}, // not a browser
	} {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		h := http.Header{}
		if tt.origin != "" {
			h.Set("Origin", tt.origin)
		}
		c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/app/"+tt.key+"?protocol=7", &websocket.DialOptions{HTTPHeader: h})
		cancel()
		if tt.ok {
			if err != nil {
				t.Errorf("%s from %q: %v", tt.key, tt.origin, err)
				continue
			}
			_ = c.CloseNow()
		} else if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s from %q: want 403, got %v", tt.key, tt.origin, err)
			if c != nil {
				_ = c.CloseNow()
			}
		}
	}
}
