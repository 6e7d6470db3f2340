package atmosphere

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"

	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/internal/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeClock is the injected clock of the tests: time moves only when a
// test says so.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2024, 5, 17, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// Test users: alice has trackers 1, 2, 3 and 11-22; bob has 4.
const (
	alicePassword = "alice-secret"
	bobPassword   = "bob-secret"
	// testKey is an API key of alice limited to trackers 1 and 2.
	testKey = "0123456789abcdef0123456789abcdef"
)

var testHashes = sync.OnceValue(func() [2]string {
	a, _ := bcrypt.GenerateFromPassword([]byte(alicePassword), bcrypt.MinCost)
	b, _ := bcrypt.GenerateFromPassword([]byte(bobPassword), bcrypt.MinCost)
	return [2]string{string(a), string(b)}
})

func testConfig() config.Atmosphere {
	cfg := config.Default().Atmosphere
	h := testHashes()
	cfg.Users = []config.AtmosphereUser{
		{Login: "alice", PasswordHash: h[0], Trackers: []int64{1, 2, 3, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22}},
		{Login: "bob", PasswordHash: h[1], Trackers: []int64{4}},
	}
	cfg.APIKeys = []config.AtmosphereAPIKey{{KeySHA256: sha256Hex(testKey), Login: "alice", Trackers: []int64{1, 2}}}
	return cfg
}

// env is a dialect on an httptest server with a real hub and a fake clock;
// its ticker does not run: tests call tick, which also waits for the ws
// server's sweeper to apply the keep-alive at the new time.
type env struct {
	t     *testing.T
	d     *Dialect
	hub   *hub.Hub
	clock *fakeClock
	srv   *httptest.Server
}

func newEnv(t *testing.T, change func(*config.Atmosphere)) *env {
	t.Helper()
	return newNodeEnv(t, nil, newFakeClock(), nil, change)
}

// serve mounts d, on hub h, on an httptest server; the test's cleanup
// shuts it all down.
func serve(t *testing.T, d *Dialect, h *hub.Hub, clock *fakeClock) *env {
	t.Helper()
	d.ws.SetTickInterval(sweepEvery)
	e := &env{t: t, d: d, hub: h, clock: clock, srv: httptest.NewServer(d.Handler())}
	t.Cleanup(func() {
		testutil.Shutdown(t, d.Shutdown)
		e.srv.Close()
		_ = h.Close()
	})
	return e
}

// sweepEvery is the ws sweeper's interval in tests: the time tick waits.
const sweepEvery = 5 * time.Millisecond

// tick advances the clock by dt and runs the dialect's periodic work: its
// tick, then a whole sweep of the ws server's sweeper, which runs the
// WebSocket clients' keep-alive at the new time.
func (e *env) tick(dt time.Duration) {
	e.t.Helper()
	e.d.tick(e.clock.advance(dt))
	e.sweep()
}

// sweep waits until the ws server's sweeper has run every open
// connection's OnTick once after the call. The server clock (ws
// Server.Now) changes as each sweep begins: a sweep that began after the
// call is whole once the next one begins. Without a connection there is
// nothing to wait for (the sweeper may not even have started).
func (e *env) sweep() {
	e.t.Helper()
	if e.d.ws.Stats().Connections == 0 {
		return
	}
	last, began := e.d.ws.Now(), 0
	testutil.WaitFor(e.t, "a sweep of the ws server", 5*time.Second, func() bool {
		if now := e.d.ws.Now(); now != last {
			last, began = now, began+1
		}
		return began == 2
	})
}

// call makes an HTTP request and decodes the JSON answer.
func (e *env) call(method, path, contentType, body string) (int, map[string]any) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			e.t.Fatalf("%s %s: not JSON: %q", method, path, b)
		}
	}
	return resp.StatusCode, out
}

// login returns a session hash for a user.
func (e *env) login(login, password string) string {
	e.t.Helper()
	code, out := e.call("POST", "/user/auth", "application/json", `{"login":"`+login+`","password":"`+password+`"}`)
	if code != 200 || out["hash"] == nil {
		e.t.Fatalf("user/auth %s: %d %v", login, code, out)
	}
	return out["hash"].(string)
}

// publish calls the publisher API and checks that it succeeded.
func (e *env) publish(what, body string) {
	e.t.Helper()
	code, out := e.call("POST", "/publisher/"+what, "application/json", body)
	if code != 200 || out["success"] != true {
		e.t.Fatalf("publish %s %s: %d %v", what, body, code, out)
	}
}

