package echo_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	gobwas "github.com/gobwas/ws"
	"go.uber.org/goleak"

	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/dialect"
	"github.com/switchboard-rt/switchboard/dialect/echo"
	"github.com/switchboard-rt/switchboard/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve mounts an echo dialect built from cfg on a test HTTP server and
// returns its ws:// URL; the test's cleanup shuts both down.
func serve(t *testing.T, cfg config.Echo) string {
	return serveWith(t, cfg, config.Default().WebSocket)
}

// serveWith is serve with the websocket section wsc.
func serveWith(t *testing.T, cfg config.Echo, wsc config.WebSocket) string {
	t.Helper()
	d, err := echo.New(cfg, dialect.Deps{WebSocket: server.WebSocketOptions(wsc)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, r := range d.Routes() {
		mux.Handle(r.Pattern, r.Handler)
	}
	ts := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		ts.Close()
	})
	return "ws" + strings.TrimPrefix(ts.URL, "http") + cfg.Path
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, ctx context.Context, url string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c.SetReadLimit(4 << 20)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

func TestEchoesTextAndBinary(t *testing.T) {
	ctx := testCtx(t)
	c := dial(t, ctx, serve(t, config.Default().Echo), nil)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	for _, m := range []struct {
		typ  websocket.MessageType
		data []byte
	}{
		{websocket.MessageText, []byte("hello, wörld")},
		{websocket.MessageText, nil},
		{websocket.MessageBinary, all},
		{websocket.MessageBinary, bytes.Repeat([]byte{0}, 70000)},   // 64-bit length form
		{websocket.MessageText, []byte(strings.Repeat("x", 1<<20))}, // exactly the limit
	} {
		if err := c.Write(ctx, m.typ, m.data); err != nil {
			t.Fatalf("write %d bytes: %v", len(m.data), err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil || typ != m.typ || !bytes.Equal(got, m.data) {
			t.Fatalf("echo of %v (%d bytes) = %v (%d bytes), %v", m.typ, len(m.data), typ, len(got), err)
		}
	}
	if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("close: %v", err)
	}
}

func TestCompressionFragmentsAndPing(t *testing.T) {
	ctx := testCtx(t)
	wsc := config.Default().WebSocket
	wsc.Compression = true
	url := serveWith(t, config.Default().Echo, wsc)
	for _, mode := range []websocket.CompressionMode{websocket.CompressionNoContextTakeover, websocket.CompressionContextTakeover, websocket.CompressionDisabled} {
		c := dial(t, ctx, url, &websocket.DialOptions{CompressionMode: mode, CompressionThreshold: 1})
		for _, n := range []int{1, 100, 5000, 900000} {
			msg := bytes.Repeat([]byte("abcdefgh"), n/8+1)[:n]
			if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
				t.Fatalf("mode %v: write %d bytes: %v", mode, n, err)
			}
			if _, got, err := c.Read(ctx); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("mode %v: echo of %d bytes: %d bytes, %v", mode, n, len(got), err)
			}
		}

		w, err := c.Writer(ctx, websocket.MessageBinary) // a message in 5 frames
		if err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			if _, err := w.Write(bytes.Repeat([]byte{byte(i)}, 10000)); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if _, got, err := c.Read(ctx); err != nil || len(got) != 50000 || got[49999] != 4 {
			t.Fatalf("mode %v: echo of a fragmented message: %d bytes, %v", mode, len(got), err)
		}

		readDone := make(chan struct{})
		go func() { // a pong is read by a reader
			defer close(readDone)
			_, _, _ = c.Read(ctx)
		}()
		if err := c.Ping(ctx); err != nil {
			t.Fatalf("mode %v: ping: %v", mode, err)
		}
		if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
			t.Fatalf("mode %v: close: %v", mode, err)
		}
		<-readDone
	}
}

