package pusher

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/dialect"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/internal/testutil"
	"github.com/switchboard-rt/switchboard/ws"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitFor bounds every wait on an event in these tests.
const waitFor = 5 * time.Second

// testApp returns an app config with the test credentials and every
// feature on.
func testApp() config.PusherApp {
	a := config.DefaultPusherApp()
	a.ID, a.Key, a.Secret = "app1", "key1", "secret1"
	a.EnableSubscriptionCount = false
	return a
}

// env is a Dialect on an httptest server, with its own hub.
type env struct {
	t    *testing.T
	d    *Dialect
	hub  *hub.Hub
	srv  *httptest.Server
	logs *testutil.LogBuffer
}

// newEnv starts a dialect serving apps (testApp when none).
func newEnv(t *testing.T, apps ...config.PusherApp) *env {
	t.Helper()
	return newEnvWith(t, ws.Options{}, apps...)
}

// newEnvWith is newEnv with WebSocket options.
func newEnvWith(t *testing.T, opts ws.Options, apps ...config.PusherApp) *env {
	t.Helper()
	return newEnvHub(t, nil, opts, apps...)
}

// newEnvHub is newEnv with hub and WebSocket options.
func newEnvHub(t *testing.T, hubOpts *hub.Options, opts ws.Options, apps ...config.PusherApp) *env {
	t.Helper()
	if len(apps) == 0 {
		apps = []config.PusherApp{testApp()}
	}
	h, err := hub.New(hubOpts)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testutil.LogBuffer{}
	d, err := New(config.Pusher{Enabled: true, Apps: apps}, dialect.Deps{Hub: h, WebSocket: opts, Logger: newTestLogger(logs)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, r := range d.Routes() {
		mux.Handle(r.Pattern, r.Handler)
	}
	e := &env{t: t, d: d, hub: h, srv: httptest.NewServer(mux), logs: logs}
	t.Cleanup(func() {
		testutil.Shutdown(t, d.Shutdown)
		e.srv.Close()
		_ = h.Close()
	})
	return e
}

// client is a raw WebSocket client speaking the Pusher protocol.
type client struct {
	t        *testing.T
	c        *websocket.Conn
	msgs     chan Event
	closed   chan websocket.CloseError
	socketID string
	ctx      context.Context
	cancel   context.CancelFunc
}

// dial connects to path (with its query) and returns the client without
// waiting for anything.
func (e *env) dial(path string) *client {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	u := "ws" + strings.TrimPrefix(e.srv.URL, "http") + path
	dctx, dcancel := context.WithTimeout(ctx, waitFor)
	defer dcancel()
	c, _, err := websocket.Dial(dctx, u, nil)
	if err != nil {
		cancel()
		e.t.Fatalf("dial %s: %v", path, err)
	}
	cl := &client{t: e.t, c: c, msgs: make(chan Event, 256), closed: make(chan websocket.CloseError, 1), ctx: ctx, cancel: cancel}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				var ce websocket.CloseError
				if errors.As(err, &ce) {
					cl.closed <- ce
				} else {
					cl.closed <- websocket.CloseError{Code: -1, Reason: err.Error()}
				}
				return
			}
			var ev Event
			if err := json.Unmarshal(data, &ev); err != nil {
				e.t.Errorf("server sent invalid JSON %q: %v", data, err)
				continue
			}
			if len(ev.Data) > 0 && ev.Data[0] != '"' {
				e.t.Errorf("server sent data that is not a JSON string: %s", data)
			}
			cl.msgs <- ev
		}
	}()
	e.t.Cleanup(func() {
		_ = c.CloseNow()
		cancel()
		<-done
	})
	return cl
}

// in makes the client report failures to t (a subtest's).
func (c *client) in(t *testing.T) *client {
	c.t = t
	return c
}

// during makes c report to t (a subtest's) until the returned function
// gives it back to the test it had.
func (c *client) during(t *testing.T) (restore func()) {
	old := c.t
	c.t = t
	return func() { c.t = old }
}

