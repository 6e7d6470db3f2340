package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/internal/loadgen"
)

// Every engine echoes what the load generator sends, so the comparison
// measures what it claims to.
func TestEnginesEcho(t *testing.T) {
	for name, build := range engines {
		t.Run(name, func(t *testing.T) {
			h, shutdown := build()
			mux := http.NewServeMux()
			mux.Handle("/echo", h)
			srv := httptest.NewServer(mux)
			defer srv.Close()
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				shutdown(ctx)
			}()
			res, err := loadgen.Run(context.Background(), loadgen.Options{
				Scenario:    loadgen.ScenarioEcho,
				Target:      strings.TrimPrefix(srv.URL, "http://"),
				Connections: 2,
				Duration:    100 * time.Millisecond,
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Received == 0 || res.Malformed != 0 || res.Disconnects != 0 {
				t.Fatalf("round trips %d, malformed %d, disconnects %d, errors %q", res.Received, res.Malformed, res.Disconnects, res.Errors)
			}
		})
	}
}

func TestListenLoopbackOnly(t *testing.T) {
	if ln, err := listenLoopback("0.0.0.0:0"); err == nil {
		ln.Close()
		t.Fatal("listening on 0.0.0.0 was allowed")
	}
}
