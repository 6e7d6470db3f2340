package pusher

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/dialect"
	"github.com/switchboard-rt/switchboard/hub"
)

// nopSub is a hub subscriber that accepts every message and keeps none.
type nopSub struct{ n int }

func (s *nopSub) Deliver(*hub.Message) error { s.n++; return nil }

// discardWriter is an http.ResponseWriter that keeps the status and drops
// the body, reused between requests so that only the handler allocates.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

// BenchmarkRESTPublish measures POST /apps/{id}/events end to end in the
// handler, as the load generator sends it: a signed request (auth query,
// body_md5, HMAC-SHA256) with a 100-byte payload, routed by the dialect's
// mux, decoded, validated, encoded once and fanned out by the hub to subs
// no-op subscribers. No network: the request is served in process.
func BenchmarkRESTPublish(b *testing.B) {
	for _, subs := range []int{0, 10, 1000} {
		b.Run(fmt.Sprintf("subs=%d", subs), func(b *testing.B) {
			h, err := hub.New(nil)
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			d, err := New(config.Pusher{Enabled: true, Apps: []config.PusherApp{testApp()}}, dialect.Deps{Hub: h})
			if err != nil {
				b.Fatal(err)
			}
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), waitFor)
				defer cancel()
				_ = d.Shutdown(ctx)
			}()
			mux := http.NewServeMux()
			for _, r := range d.Routes() {
				mux.Handle(r.Pattern, r.Handler)
			}
			for i := range subs {
				if _, err := h.Subscribe(context.Background(), "pusher/app1/bench-0", h.NewID(), &nopSub{}); err != nil {
					b.Fatal(err)
				}
				_ = i
			}
			body := []byte(`{"name":"bench","channel":"bench-0","data":"sbm:1:42:1763769600000000000:` + strings.Repeat("x", 100-31) + `"}`)
			path := "/apps/app1/events"
			q := signedParams("key1", "secret1", "POST", path, body, nil, time.Now())
			req := httptest.NewRequest("POST", path+"?"+q, nil)
			req.Header.Set("Content-Type", "application/json")
			w := &discardWriter{h: http.Header{}}
			rd := bytes.NewReader(body)
			b.ReportAllocs()
			for b.Loop() {
				r := *req
				rd.Reset(body)
				r.Body = io.NopCloser(rd)
				clear(w.h)
				w.status = 0
				mux.ServeHTTP(w, &r)
				if w.status != http.StatusOK {
					b.Fatalf("status %d", w.status)
				}
			}
		})
	}
}

// BenchmarkEncodeEvent measures encoding one published event: the frame
// payload every subscriber of the channel gets.
func BenchmarkEncodeEvent(b *testing.B) {
	data := `{"price":42,"note":"` + strings.Repeat("x", 80) + `"}`
	b.ReportAllocs()
	for b.Loop() {
		_ = encodeEvent("update", "private-prices", data, "")
	}
}

// BenchmarkDecodeEvent measures decoding a client's event frame.
func BenchmarkDecodeEvent(b *testing.B) {
	frame := []byte(`{"event":"client-typing","channel":"private-chat","data":{"user":"alice","text":"` + strings.Repeat("x", 60) + `"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEvent(frame); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWebhookEnqueue measures what a client event's webhook costs the
// connection's goroutine: building the event (with its id) and queueing
// it in memory. The receiver holds every POST, so that no sender competes
// for the CPU; a new dialect takes over every 5,000 events, so that the
// queue never fills.
func BenchmarkWebhookEnqueue(b *testing.B) {
	hold := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-hold }))
	defer srv.Close()
	defer close(hold)
	a := testApp()
	a.Webhooks = []config.PusherWebhook{{URL: srv.URL, EventTypes: []string{"client_event"}}}
	data := `{"message":"hello, this is a client event of about a hundred bytes, as chat apps send them"}`
	var stop []func()
	defer func() {
		for _, f := range stop {
			f()
		}
	}()
	b.ReportAllocs()
	for done := 0; done < b.N; {
		b.StopTimer()
		h, err := hub.New(nil)
		if err != nil {
			b.Fatal(err)
		}
		d, err := New(config.Pusher{Enabled: true, Apps: []config.PusherApp{a}}, dialect.Deps{Hub: h})
		if err != nil {
			b.Fatal(err)
		}
		stop = append(stop, func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
			defer cancel()
			_ = d.Shutdown(ctx)
			_ = h.Close()
		})
		app := d.apps().byID["app1"]
		n := min(b.N-done, 5000)
		b.StartTimer()
		for range n {
			d.hooks.clientEvent(app, "private-chat", "client-msg", data, "1.2", "u1")
		}
		done += n
	}
	b.StopTimer()
}
