package ws

import (
	"bytes"
	"context"
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/gobwas/ws"
)

func TestHandshakeRefusals(t *testing.T) {
	upgrade := http.Header{
		"Upgrade":               {"websocket"},
		"Connection":            {"Upgrade"},
		"Sec-Websocket-Key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
		"Sec-Websocket-Version": {"13"},
	}
	with := func(k, v string) http.Header {
		h := upgrade.Clone()
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
		return h
	}
	refuseAll := func(*http.Request, []string) (string, bool) { return "", false }
	pickUnoffered := func(*http.Request, []string) (string, bool) { return "other", true }
	tests := []struct {
		name   string
		opts   Options
		method string
		header http.Header
		want   int
	}{
		{"plain GET", Options{}, http.MethodGet, http.Header{}, http.StatusBadRequest},
		{"POST", Options{}, http.MethodPost, upgrade, http.StatusMethodNotAllowed},
		{"bad key", Options{}, http.MethodGet, with("Sec-Websocket-Key", "short"), http.StatusBadRequest},
		{"version 8", Options{}, http.MethodGet, with("Sec-Websocket-Version", "8"), http.StatusUpgradeRequired},
		{"foreign origin", Options{}, http.MethodGet, with("Origin", "https://evil.example"), http.StatusForbidden},
		{"accept refuses", Options{Accept: refuseAll}, http.MethodGet, upgrade, http.StatusForbidden},
		{"accept picks unoffered", Options{Accept: pickUnoffered}, http.MethodGet, with("Sec-Websocket-Protocol", "chat"), http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, tt.opts, false)
			req, _ := http.NewRequest(tt.method, ts.http.URL, nil)
			req.Header = tt.header
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want == http.StatusUpgradeRequired && resp.Header.Get("Sec-WebSocket-Version") != "13" {
				t.Errorf("426 without Sec-WebSocket-Version: 13")
			}
		})
	}
}

func TestMaxConnections(t *testing.T) {
	ts := newTestServer(t, Options{MaxConnections: 1}, false)
	dialRaw(t, ts.url, nil)
	_, resp, err := websocket.Dial(context.Background(), ts.url, nil)
	if err == nil {
		t.Fatal("second connection accepted over MaxConnections=1")
	}
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("response = %v, want 503 with Retry-After", resp)
	}
}

func TestSubprotocolSelection(t *testing.T) {
	ts := newTestServer(t, Options{Accept: func(_ *http.Request, offered []string) (string, bool) {
		for _, p := range offered {
			if p == "v2.chat" {
				return p, true
			}
		}
		return "", true
	}}, false)
	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, ts.url, &websocket.DialOptions{Subprotocols: []string{"v1.chat", "v2.chat"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if got := c.Subprotocol(); got != "v2.chat" {
		t.Fatalf("client sees sub-protocol %q, want v2.chat", got)
	}
	if got := (<-ts.conns).Subprotocol(); got != "v2.chat" {
		t.Fatalf("server sees sub-protocol %q, want v2.chat", got)
	}
}

func TestClientTrackingAndShutdown(t *testing.T) {
	ts := newTestServer(t, Options{ClientTracking: true}, false)
	a, b := dialRaw(t, ts.url, nil), dialRaw(t, ts.url, nil)
	<-ts.conns
	<-ts.conns
	if n := len(ts.Clients()); n != 2 {
		t.Fatalf("Clients() has %d, want 2", n)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- ts.Shutdown(ctx)
	}()
	for _, c := range []*rawClient{a, b} {
		if code, _ := c.readClose(); code != StatusGoingAway {
			t.Fatalf("close = %d, want 1001", code)
		}
		c.send(ws.NewCloseFrame(ws.NewCloseFrameBody(1001, "")))
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	if n := len(ts.Clients()); n != 0 {
		t.Fatalf("Clients() has %d after shutdown, want 0", n)
	}
	resp, err := http.Get(ts.http.URL)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("handshake after shutdown: %d, want 503", resp.StatusCode)
		}
	}
}

func TestClientsNilWithoutTracking(t *testing.T) {
	ts := newTestServer(t, Options{}, false)
	dialRaw(t, ts.url, nil)
	<-ts.conns
	if c := ts.Clients(); c != nil {
		t.Fatalf("Clients() = %v without ClientTracking, want nil", c)
	}
}

func TestCompression(t *testing.T) {
	ts := newTestServer(t, Options{Compression: true}, true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, ts.url, &websocket.DialOptions{CompressionMode: websocket.CompressionNoContextTakeover})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if !(<-ts.conns).Compressed() {
		t.Fatal("permessage-deflate not negotiated")
	}
	for _, msg := range []string{"short", strings.Repeat("compressible ", 500)} {
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != msg {
			t.Fatalf("echo of %d bytes came back as %d bytes", len(msg), len(got))
		}
	}
}

func TestTLSConnectionsUseReaderGoroutine(t *testing.T) {
	srv := NewServer(Options{})
	srv.OnConnection(func(c *Conn) {
		c.OnMessage(func(typ MessageType, data []byte) { _ = c.Send(typ, data) })
	})
	hs := newTLSServer(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	c, _, err := websocket.Dial(ctx, "wss"+strings.TrimPrefix(hs, "https"), &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	payload := bytes.Repeat([]byte("tls"), 3000)
	for i := 0; i < 3; i++ {
		if err := c.Write(ctx, websocket.MessageBinary, payload); err != nil {
			t.Fatal(err)
		}
		if _, got, err := c.Read(ctx); err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("echo %d: %v", i, err)
		}
	}
	c.Close(websocket.StatusNormalClosure, "")
}

func TestShutdownDeadlineDropsSilentPeers(t *testing.T) {
	ts := newTestServer(t, Options{}, false)
	c := dialRaw(t, ts.url, nil)
	<-ts.conns
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	// The client never answers the Close, so only the deadline ends it.
	if err := ts.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Shutdown = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Shutdown took %v after a 100ms deadline", d)
	}
	if code, _ := c.readClose(); code != StatusGoingAway {
		t.Fatalf("close = %d, want 1001", code)
	}
	c.expectEOF()
	if e := ts.next(t, "close"); e.code != int(StatusGoingAway) {
		t.Errorf("OnClose code = %d, want 1001 (the code sent)", e.code)
	}
}
