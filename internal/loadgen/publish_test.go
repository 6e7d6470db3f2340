package loadgen

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestHTTPConnPost runs httpConn against net/http's server: statuses, a
// server that closes after answering, and a connection that broke.
func TestHTTPConnPost(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("answer") {
		case "refuse":
			http.Error(w, `{"error":"bad signature"}`, http.StatusUnauthorized)
		case "close":
			w.Header().Set("Connection", "close")
			_, _ = w.Write([]byte("{}"))
		case "chunked":
			w.(http.Flusher).Flush() // no Content-Length: the body is chunked
			_, _ = w.Write([]byte("{}"))
		default:
			if r.Header.Get("Content-Type") != "application/json" || r.ContentLength != 2 {
				http.Error(w, "bad request line or headers", http.StatusBadRequest)
				return
			}
			_, _ = w.Write([]byte("{}"))
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	h := &httpConn{
		ctx:  context.Background(),
		dial: func(ctx context.Context) (net.Conn, error) { return new(net.Dialer).DialContext(ctx, "tcp", addr) },
		host: addr,
	}
	defer h.close()
	tests := []struct {
		answer    string
		wantErr   string // "" for success
		wantConns int32  // connections opened so far
	}{
		{"ok", "", 1},
		{"ok", "", 1}, // kept alive
		{"chunked", "", 1},
		{"refuse", "POST /events: 401 Unauthorized {\"error\":\"bad signature\"}", 1},
		{"ok", "", 2}, // a failed post closed the connection
		{"close", "", 2},
		{"ok", "", 3},
	}
	for i, tt := range tests {
		err := h.post("/events?answer="+tt.answer, "application/json", []byte("{}"))
		switch {
		case tt.wantErr == "" && err != nil:
			t.Fatalf("post %d (%s): %v", i, tt.answer, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Fatalf("post %d (%s): error %v, want %q", i, tt.answer, err, tt.wantErr)
		}
		if got := conns.Load(); got != tt.wantConns {
			t.Fatalf("after post %d (%s): %d connections, want %d", i, tt.answer, got, tt.wantConns)
		}
	}
	// A connection the server dropped fails one post; the next dials again.
	srv.CloseClientConnections()
	if err := h.post("/events", "application/json", []byte("{}")); err == nil {
		t.Log("the post after the server dropped the connection succeeded (it noticed in time)")
	}
	if err := h.post("/events", "application/json", []byte("{}")); err != nil {
		t.Fatalf("post after a redial: %v", err)
	}
}

// TestHTTPConnContextEnds checks that ending the run's context fails the
// request in flight instead of waiting for httpTimeout.
func TestHTTPConnContextEnds(t *testing.T) {
	block, arrived := make(chan struct{}), make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-block
	}))
	defer srv.Close()
	defer close(block)
	ctx, cancel := context.WithCancel(context.Background())
	addr := srv.Listener.Addr().String()
	h := &httpConn{
		ctx:  ctx,
		dial: func(ctx context.Context) (net.Conn, error) { return new(net.Dialer).DialContext(ctx, "tcp", addr) },
		host: addr,
	}
	defer h.close()
	errc := make(chan error, 1)
	go func() { errc <- h.post("/events", "application/json", []byte("{}")) }()
	<-arrived // the request is in flight
	cancel()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("the post succeeded although the server never answered")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the post went on after the run's context ended")
	}
}
