package pusher

import (
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

	"github.com/coder/websocket"

	"github.com/switchboard-rt/switchboard/bus/redis"
	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/dialect"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/internal/redistest"
)

// BenchmarkSubscribeNewChannel measures the edges of a subscription, the
// path the webhook state adds to: one WebSocket client subscribes to a
// channel no one else has (this node's first subscriber: an edge), waits for
// subscription_succeeded, unsubscribes (the last: an edge) and waits for the
// pong of a ping sent after, so the unsubscription was handled. On one
// node (in-memory stores) and on a Redis bus, with no webhooks and with a
// webhook that wants channel_occupied and channel_vacated (the webhooks go
// to a receiver that discards them). A round trip over loopback is most of
// each iteration; the difference between the variants is the edge's cost.
func BenchmarkSubscribeNewChannel(b *testing.B) {
	for _, backend := range []string{"memory", "redis"} {
		for _, hooks := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/webhooks=%v", backend, hooks), func(b *testing.B) {
				var opts *hub.Options
				ready := func() bool { return true }
				if backend == "redis" {
					srv := redistest.Start(b)
					rb, err := redis.New(&redis.Options{URL: srv.URL(), NodeID: "bench", KeyPrefix: fmt.Sprintf("sbbench:%d:", time.Now().UnixNano()),
						PresenceTTL: 800 * time.Millisecond, HeartbeatInterval: 200 * time.Millisecond,
						Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
					if err != nil {
						b.Fatal(err)
					}
					opts = &hub.Options{Backend: rb.Backend()}
					ready = func() bool { return rb.Ready(context.Background()) == nil }
				}
				benchSubscribe(b, opts, hooks, ready)
			})
		}
	}
}

func benchSubscribe(b *testing.B, opts *hub.Options, hooks bool, ready func() bool) {
	h, err := hub.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	for deadline := time.Now().Add(waitFor); !ready(); {
		if time.Now().After(deadline) {
			b.Fatal("the Redis bus did not come up")
		}
		time.Sleep(time.Millisecond) // polling interval, not synchronisation
	}
	app := testApp()
	if hooks {
		sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }))
		defer sink.Close()
		app.Webhooks = []config.PusherWebhook{{URL: sink.URL, EventTypes: []string{"channel_occupied", "channel_vacated"}}}
	}
	d, err := New(config.Pusher{Enabled: true, Apps: []config.PusherApp{app}}, dialect.Deps{Hub: h, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, r := range d.Routes() {
		mux.Handle(r.Pattern, r.Handler)
	}
	web := httptest.NewServer(mux)
	defer web.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		_ = d.Shutdown(ctx)
	}()
	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(web.URL, "http")+"/app/key1?protocol=7", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseNow()
	until := func(name string) {
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				b.Fatal(err)
			}
			var ev Event
			if json.Unmarshal(data, &ev) == nil && ev.Event == name {
				return
			}
		}
	}
	until("pusher:connection_established")
	write := func(s string) {
		if err := c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		ch := fmt.Sprintf("bench-%d", i)
		write(`{"event":"pusher:subscribe","data":{"channel":"` + ch + `"}}`)
		until("pusher_internal:subscription_succeeded")
		write(`{"event":"pusher:unsubscribe","data":{"channel":"` + ch + `"}}`)
		write(`{"event":"pusher:ping","data":{}}`)
		until("pusher:pong")
	}
}
