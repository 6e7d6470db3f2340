package atmosphere

import (
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/dialect"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/ws"
)

// TestOversizedFrames checks where an oversized action stops getting
// error 9 and closes the connection with 1009: over the larger of
// websocket.max_payload and four times max_request_size, as
// docs/atmosphere.md says.
func TestOversizedFrames(t *testing.T) {
	for _, tt := range []struct {
		name           string
		maxPayload     int64 // websocket.max_payload; 0 is its default, 1 MiB
		maxRequestSize int
		frame          int
		closed         bool
	}{
		{"over max_request_size: error 9", 0, 1000, 1500, false},
		{"over 4 x max_request_size, under max_payload: error 9", 0, 1000, 5000, false},
		{"over both: 1009", 2000, 1000, 5000, true},
		{"max_payload under 4 x max_request_size: 4 x decides", 2000, 1000, 3500, false},
		{"over max_payload (the larger): 1009", 10000, 1000, 12000, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.MaxRequestSize = tt.maxRequestSize
			h, err := hub.New(nil)
			if err != nil {
				t.Fatal(err)
			}
			clock := newFakeClock()
			d, err := newDialect(cfg, dialect.Deps{Hub: h, WebSocket: ws.Options{PingInterval: -1, MaxPayload: tt.maxPayload}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, options{now: clock.now, noTicker: true})
			if err != nil {
				t.Fatal(err)
			}
			e := serve(t, d, h, clock)
			e.t = t
			c := e.dial("")
			c.send(`{"action":"subscribe","pad":"` + strings.Repeat("p", tt.frame-30) + `"}`)
			if tt.closed {
				if code := c.closeStatus(); code != websocket.StatusMessageTooBig {
					t.Fatalf("close code %d, want 1009", code)
				}
				return
			}
			if m := c.nextJSON(); m["type"] != "error" || apiCode(m) != int(CodeTooLarge) {
				t.Fatalf("got %v, want error 9", m)
			}
		})
	}
}

// TestDocStatesTheFrameLimit keeps docs/atmosphere.md saying what
// TestOversizedFrames checks.
func TestDocStatesTheFrameLimit(t *testing.T) {
	doc, err := os.ReadFile("../../docs/atmosphere.md")
	if err != nil {
		t.Fatal(err)
	}
	const want = "WebSocket frames over the larger of `websocket.max_payload` (1 MiB by default) and four times\n`max_request_size` are closed with 1009"
	if !strings.Contains(string(doc), want) {
		t.Fatalf("docs/atmosphere.md does not say %q", want)
	}
	if config.Default().WebSocket.MaxPayload != 1<<20 {
		t.Fatal("websocket.max_payload's default is no longer 1 MiB: update docs/atmosphere.md")
	}
}