// with returns e for a subtest: its helpers report to t, and clients it
// makes are closed when the subtest ends.
func (e *env) with(t *testing.T) *env {
	e2 := *e
	e2.t = t
	return &e2
}

// connect dials /app/{key} and waits for connection_established.
func (e *env) connect(key string) *client {
	e.t.Helper()
	cl := e.dial("/app/" + key + "?protocol=7&client=js&version=8.4.0&flash=false")
	ev := cl.expect("pusher:connection_established")
	var d struct {
		SocketID        string `json:"socket_id"`
		ActivityTimeout int    `json:"activity_timeout"`
	}
	cl.data(ev, &d)
	if _, ok := parseSocketID(d.SocketID); !ok || d.ActivityTimeout <= 0 {
		e.t.Fatalf("connection_established data %+v", d)
	}
	cl.socketID = d.SocketID
	return cl
}

// send writes one JSON message.
func (c *client) send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(b)
}

func (c *client) sendRaw(b []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, waitFor)
	defer cancel()
	if err := c.c.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next returns the next message.
func (c *client) next() Event {
	c.t.Helper()
	select {
	case ev := <-c.msgs:
		return ev
	case ce := <-c.closed:
		c.closed <- ce
		select { // the reader queues every message before the close
		case ev := <-c.msgs:
			return ev
		default:
		}
		c.t.Fatalf("connection closed (%d %s) while waiting for a message", ce.Code, ce.Reason)
	case <-time.After(waitFor):
		c.t.Fatal("no message within the deadline")
	}
	return Event{}
}

// expect returns the next message, which must be the event name.
func (c *client) expect(name string) Event {
	c.t.Helper()
	ev := c.next()
	if ev.Event != name {
		c.t.Fatalf("got %s %s %s, want %s", ev.Event, ev.Channel, ev.Data, name)
	}
	return ev
}

// expectOn is expect for an event on a channel.
func (c *client) expectOn(name, channel string) Event {
	c.t.Helper()
	ev := c.expect(name)
	if ev.Channel != channel {
		c.t.Fatalf("%s on channel %q, want %q", name, ev.Channel, channel)
	}
	return ev
}

// data decodes an event's data string into v.
func (c *client) data(ev Event, v any) {
	c.t.Helper()
	if err := json.Unmarshal([]byte(ev.DataString()), v); err != nil {
		c.t.Fatalf("%s data %s: %v", ev.Event, ev.Data, err)
	}
}

// subscriptionError expects pusher:subscription_error on channel and
// returns its data.
func (c *client) subscriptionError(channel string) subscriptionErrorData {
	c.t.Helper()
	var d subscriptionErrorData
	c.data(c.expectOn("pusher:subscription_error", channel), &d)
	return d
}

// quiet checks that no message arrives: it sends a ping and expects the
// pong to be the next message, so that anything queued before shows up.
func (c *client) quiet() {
	c.t.Helper()
	c.send(map[string]any{"event": "pusher:ping", "data": map[string]any{}})
	c.expect("pusher:pong")
}

// closedWith waits for the server's close and checks its code.
func (c *client) closedWith(code int) {
	c.t.Helper()
	for {
		select {
		case <-c.msgs:
			continue
		case ce := <-c.closed:
			if int(ce.Code) != code {
				c.t.Fatalf("closed with %d %q, want %d", ce.Code, ce.Reason, code)
			}
			return
		case <-time.After(waitFor):
			c.t.Fatalf("not closed within the deadline, want %d", code)
		}
	}
}

// subscribe subscribes with optional auth and channel_data, without
// waiting.
func (c *client) subscribe(channel, auth, channelData string) {
	c.t.Helper()
	d := map[string]any{"channel": channel}
	if auth != "" {
		d["auth"] = auth
	}
	if channelData != "" {
		d["channel_data"] = channelData
	}
	c.send(map[string]any{"event": "pusher:subscribe", "data": d})
}

