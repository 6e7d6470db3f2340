package pusher

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/bus/redis"
	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/internal/redistest"
	"github.com/switchboard-rt/switchboard/ws"
)

// redisEnvs starts n dialects serving app, each on its own hub on a Redis
// bus, all on srv with one key prefix: the nodes of one cluster.
func redisEnvs(t *testing.T, srv *redistest.Server, n int, app config.PusherApp) []*env {
	t.Helper()
	prefix := fmt.Sprintf("sbtest:%s:%d:", strings.ReplaceAll(t.Name(), "/", "_"), time.Now().UnixNano())
	var out []*env
	for range n {
		b, err := redis.New(&redis.Options{URL: srv.URL(), NodeID: "t", KeyPrefix: prefix,
			PresenceTTL: 800 * time.Millisecond, HeartbeatInterval: 200 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		e := newEnvHub(t, &hub.Options{Backend: b.Backend()}, ws.Options{}, app)
		waitUntil(t, func() bool { return b.Ready(context.Background()) == nil })
		out = append(out, e)
	}
	return out
}

// Two nodes whose clients join and leave a channel at the same moment,
// round after round, send exactly one channel_occupied and one
// channel_vacated per round between them.
func TestWebhooksOnceAcrossNodes(t *testing.T) {
	srv := redistest.Start(t)
	hs := newHookServer(t, 0)
	nodes := redisEnvs(t, srv, 2, hookApp(hs.srv.URL, "channel_occupied", "channel_vacated"))
	const rounds = 20
	both := func(f func(e *env)) {
		var wg sync.WaitGroup
		for _, e := range nodes {
			wg.Go(func() { f(e) })
		}
		wg.Wait()
	}
	for i := range rounds {
		channel := fmt.Sprintf("news-%d", i)
		conns := make([]*client, len(nodes))
		for j, e := range nodes {
			conns[j] = e.connect("key1")
		}
		for _, c := range conns {
			c.subscribe(channel, "", "")
		}
		for _, c := range conns {
			c.expectOn("pusher_internal:subscription_succeeded", channel)
		}
		for _, c := range conns {
			_ = c.c.CloseNow()
		}
		both(func(e *env) { waitUntil(t, func() bool { return e.d.stats.connections.Load() == 0 }) })
	}
	// Each node's queue carries its webhooks in order: a marker subscribed
	// on each comes after everything it sent.
	for j, e := range nodes {
		e.connect("key1").join("secret1", "key1", fmt.Sprintf("marker-%d", j), "")
	}
	count := map[string]int{}
	markers := 0
	for markers < len(nodes) {
		for _, ev := range hs.events(t, 1) {
			ch, _ := ev["channel"].(string)
			if strings.HasPrefix(ch, "marker-") {
				markers++
				continue
			}
			count[ev["name"].(string)+" "+ch]++
		}
	}
	var bad []string
	for i := range rounds {
		for _, name := range []string{"channel_occupied", "channel_vacated"} {
			k := fmt.Sprintf("%s news-%d", name, i)
			if count[k] != 1 {
				bad = append(bad, fmt.Sprintf("%s: %d", k, count[k]))
			}
		}
	}
	slices.Sort(bad)
	if len(bad) > 0 {
		t.Errorf("want each webhook once per round; got %v", bad)
	}
}
