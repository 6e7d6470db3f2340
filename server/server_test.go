package server_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/dialect"
	"github.com/switchboard-rt/switchboard/server"
)

func TestHealthz(t *testing.T) {
	r := start(t, testConfig())
	if code, body := get(t, client, r.base+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("GET /healthz = %d %q, want 200 \"ok\\n\"", code, body)
	}
}

func TestUnknownPathIs404(t *testing.T) {
	r := start(t, testConfig())
	for _, path := range []string{"/", "/nope", "/healthz/x", "/debug/pprof/"} {
		if code, _ := get(t, client, r.base+path); code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, code)
		}
	}
}

func TestReadyzChecks(t *testing.T) {
	f := readyFake{newFake("fake")}
	r := start(t, testConfig(), f)
	if code, body := get(t, client, r.base+"/readyz"); code != 200 {
		t.Fatalf("GET /readyz = %d %q, want 200", code, body)
	}

	var bus error = errors.New("redis: connection refused")
	r.srv.AddReadinessCheck("redis", func(context.Context) error { return bus })
	f.ready = errors.New("tokens not loaded") // read by the next request only
	code, body := get(t, client, r.base+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "redis: redis: connection refused") || !strings.Contains(body, "fake: tokens not loaded") {
		t.Fatalf("GET /readyz = %d %q, want 503 naming both failed checks", code, body)
	}
}

func TestReadyzIs503WhileShuttingDown(t *testing.T) {
	f := newFake("slow")
	f.entered, f.release = make(chan struct{}), make(chan struct{})
	r := start(t, testConfig(), f)
	if code, _ := get(t, client, r.base+"/readyz"); code != 200 {
		t.Fatalf("GET /readyz before shutdown = %d, want 200", code)
	}

	stopped := make(chan error, 1)
	go func() { stopped <- r.stop() }()
	select {
	case <-f.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("dialect Shutdown not called within 5s")
	}
	// The listener is closed by now, so ask the handler directly.
	for path, want := range map[string]int{"/readyz": 503, "/healthz": 200} {
		rec := httptest.NewRecorder()
		r.srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("GET %s during shutdown = %d %q, want %d", path, rec.Code, rec.Body, want)
		}
	}
	close(f.release)
	if err := <-stopped; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestShutdownCutsDialectsAtTheDeadline(t *testing.T) {
	cfg := testConfig()
	cfg.ShutdownTimeout = config.Duration(100 * time.Millisecond)
	f := newFake("stuck")
	f.release = make(chan struct{}) // never closed
	f.stats.Connections = 3
	r := start(t, cfg, f)
	if err := r.stop(); err != nil {
		t.Fatalf("Serve = %v; connections cut at the deadline are a normal stop", err)
	}
	if logs := r.logs.String(); !strings.Contains(logs, "level=WARN msg=\"stopped, cutting connections still open at shutdown_timeout\" cut=3") {
		t.Fatalf("no warning with the number cut:\n%s", logs)
	}
}

func TestShutdownReportsADialectFailure(t *testing.T) {
	f := newFake("broken")
	f.err = errors.New("flush failed")
	r := start(t, testConfig(), f)
	if err := r.stop(); err == nil || !strings.Contains(err.Error(), "broken: flush failed") {
		t.Fatalf("Serve = %v, want the dialect's error", err)
	}
}

func TestServeLogsEndpoints(t *testing.T) {
	f := newFake("fake")
	f.routes = []dialect.Route{{Pattern: "GET /fake", Protocol: dialect.ProtocolWebSocket, Handler: http.NotFoundHandler()}}
	cfg := testConfig()
	cfg.Pprof.Enabled = true
	r := start(t, cfg, f)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	logs := r.logs.String()
	for _, want := range []string{
		"msg=serving endpoint=/healthz protocol=http",
		"msg=serving endpoint=/readyz protocol=http",
		"msg=serving endpoint=/metrics protocol=http",
		"msg=serving endpoint=/debug/pprof/ protocol=http",
		"msg=serving endpoint=/fake dialect=fake protocol=websocket",
		"msg=listening addr=" + strings.TrimPrefix(r.base, "http://"),
		`msg="shutting down"`,
		"msg=stopped",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

func TestPprofOnlyWhenEnabled(t *testing.T) {
	cfg := testConfig()
	cfg.Pprof.Enabled = true
	r := start(t, cfg)
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap?debug=1"} {
		if code, _ := get(t, client, r.base+path); code != 200 {
			t.Errorf("GET %s = %d, want 200", path, code)
		}
	}
	// Disabled: see TestUnknownPathIs404.
}

func TestMetricsCanBeTurnedOff(t *testing.T) {
	cfg := testConfig()
	cfg.Metrics.Enabled = false
	r := start(t, cfg)
	if code, _ := get(t, client, r.base+"/metrics"); code != http.StatusNotFound {
		t.Fatalf("GET /metrics with metrics off = %d, want 404", code)
	}
}

func TestNewRejectsConflicts(t *testing.T) {
	clash := newFake("clash")
	clash.routes = []dialect.Route{{Pattern: "GET /metrics", Protocol: dialect.ProtocolHTTP, Handler: http.NotFoundHandler()}}
	if _, err := server.New(testConfig(), nil, clash); err == nil || !strings.Contains(err.Error(), "/metrics") {
		t.Errorf("New with a route on /metrics = %v, want an error naming it", err)
	}
	if _, err := server.New(testConfig(), nil, newFake("twin"), newFake("twin")); err == nil || !strings.Contains(err.Error(), "twin") {
		t.Errorf("New with two dialects named twin = %v, want an error naming it", err)
	}
}

func TestServeTwice(t *testing.T) {
	r := start(t, testConfig())
	get(t, client, r.base+"/healthz") // the first Serve has started
	if err := r.srv.Serve(context.Background(), nil); err == nil {
		t.Fatal("second Serve returned nil")
	}
}

func TestWebSocketOptions(t *testing.T) {
	c := config.Default().WebSocket
	c.PingInterval = 0
	c.MaxConnections = 7
	o := server.WebSocketOptions(c)
	if o.PingInterval >= 0 {
		t.Errorf("ping_interval 0 gave PingInterval %v, want negative (off)", o.PingInterval)
	}
	if o.MaxConnections != 7 || o.MaxPayload != c.MaxPayload || o.SendQueue != c.SendQueue ||
		o.PongTimeout != c.PongTimeout.Std() || o.WriteTimeout != c.WriteTimeout.Std() || o.ReadTimeout != c.ReadTimeout.Std() {
		t.Errorf("WebSocketOptions(%+v) = %+v", c, o)
	}
	c.PingInterval = config.Duration(time.Minute)
	if o := server.WebSocketOptions(c); o.PingInterval != time.Minute {
		t.Errorf("ping_interval 1m gave %v", o.PingInterval)
	}
}