// join subscribes to any channel, signing as the app does, and waits for
// subscription_succeeded. user is the presence user id ("" otherwise).
func (c *client) join(secret, key, channel, user string) Event {
	c.t.Helper()
	var auth, cd string
	switch typeOf(channel).kind {
	case kindPresence:
		cd = fmt.Sprintf(`{"user_id":%q,"user_info":{"name":"%s name"}}`, user, user)
		auth = key + ":" + sign([]byte(secret), c.socketID+":"+channel+":"+cd)
	case kindPrivate, kindEncrypted:
		auth = key + ":" + sign([]byte(secret), c.socketID+":"+channel)
	}
	c.subscribe(channel, auth, cd)
	return c.expectOn("pusher_internal:subscription_succeeded", channel)
}

// rest makes a signed REST call as the Pusher SDKs do and returns the
// status and the body.
func (e *env) rest(method, path string, body any, params url.Values) (int, string) {
	e.t.Helper()
	return e.restAs("key1", "secret1", method, path, body, params, time.Now())
}

func (e *env) restAs(key, secret, method, path string, body any, params url.Values, now time.Time) (int, string) {
	e.t.Helper()
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			e.t.Fatal(err)
		}
	}
	q := signedParams(key, secret, method, path, raw, params, now)
	return e.do(method, path+"?"+q, raw)
}

// signedParams builds a signed query string the way npm:pusher does.
func signedParams(key, secret, method, path string, body []byte, params url.Values, now time.Time) string {
	p := map[string]string{"auth_key": key, "auth_timestamp": strconv.FormatInt(now.Unix(), 10), "auth_version": "1.0"}
	if len(body) > 0 {
		sum := md5.Sum(body)
		p["body_md5"] = hex.EncodeToString(sum[:])
	}
	for k, v := range params {
		p[k] = v[0]
	}
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + p[k]
	}
	q := strings.Join(parts, "&")
	return q + "&auth_signature=" + sign([]byte(secret), method+"\n"+path+"\n"+q)
}

// do sends a request as it is.
func (e *env) do(method, pathQuery string, body []byte) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+pathQuery, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		e.t.Errorf("%s %s: Content-Type %q", method, pathQuery, ct)
	}
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// trigger publishes through the REST API and requires a 200.
func (e *env) trigger(body map[string]any) string {
	e.t.Helper()
	status, resp := e.rest("POST", "/apps/app1/events", body, nil)
	if status != 200 {
		e.t.Fatalf("trigger %v: %d %s", body, status, resp)
	}
	return resp
}

// waitUntil polls cond until it holds, failing the test at the deadline.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, "the condition", waitFor, cond)
}

// untilPong sends pusher:ping and returns every message before the pong.
func (c *client) untilPong() []Event {
	c.t.Helper()
	c.send(map[string]any{"event": "pusher:ping", "data": map[string]any{}})
	var out []Event
	for {
		ev := c.next()
		if ev.Event == "pusher:pong" {
			return out
		}
		out = append(out, ev)
	}
}

// newTestLogger logs everything, debug included, as text to w.
func newTestLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func timeNow() time.Time { return time.Now() }

// failingBus is a one-node bus on which publishes to channels ending in
// "broken" fail, as they do on a bus whose Redis is unreachable.
type failingBus struct{ *bus.Local }

func (b failingBus) Publish(ctx context.Context, m bus.Message) error {
	if strings.HasSuffix(m.Channel, "broken") {
		return errors.New("test bus: publish failed")
	}
	return b.Local.Publish(ctx, m)
}

// newFailingEnv is newEnv on a failingBus.
func newFailingEnv(t *testing.T, apps ...config.PusherApp) *env {
	t.Helper()
	return newEnvHub(t, &hub.Options{Backend: bus.Backend{Bus: failingBus{bus.NewLocal()}}}, ws.Options{}, apps...)
}

// eventBody is the body of POST /events {"name": "e", "channel": "news",
// "data": "x"} with changes: a nil value removes its key.
func eventBody(changes map[string]any) map[string]any {
	m := map[string]any{"name": "e", "channel": "news", "data": "x"}
	for k, v := range changes {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}
