package pgstore

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/coder/websocket"

	"github.com/switchboard-rt/switchboard/appstore"
	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/dialect"
	"github.com/switchboard-rt/switchboard/dialect/pusher"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/internal/pgtest"
)

// BenchmarkHandshake measures one Pusher handshake (dial /app/{key}, read
// connection_established, close) with the app served from the config
// file's store and from the PostgreSQL store. Both look the key up in the
// dialect's in-memory snapshot, so the figures should match:
//
//	go test -run '^$' -bench Handshake -count 6 ./appstore/pgstore
func BenchmarkHandshake(b *testing.B) {
	app := config.NewPusherApp("bench", "bench-key", "bench-secret")
	b.Run("store=file", func(b *testing.B) {
		benchHandshake(b, appstore.NewFile(config.Pusher{Apps: []config.PusherApp{app}}))
	})
	b.Run("store=postgres", func(b *testing.B) {
		pg := pgtest.Start(b)
		s, err := Open(pg.URL())
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Migrate(b.Context()); err != nil {
			b.Fatal(err)
		}
		if err := s.Create(b.Context(), app); err != nil {
			b.Fatal(err)
		}
		benchHandshake(b, s)
	})
}

func benchHandshake(b *testing.B, store appstore.Store) {
	h, err := hub.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	d, err := pusher.New(config.Pusher{Enabled: true, AppStore: config.AppStore{Driver: store.Name()}}, dialect.Deps{Hub: h})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = d.Shutdown(context.Background()) }()
	sy := appstore.NewSync(appstore.SyncOptions{Store: store, Apply: d.SetApps, Health: d.SetStoreError})
	if _, err := sy.Refresh(b.Context()); err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, r := range d.Routes() {
		mux.Handle(r.Pattern, r.Handler)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	url := "ws" + srv.URL[len("http"):] + "/app/bench-key?protocol=7"
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		c, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.Read(ctx); err != nil {
			b.Fatal(err)
		}
		_ = c.CloseNow()
	}
}
