package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/dialect"
	"github.com/switchboard-rt/switchboard/internal/testutil"
	"github.com/switchboard-rt/switchboard/server"
	"github.com/switchboard-rt/switchboard/ws"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testConfig is the default configuration with a short shutdown timeout.
func testConfig() *config.Config {
	cfg := config.Default()
	cfg.Host = "127.0.0.1"
	cfg.ShutdownTimeout = config.Duration(5 * time.Second)
	return cfg
}

// running is a server serving on a loopback port for one test.
type running struct {
	srv  *server.Server
	base string // http://127.0.0.1:port
	logs *testutil.LogBuffer
	stop func() error // cancels Serve's context and returns what Serve returned
}

// start serves srv's dialects with cfg on a free loopback port; the test's
// cleanup stops it.
func start(t *testing.T, cfg *config.Config, ds ...dialect.Dialect) *running {
	t.Helper()
	logs := &testutil.LogBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := server.New(cfg, logger, ds...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	addr, stop := testutil.Serve(t, srv)
	scheme := "http://"
	if cfg.TLS.Enabled() {
		scheme = "https://"
	}
	return &running{srv: srv, base: scheme + addr, logs: logs, stop: stop}
}

// client makes requests without keeping connections, so no transport
// goroutine outlives a test.
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

// get returns the status and body of GET url.
func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// eventually waits up to 5 s for cond, checking it every few milliseconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, what, 5*time.Second, cond)
}

// fakeDialect is a Dialect whose parts a test sets.
type fakeDialect struct {
	name     string
	routes   []dialect.Route
	stats    ws.Stats
	ready    error
	err      error         // returned by Shutdown, if not nil
	entered  chan struct{} // closed when Shutdown starts, if not nil
	release  chan struct{} // Shutdown waits for it, if not nil
	shutdown chan struct{} // closed when Shutdown returns
}

func newFake(name string) *fakeDialect {
	return &fakeDialect{name: name, shutdown: make(chan struct{})}
}

func (f *fakeDialect) Name() string            { return f.name }
func (f *fakeDialect) Routes() []dialect.Route { return f.routes }
func (f *fakeDialect) Stats() ws.Stats         { return f.stats }

func (f *fakeDialect) Shutdown(ctx context.Context) error {
	defer close(f.shutdown)
	if f.entered != nil {
		close(f.entered)
	}
	if f.release != nil {
		select {
		case <-f.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return f.err
}

// readyFake is a fakeDialect that is also a dialect.ReadinessChecker.
type readyFake struct{ *fakeDialect }

func (f readyFake) Ready(context.Context) error { return f.ready }