// apiCode returns the error code of an API answer, or 0.
func apiCode(out map[string]any) int {
	st, _ := out["status"].(map[string]any)
	if st == nil {
		return 0
	}
	n, _ := st["code"].(float64)
	return int(n)
}

// wsClient is a real WebSocket client of the subscription endpoint.
type wsClient struct {
	t       *testing.T
	conn    *websocket.Conn
	tml     bool
	pending []string // messages read but not yet returned (trackMessageLength)
	partial string
}

// dial opens the subscription endpoint with the Atmosphere query query
// (e.g. "X-atmo-protocol=true").
func (e *env) dial(query string) *wsClient {
	e.t.Helper()
	u := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/event/subscription?X-Atmosphere-tracking-id=0&X-Atmosphere-Framework=2.3.6-javascript&X-Atmosphere-Transport=websocket&Content-Type=application/json"
	if query != "" {
		u += "&" + query
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	conn.SetReadLimit(16 << 20)
	q, _ := url.ParseQuery(query)
	c := &wsClient{t: e.t, conn: conn, tml: q.Get("X-Atmosphere-TrackMessageSize") == "true"}
	e.t.Cleanup(func() { _ = conn.CloseNow() })
	return c
}

// raw returns the next text frame as it arrived.
func (c *wsClient) raw() string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	typ, b, err := c.conn.Read(ctx)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageText {
		c.t.Fatalf("read a %v frame", typ)
	}
	return string(b)
}

// next returns the next message, unframed when trackMessageLength is on.
func (c *wsClient) next() string {
	c.t.Helper()
	if !c.tml {
		return c.raw()
	}
	for len(c.pending) == 0 {
		msgs, rest, err := unframe(c.partial + c.raw())
		if err != nil {
			c.t.Fatalf("unframe: %v", err)
		}
		c.pending, c.partial = msgs, rest
	}
	m := c.pending[0]
	c.pending = c.pending[1:]
	return m
}

// nextJSON returns the next message decoded.
func (c *wsClient) nextJSON() map[string]any {
	c.t.Helper()
	s := c.next()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		c.t.Fatalf("message %q is not a JSON object", s)
	}
	return m
}

// nextSkipX returns the next message that is not a heartbeat, decoded.
func (c *wsClient) nextSkipX() map[string]any {
	c.t.Helper()
	for {
		if s := c.next(); s != heartbeatPadding {
			var m map[string]any
			if err := json.Unmarshal([]byte(s), &m); err != nil {
				c.t.Fatalf("message %q is not a JSON object", s)
			}
			return m
		}
	}
}

// send writes a text message.
func (c *wsClient) send(s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// quiet checks that nothing but heartbeats was sent to c before a probe,
// an action the server answers with an error: what the server sent before
// the probe arrives before the answer. The probe counts as client activity.
func (c *wsClient) quiet() {
	c.t.Helper()
	c.send(`{"action":"probe"}`)
	if m := c.nextSkipX(); m["type"] != "error" || m["action"] != "subscription/probe" {
		c.t.Fatalf("unexpected message %v", m)
	}
}

// closeStatus waits for the server to close the connection and returns its
// code.
func (c *wsClient) closeStatus() websocket.StatusCode {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		if _, _, err := c.conn.Read(ctx); err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

// subscribe sends a subscription and returns the response, skipping
// heartbeats.
func (c *wsClient) subscribe(hash, requests string) map[string]any {
	c.t.Helper()
	c.send(`{"action":"subscribe","hash":"` + hash + `","requests":` + requests + `}`)
	return c.nextSkipX()
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, what, 5*time.Second, cond)
}

// get returns a nested value of a decoded message: path elements are keys.
func get(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}

// stateBody is a publisher/state body for tracker id with a recognisable
// source_id and speed.
func stateBody(id, speed int) string {
	b, _ := json.Marshal(map[string]any{"tracker_id": id, "data": map[string]any{
		"source_id": 1000 + id, "gps": map[string]any{"speed": speed, "location": map[string]any{"lat": 1.5, "lng": 2.5}},
		"connection_status": "active", "movement_status": "moving", "gsm": nil, "battery_level": 80,
	}})
	return string(b)
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
