package redis

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/internal/redistest"
	"github.com/switchboard-rt/switchboard/internal/testutil"
	"github.com/switchboard-rt/switchboard/server"
)

// logCount is a slog.Handler that counts the records whose message
// starts with a prefix.
type logCount struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logCount) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCount) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.msgs = append(l.msgs, r.Message)
	l.mu.Unlock()
	return nil
}
func (l *logCount) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCount) WithGroup(string) slog.Handler      { return l }
func (l *logCount) count(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

// readyz serves /readyz of a server with b's readiness check, and returns
// a function that GETs it.
func readyz(t *testing.T, b *Bus) func() (int, string) {
	t.Helper()
	cfg := config.Default()
	cfg.Host, cfg.Port = "127.0.0.1", 1
	srv, err := server.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv.AddReadinessCheck("redis", b.Ready)
	addr, _ := testutil.Serve(t, srv)
	client := &http.Client{Timeout: 5 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	url := "http://" + addr + "/readyz"
	return func() (int, string) {
		res, err := client.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
}

// When Redis goes away, every node keeps delivering locally, reports not
// ready, logs the change once, and keeps presence for its own clients;
// when Redis comes back (empty, on the same port), the nodes re-subscribe,
// write their presence back, and cross-node delivery resumes.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	logs := &logCount{}
	nodes := newCluster(t, srv, 3, func(o *Options) { o.Logger = slog.New(logs) })
	a, b, c := nodes[0], nodes[1], nodes[2]
	get := readyz(t, a.bus)
	waitFor(t, 5*time.Second, "/readyz 200", func() bool { code, _ := get(); return code == http.StatusOK })
	ctx := context.Background()
	ra, _ := subscribe(t, a, "room")
	rb, _ := subscribe(t, b, "room")
	if _, err := a.hub.AddMember(ctx, "presence-o", "u1", nil, a.hub.NewID()); err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	for _, n := range nodes {
		waitFor(t, 5*time.Second, "not ready", func() bool { return n.bus.Ready(ctx) != nil })
	}
	code, body := get()
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "redis") {
		t.Errorf("/readyz during the outage: %d %q", code, body)
	}

	// Local delivery continues.
	publish(t, a, "room", "local-only")
	waitFor(t, 5*time.Second, "local delivery on A", func() bool { return slices.Contains(ra.got(), "local-only") })
	// Presence for this node's clients: B decides alone, and lists its own.
	added, err := b.hub.AddMember(ctx, "presence-o", "u3", nil, b.hub.NewID())
	if err != nil || !added {
		t.Errorf("AddMember during the outage = %v, %v; want joined (this node's view)", added, err)
	}
	if got := userIDs(t, b, "presence-o"); !slices.Equal(got, []string{"u3"}) {
		t.Errorf("members on B during the outage = %q, want B's own [u3]", got)
	}
	if n, err := b.hub.ClusterSubscriberCount(ctx, "room"); err != nil || n != 1 {
		t.Errorf("count on B during the outage = %d, %v; want B's own 1", n, err)
	}
	if err := c.hub.Shared().Set(ctx, "s", "k", []byte("v"), 0); !errors.Is(err, bus.ErrSharedUnavailable) {
		t.Errorf("Shared().Set during the outage: %v, want ErrSharedUnavailable", err)
	}
	// Several reconnect attempts, one log line per node.
	start := a.bus.stats.attempts.Load()
	waitFor(t, 5*time.Second, "reconnect attempts", func() bool { return a.bus.stats.attempts.Load() >= start+3 })
	if n := logs.count("redis: unreachable"); n != 3 {
		t.Errorf("%d 'unreachable' lines for 3 nodes, want 3", n)
	}

	srv.Restart(t)
	for _, n := range nodes {
		waitFor(t, 10*time.Second, "ready again", func() bool { return n.bus.Ready(ctx) == nil })
	}
	waitFor(t, 5*time.Second, "/readyz 200 again", func() bool { code, _ := get(); return code == http.StatusOK })
	if n := logs.count("redis: connected"); n != 6 {
		t.Errorf("%d 'connected' lines for 3 nodes up twice, want 6", n)
	}

	// Cross-node delivery resumes.
	publish(t, b, "room", "after")
	waitFor(t, 5*time.Second, "cross-node delivery after the outage", func() bool { return slices.Contains(ra.got(), "after") })
	if got := rb.got(); slices.Contains(got, "local-only") {
		t.Errorf("B got A's publish made during the outage: %q", got)
	}
	// Presence and counts were written back by their nodes.
	if got := userIDs(t, c, "presence-o"); !slices.Equal(got, []string{"u1", "u3"}) {
		t.Errorf("members on C after the outage = %q, want [u1 u3]", got)
	}
	if n, _ := c.hub.ClusterSubscriberCount(ctx, "room"); n != 2 {
		t.Errorf("count on C after the outage = %d, want 2", n)
	}
	s := a.bus.Stats()
	if s.Outages != 1 || s.StateChanges != 3 || s.Dropped != 1 || !s.Up {
		t.Errorf("A's stats %+v: want 1 outage, 3 state changes, 1 dropped, up", s)
	}
}
