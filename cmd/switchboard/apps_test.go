//go:build unix

// The apps tests send SIGHUP, and run PostgreSQL as another user: Unix only.

package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-rt/switchboard/internal/pgtest"
	"github.com/switchboard-rt/switchboard/internal/redistest"
	"github.com/switchboard-rt/switchboard/internal/testutil"
)

// call makes an HTTP request and returns the status and the body; status
// 0 when the server could not be reached.
func (n *serving) call(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+n.addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// ready requires /readyz to answer 200.
func (n *serving) ready(t *testing.T) {
	t.Helper()
	if status, body := n.call(t, "GET", "/readyz", ""); status != 200 {
		t.Fatalf("/readyz: %d %s", status, body)
	}
}

// must is call requiring the status want.
func (n *serving) must(t *testing.T, want int, method, path, body string) map[string]any {
	t.Helper()
	status, resp := n.call(t, method, path, body)
	if status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, status, resp, want)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(resp), &v); err != nil {
		t.Fatalf("%s %s: not a JSON object: %q", method, path, resp)
	}
	return v
}

// pusherClient is a WebSocket connection to /app/{key}.
type pusherClient struct {
	c        *websocket.Conn
	ctx      context.Context
	socketID string
}

// connectApp connects to the app with key and waits for
// connection_established.
func connectApp(t *testing.T, n *serving, key string) *pusherClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	c, _, err := websocket.Dial(ctx, "ws://"+n.addr+"/app/"+key+"?protocol=7", nil)
	if err != nil {
		t.Fatalf("dial %s: %v", key, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	p := &pusherClient{c: c, ctx: ctx}
	_, b, err := c.Read(ctx)
	var ev struct{ Event, Data string }
	if err != nil || json.Unmarshal(b, &ev) != nil || ev.Event != "pusher:connection_established" {
		t.Fatalf("app %s: first message %q, %v; want connection_established", key, b, err)
	}
	var data struct {
		SocketID string `json:"socket_id"`
	}
	_ = json.Unmarshal([]byte(ev.Data), &data)
	p.socketID = data.SocketID
	return p
}

// next returns the name of the next event.
func (p *pusherClient) next(t *testing.T) string {
	t.Helper()
	_, b, err := p.c.Read(p.ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var ev struct {
		Event string `json:"event"`
	}
	_ = json.Unmarshal(b, &ev)
	return ev.Event
}

// alive pings and expects the pong.
func (p *pusherClient) alive(t *testing.T) {
	t.Helper()
	if err := p.c.Write(p.ctx, websocket.MessageText, []byte(`{"event":"pusher:ping","data":{}}`)); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if ev := p.next(t); ev != "pusher:pong" {
		t.Fatalf("got %q, want pusher:pong", ev)
	}
}

// closedWith reads until the server closes and checks the code.
func (p *pusherClient) closedWith(t *testing.T, code int) {
	t.Helper()
	for {
		_, _, err := p.c.Read(p.ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) || int(ce.Code) != code {
			t.Fatalf("closed with %v, want %d", err, code)
		}
		return
	}
}

func appsFile(apps ...string) string {
	return "pusher: { secret_grace_period: \"1h\", apps: [\n" + strings.Join(apps, "\n") + "\n] }\n"
}

const (
	appA = `{ id: "a", key: "key-a", secret: "secret-a" }`
	appB = `{ id: "b", key: "key-b", secret: "secret-b" }`
)

// TestReloadApps changes the apps of the file and reloads: an added app
// serves, a changed one keeps its connections, a removed one's are closed
// with 4003, and a bad file changes nothing and says why, as start-up
// would.
func TestReloadApps(t *testing.T) {
	t.Chdir(t.TempDir())
	writeFile(t, "s.hjson", appsFile(appA))
	n := startServeEnv(t, nil, nil, "--config", "s.hjson")
	a := connectApp(t, n, "key-a")

	// Added and changed, through the admin API.
	writeFile(t, "s.hjson", appsFile(`{ id: "a", key: "key-a", secret: "secret-a", max_connections: 50 }`, appB))
	got := n.must(t, 200, "POST", "/admin/reload", "")
	ch, _ := json.Marshal(got["changes"])
	if !strings.Contains(string(ch), `"added":["b"],"changed":["a"]`) {
		t.Fatalf("reload changes %s, want b added and a changed", ch)
	}
	a.alive(t)
	connectApp(t, n, "key-b").alive(t)
	if v := n.must(t, 200, "GET", "/admin/apps/a", ""); v["max_connections"] != float64(50) {
		t.Errorf("GET /admin/apps/a after the reload: %v", v)
	}

	// A bad file: refused whole, with start-up's messages.
	writeFile(t, "s.hjson", appsFile(`{ id: "c", key: "key-c" }`, `{ id: "b", key: "key-b", secret: "secret-b", max_connections: -1 }`))
	status, body := n.call(t, "POST", "/admin/reload", "")
	for _, want := range []string{"pusher.apps[0].secret: missing", "pusher.apps[1].max_connections: -1 is negative"} {
		if status != 422 || !strings.Contains(body, want) {
			t.Errorf("reload of a bad file: %d %s; want 422 naming %q", status, body, want)
		}
	}
	_, startErr, _ := strings.Cut(runBad(t), "invalid configuration")
	if !strings.Contains(body, strings.TrimSpace(strings.SplitN(startErr, "\n", 3)[1])) {
		t.Errorf("reload's message %s differs from start-up's %q", body, startErr)
	}
	if !strings.Contains(body, `"field": "pusher.apps[0].secret"`) {
		t.Errorf("reload of a bad file does not name the first field: %s", body)
	}
	a.alive(t)

	// Removed, through SIGHUP.
	writeFile(t, "s.hjson", appsFile(appB))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	a.closedWith(t, 4003)
	testutil.WaitFor(t, "the reload logged", 10*time.Second, func() bool {
		return strings.Contains(n.logs.String(), "msg=reloaded log_level=INFO removed=a")
	})
	if logs := n.logs.String(); !strings.Contains(logs, `msg="reload failed; the running configuration stays"`) {
		t.Errorf("the refused reload is not logged:\n%s", logs)
	}
	connectApp(t, n, "key-b").alive(t)

	// The file store does not take writes, and says which store does.
	status, body = n.call(t, "POST", "/admin/apps", `{"id":"x"}`)
	if status != 409 || !strings.Contains(body, `"field": "pusher.app_store.driver"`) || !strings.Contains(body, `\"postgres\"`) {
		t.Errorf("POST /admin/apps with the file store: %d %s", status, body)
	}
	if code := n.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// runBad starts the server with the bad file of TestReloadApps and returns
// what it prints.
func runBad(t *testing.T) string {
	t.Helper()
	code, _, errOut := runCmd(t, context.Background(), nil, "--config", "s.hjson")
	if code != 1 {
		t.Fatalf("start with a bad file: exit %d", code)
	}
	return errOut
}

// TestAdminAPIIsGuarded refuses a caller without the token once one is set.
func TestAdminAPIIsGuarded(t *testing.T) {
	t.Chdir(t.TempDir())
	writeFile(t, "s.hjson", "admin: { token: \"tok\" }\n")
	n := startServeEnv(t, nil, nil, "--config", "s.hjson")
	if status, body := n.call(t, "GET", "/admin/apps", ""); status != 401 || !strings.Contains(body, "admin token required") {
		t.Errorf("without the token: %d %s", status, body)
	}
	req, _ := http.NewRequest("GET", "http://"+n.addr+"/admin/apps", bytes.NewReader(nil))
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if resp.StatusCode != 200 {
		t.Errorf("with the token: %d", resp.StatusCode)
	}
}

// TestPostgresStore runs a node on a real PostgreSQL: migrate, create an
// app through the admin API and connect to it, disable it (4003), rotate
// its secret, read its stats; then the database goes away: the known app
// keeps serving, an unknown key is refused and logged, and /readyz says
// the store is down.
func TestPostgresStore(t *testing.T) {
	pg := pgtest.Start(t)
	t.Chdir(t.TempDir())
	writeFile(t, "pg.hjson", `pusher: { app_store: { driver: "postgres", required: true, refresh_interval: "1h" }, secret_grace_period: "1m" }`+"\n")
	vars := map[string]string{"SWITCHBOARD_APP_STORE_URL": pg.URL()}
	code, out, errOut := runCmd(t, context.Background(), vars, "migrate", "--config", "pg.hjson")
	if code != 0 || !strings.Contains(out, "1 migration(s) run") {
		t.Fatalf("migrate: exit %d, %q %q", code, out, errOut)
	}
	n := startServeEnv(t, nil, vars, "--config", "pg.hjson")
	n.ready(t)

	created := n.must(t, 201, "POST", "/admin/apps", `{"id": "p1", "max_connections": 5}`)
	key, _ := created["key"].(string)
	if key == "" || created["secret"] == "" || created["max_connections"] != float64(5) {
		t.Fatalf("created %v", created)
	}
	c := connectApp(t, n, key)
	if v := n.must(t, 200, "GET", "/admin/apps/p1/stats", ""); v["connections"] != float64(1) {
		t.Errorf("stats %v, want 1 connection", v)
	}
	if status, body := n.call(t, "POST", "/admin/apps", `{"id": "p2", "key": "`+key+`"}`); status != 409 || !strings.Contains(body, `"field": "key"`) {
		t.Errorf("a taken key: %d %s", status, body)
	}
	if status, body := n.call(t, "PATCH", "/admin/apps/p1", `{"max_connections": -2}`); status != 422 || !strings.Contains(body, `"field": "max_connections"`) {
		t.Errorf("a bad limit: %d %s", status, body)
	}
	if status, body := n.call(t, "PATCH", "/admin/apps/p1", `{"max_conections": 2}`); status != 400 || !strings.Contains(body, `"field": "max_conections"`) {
		t.Errorf("an unknown field: %d %s", status, body)
	}

	n.must(t, 200, "PATCH", "/admin/apps/p1", `{"enabled": false}`)
	c.closedWith(t, 4003)
	n.must(t, 200, "PATCH", "/admin/apps/p1", `{"enabled": true}`)
	rot := n.must(t, 200, "POST", "/admin/apps/p1/rotate-secret", "")
	if rot["secret"] == created["secret"] || rot["previous_secret_valid_for"] != "1m0s" {
		t.Errorf("rotate-secret: %v", rot)
	}
	if v := n.must(t, 200, "GET", "/admin/apps/p1/stats", ""); v["previous_secret_until"] == nil {
		t.Errorf("stats after a rotation lack previous_secret_until: %v", v)
	}
	c = connectApp(t, n, key)

	pg.Stop()
	status, body := n.call(t, "POST", "/admin/reload", "")
	if status != 503 || !strings.Contains(body, "app store postgres") {
		t.Errorf("reload with the database down: %d %s", status, body)
	}
	c.alive(t)
	connectApp(t, n, key).alive(t)
	unknown, _, err := websocket.Dial(c.ctx, "ws://"+n.addr+"/app/nope?protocol=7", nil)
	if err != nil {
		t.Fatal(err)
	}
	(&pusherClient{c: unknown, ctx: c.ctx}).closedWith(t, 4001)
	if status, body := n.call(t, "GET", "/readyz", ""); status != 503 || !strings.Contains(body, "app_store") {
		t.Errorf("/readyz with the required store down: %d %s", status, body)
	}
	logs := n.logs.String()
	for _, want := range []string{"app store cannot be read", "unknown app key refused while the app store cannot be read"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}

	pg.Restart(t)
	n.must(t, 200, "POST", "/admin/reload", "")
	n.ready(t)
	n.must(t, 200, "DELETE", "/admin/apps/p1", "")
	c.closedWith(t, 4003)
}

// TestClusterAppsAndLimits runs two nodes sharing a PostgreSQL app store
// and a Redis cluster: an app created on one node serves on the other
// through NOTIFY (the refresh interval is an hour), its max_connections and
// max_presence_members hold across both nodes, and disabling it on one
// node closes its connections on the other.
func TestClusterAppsAndLimits(t *testing.T) {
	pg := pgtest.Start(t)
	rd := redistest.Start(t)
	t.Chdir(t.TempDir())
	writeFile(t, "c.hjson", `pusher: { app_store: { driver: "postgres", migrate: true, refresh_interval: "1h" } }`+"\n"+
		`cluster: { redis: "`+rd.URL()+`" }`+"\n")
	vars := map[string]string{"SWITCHBOARD_APP_STORE_URL": pg.URL()}
	n1 := startServeEnv(t, nil, vars, "--config", "c.hjson")
	n2 := startServeEnv(t, nil, vars, "--config", "c.hjson")

	n1.must(t, 201, "POST", "/admin/apps", `{"id": "c1", "key": "c1-key", "secret": "c1-secret", "max_connections": 2, "max_presence_members": 1}`)
	testutil.WaitFor(t, "node 2 serving the app created on node 1", 10*time.Second, func() bool {
		status, _ := n2.call(t, "GET", "/admin/apps/c1/stats", "")
		return status == 200
	})
	c1, c2 := connectApp(t, n1, "c1-key"), connectApp(t, n2, "c1-key")
	c1.join(t, "c1-key", "c1-secret", "presence-room", "alice")
	c2.subscribePresence(t, "c1-key", "c1-secret", "presence-room", "bob")
	if ev := c2.next(t); ev != "pusher:subscription_error" {
		t.Errorf("a second presence member across nodes, over max_presence_members 1: %q, want pusher:subscription_error", ev)
	}
	third, _, err := websocket.Dial(c1.ctx, "ws://"+n2.addr+"/app/c1-key?protocol=7", nil)
	if err != nil {
		t.Fatal(err)
	}
	(&pusherClient{c: third, ctx: c1.ctx}).closedWith(t, 4004)

	n2.must(t, 200, "PATCH", "/admin/apps/c1", `{"enabled": false}`)
	c1.closedWith(t, 4003)
	c2.closedWith(t, 4003)
}

// subscribePresence sends a signed presence subscription as user.
func (p *pusherClient) subscribePresence(t *testing.T, key, secret, channel, user string) {
	t.Helper()
	cd := `{"user_id":"` + user + `"}`
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(p.socketID + ":" + channel + ":" + cd))
	msg, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": map[string]string{
		"channel": channel, "auth": key + ":" + hex.EncodeToString(mac.Sum(nil)), "channel_data": cd,
	}})
	if err := p.c.Write(p.ctx, websocket.MessageText, msg); err != nil {
		t.Fatal(err)
	}
}

// join subscribes to a presence channel and requires success.
func (p *pusherClient) join(t *testing.T, key, secret, channel, user string) {
	t.Helper()
	p.subscribePresence(t, key, secret, channel, user)
	if ev := p.next(t); ev != "pusher_internal:subscription_succeeded" {
		t.Fatalf("join %s: %q", channel, ev)
	}
}