func TestTooBigCloses1009(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int64
		size  int
	}{
		{"default limit, 2 MiB", 1 << 20, 2 << 20},
		{"configured limit", 1000, 1001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			cfg := config.Default().Echo
			cfg.MaxMessageSize = tc.limit
			c := dial(t, ctx, serve(t, cfg), nil)
			// The server may close while the message is still being
			// written, so write and read at once.
			go func() { _ = c.Write(ctx, websocket.MessageBinary, make([]byte, tc.size)) }()
			_, _, err := c.Read(ctx)
			if got := websocket.CloseStatus(err); got != websocket.StatusMessageTooBig {
				t.Fatalf("read after a %d-byte message = %v (status %d), want close 1009", tc.size, err, got)
			}
		})
	}
}

func TestInvalidUTF8Closes1007(t *testing.T) {
	ctx := testCtx(t)
	// A raw client: coder/websocket would not send invalid UTF-8 as text
	// on purpose, gobwas/ws frames whatever it is given.
	nc, br, _, err := gobwas.Dial(ctx, serve(t, config.Default().Echo))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer nc.Close()
	if err := nc.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	frame := gobwas.MaskFrame(gobwas.NewTextFrame([]byte("ok \xff\xfe not utf-8")))
	if err := gobwas.WriteFrame(nc, frame); err != nil {
		t.Fatalf("write: %v", err)
	}
	var r io.Reader = nc
	if br != nil {
		r = io.MultiReader(br, nc)
	}
	br2 := bufio.NewReader(r)
	h, err := gobwas.ReadHeader(br2)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if h.OpCode != gobwas.OpClose || h.Length > 125 {
		t.Fatalf("got opcode %v length %d, want a close frame", h.OpCode, h.Length)
	}
	payload := make([]byte, h.Length)
	if _, err := io.ReadFull(br2, payload); err != nil {
		t.Fatalf("read: %v", err)
	}
	code, reason := gobwas.ParseCloseFrameData(payload)
	if code != gobwas.StatusInvalidFramePayloadData {
		t.Fatalf("close %d %q, want 1007", code, reason)
	}
}

func TestAnyOriginMayConnect(t *testing.T) {
	ctx := testCtx(t)
	url := serve(t, config.Default().Echo)
	for _, origin := range []string{"https://elsewhere.example", "null", "http://localhost:3000"} {
		c := dial(t, ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {origin}}})
		if err := c.Write(ctx, websocket.MessageText, []byte(origin)); err != nil {
			t.Fatalf("origin %s: write: %v", origin, err)
		}
		if _, got, err := c.Read(ctx); err != nil || string(got) != origin {
			t.Fatalf("origin %s: read %q, %v", origin, got, err)
		}
		_ = c.Close(websocket.StatusNormalClosure, "")
	}
}

func TestConfiguredPath(t *testing.T) {
	cfg := config.Default().Echo
	cfg.Path = "/custom/echo"
	d, err := echo.New(cfg, dialect.Deps{WebSocket: server.WebSocketOptions(config.Default().WebSocket)})
	if err != nil {
		t.Fatal(err)
	}
	routes := d.Routes()
	if len(routes) != 1 || routes[0].Pattern != "GET /custom/echo" || routes[0].Protocol != dialect.ProtocolWebSocket {
		t.Fatalf("Routes() = %+v, want one WebSocket route GET /custom/echo", routes)
	}
	if d.Name() != "echo" {
		t.Fatalf("Name() = %q", d.Name())
	}
	if err := d.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	ctx := testCtx(t)
	c := dial(t, ctx, serve(t, cfg), nil)
	if err := c.Write(ctx, websocket.MessageText, []byte("here")); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.Read(ctx); err != nil || string(got) != "here" {
		t.Fatalf("read %q, %v", got, err)
	}
}

// A plain HTTP request to the endpoint is refused, not echoed.
func TestPlainHTTPIsRefused(t *testing.T) {
	url := "http" + strings.TrimPrefix(serve(t, config.Default().Echo), "ws")
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("GET without upgrade = %d, want 400", resp.StatusCode)
	}
}
