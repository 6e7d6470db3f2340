package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/internal/adminauth"
	"github.com/switchboard-rt/switchboard/internal/testutil"
	"github.com/switchboard-rt/switchboard/server"
)

// consoleServer wires a server as serve does, with the console, and serves
// it on loopback for the test.
func consoleServer(t *testing.T, cfg *config.Config) (*server.Server, string) {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	h, err := hub.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := dialects(cfg, h, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(cfg, logger, ds...)
	if err != nil {
		t.Fatal(err)
	}
	srv.Registry().MustRegister(h.Collector())
	guard, err := adminauth.New(cfg.Admin.Token)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := mountConsole(cfg, srv, guard, h, ds, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	addr, stop := testutil.Serve(t, srv)
	t.Cleanup(func() {
		if cons != nil {
			cons.Close() // as serve does when its context ends
		}
		if err := stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
		_ = h.Close()
	})
	return srv, "http://" + addr
}

func consoleConfig() *config.Config {
	cfg := config.Default()
	cfg.Host = "127.0.0.1"
	cfg.ShutdownTimeout = config.Duration(5 * time.Second)
	return cfg
}

// TestConsoleRefusesOtherHosts sends requests from a non-loopback address
// through the server's own handler: every console route, the streams
// included, is refused with a message naming admin.token; the public
// routes are not.
func TestConsoleRefusesOtherHosts(t *testing.T) {
	srv, _ := consoleServer(t, consoleConfig())
	for _, path := range []string{"/console", "/console/", "/console/static/console.js", "/console/api/stats", "/console/api/stream", "/console/api/watch?app=app-id&channel=x", "/console/api/channels?space=tokens"} {
		req := httptest.NewRequest("GET", path, nil)
		req.RemoteAddr, req.Host = "198.51.100.7:5555", "switchboard.example.com:8000"
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, req)
		if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "set admin.token") {
			t.Errorf("GET %s from another host: %d %s", path, w.Code, w.Body)
		}
	}
	req := httptest.NewRequest("GET", "/healthz", nil)
	req.RemoteAddr = "198.51.100.7:5555"
	w := httptest.NewRecorder()
	srv.Handler().ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Errorf("/healthz from another host: %d", w.Code)
	}
}

func TestConsoleOff(t *testing.T) {
	cfg := consoleConfig()
	cfg.Console.Enabled = false
	srv, _ := consoleServer(t, cfg)
	req := httptest.NewRequest("GET", "/console/api/stats", nil)
	w := httptest.NewRecorder()
	srv.Handler().ServeHTTP(w, req)
	if w.Code == http.StatusOK {
		t.Errorf("console.enabled false, and /console answered 200")
	}
}

// TestConsoleWatchAndPublish publishes from the console's API and reads
// the event back from a watch of the same channel, both through the real
// Pusher dialect.
func TestConsoleWatchAndPublish(t *testing.T) {
	cfg := consoleConfig()
	cfg.Console.Path = "/ops/console"
	_, base := consoleServer(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/ops/console/api/watch?app=app-id&channel=orders", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	next := func() (name, data string) {
		for sc.Scan() {
			line := sc.Text()
			if n, ok := strings.CutPrefix(line, "event: "); ok {
				name = n
			} else if d, ok := strings.CutPrefix(line, "data: "); ok {
				return name, d
			}
		}
		t.Fatalf("the watch stream ended: %v", sc.Err())
		return
	}
	if name, _ := next(); name != "watching" {
		t.Fatalf("first event %q", name)
	}

	publish := func(body string) (int, string) {
		r, err := http.Post(base+"/ops/console/api/publish", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(b)
	}
	if code, body := publish(`{"app":"app-id","channel":"orders","event":"shipped","data":"{\"id\":7}"}`); code != 200 {
		t.Fatalf("publish: %d %s", code, body)
	}
	name, data := next()
	var ev struct{ Event, Channel, Data string }
	if err := json.Unmarshal([]byte(data), &ev); err != nil || name != "event" || ev.Event != "shipped" || ev.Channel != "orders" || ev.Data != `{"id":7}` {
		t.Fatalf("watched %q %s (%v)", name, data, err)
	}

	for _, tt := range []struct {
		body string
		code int
		msg  string
	}{
		{`{"app":"app-id","channel":"bad channel","event":"x","data":""}`, 400, "invalid channel name"},
		{`{"app":"nope","channel":"orders","event":"x","data":""}`, 400, "no app has this id"},
		{`{"app":"app-id","channel":"orders","event":"","data":""}`, 400, "event"},
		{`not json`, 400, "not JSON"},
	} {
		if code, body := publish(tt.body); code != tt.code || !strings.Contains(strings.ToLower(body), strings.ToLower(tt.msg)) {
			t.Errorf("publish %s: %d %s, want %d with %q", tt.body, code, body, tt.code, tt.msg)
		}
	}
	r, err := http.Post(base+"/ops/console/api/publish", "application/x-www-form-urlencoded", strings.NewReader("app=app-id"))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("a form post: %d, want 415", r.StatusCode)
	}
}

// TestServeEndsConsoleStreams checks that an open console does not hold up
// a graceful shutdown.
func TestServeEndsConsoleStreams(t *testing.T) {
	t.Chdir(t.TempDir())
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut testutil.LogBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--config", "", "--host", "127.0.0.1", "--port", fmt.Sprint(port)}, func(string) string { return "" }, &out, &errOut)
	}()
	url := fmt.Sprintf("http://127.0.0.1:%d/console/api/stream", port)
	var res *http.Response
	testutil.WaitFor(t, "the console stream", 10*time.Second, func() bool {
		r, err := http.Get(url)
		if err != nil {
			return false
		}
		res = r
		return true
	})
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("stream: %d", res.StatusCode)
	}
	start := time.Now()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d; stderr:\n%s", code, errOut.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop within 15s with a console open")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("shutdown took %v with a console open: it waited for the stream", took)
	}
	if _, err := io.ReadAll(res.Body); err != nil && !strings.Contains(err.Error(), "EOF") {
		t.Logf("stream ended with %v", err)
	}
}

// TestConsoleSessions lists an Atmosphere session made with user/auth,
// without its hash.
func TestConsoleSessions(t *testing.T) {
	cfg := consoleConfig()
	pw, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Atmosphere.Users = []config.AtmosphereUser{{Login: "viewer", PasswordHash: string(pw), Trackers: []int64{5, 6}}}
	_, base := consoleServer(t, cfg)
	res, err := http.Post(base+"/user/auth", "application/json", strings.NewReader(`{"login":"viewer","password":"pw"}`))
	if err != nil {
		t.Fatal(err)
	}
	var login struct{ Hash string }
	err = json.NewDecoder(res.Body).Decode(&login)
	res.Body.Close()
	if err != nil || login.Hash == "" {
		t.Fatalf("user/auth: %d %v", res.StatusCode, err)
	}
	res, err = http.Get(base + "/console/api/sessions?q=VIEW")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var out struct {
		Sessions []struct {
			Tag, User string
			Trackers  int
		}
		Total int
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Total != 1 || out.Sessions[0].User != "viewer" || out.Sessions[0].Trackers != 2 {
		t.Fatalf("sessions: %s (%v)", body, err)
	}
	if strings.Contains(string(body), login.Hash) {
		t.Errorf("the sessions list holds a session's hash: %s", body)
	}
	res, err = http.Get(base + "/console/api/channels?space=atmosphere-sessions")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("channels of the sessions space: %d, want 400", res.StatusCode)
	}
}
