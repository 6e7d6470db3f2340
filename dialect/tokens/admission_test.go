package tokens

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/switchboard-rt/switchboard/config"
)

// refused dials with query q and headers h and checks the handshake is
// answered with status and a body containing body.
func (b *broker) refused(t *testing.T, q string, h http.Header, status int, body string) {
	t.Helper()
	_, resp, err := b.tryDial(t, q, h)
	if err == nil {
		t.Fatalf("dial ?%s: accepted, want HTTP %d", q, status)
	}
	if resp == nil {
		t.Fatalf("dial ?%s: %v, want HTTP %d", q, err, status)
	}
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status || !strings.Contains(string(got), body) {
		t.Fatalf("dial ?%s: HTTP %d %q, want %d %q", q, resp.StatusCode, got, status, body)
	}
}

func TestAdmissionWithoutUnregisteredClients(t *testing.T) {
	b := newBroker(t, func(c *config.Tokens) {
		c.AllowUnregisteredClients = false
		c.RegisteredTokens = config.TokenList{"abc1", "group/item1"}
	})
	tests := []struct {
		name, query string
		status      int // 0: accepted
		body        string
	}{
		{"registered", "RegisterToken=abc1", 0, ""},
		{"registered group member", "RegisterToken=group/item1", 0, ""},
		{"no token", "", http.StatusForbidden, "unregistered token"},
		{"empty token", "RegisterToken=", http.StatusForbidden, "unregistered token"},
		{"unknown token", "RegisterToken=zzz", http.StatusForbidden, "unregistered token"},
		{"group prefix is not a token", "RegisterToken=group/", http.StatusForbidden, "unregistered token"},
		{"invalid token", "RegisterToken=a%7Cb", http.StatusForbidden, "invalid token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.status == 0 {
				if _, _, err := b.tryDial(t, tt.query, nil); err != nil {
					t.Fatal(err)
				}
				return
			}
			b.refused(t, tt.query, nil, tt.status, tt.body)
		})
	}

	// A bad RegisterToken frame is answered and the old token kept.
	p := b.dial(t, "abc1")
	p.send("RegisterToken:zzz")
	p.expect(errUnregistered)
	p.send("RegisterToken:")
	p.expect("error. token required")
	p.send("abc1|still abc1")
	p.expect("still abc1")
	p.send("RegisterToken:group/item1")
	p.sync()
	p.send("group/|now in the group")
	p.expect("now in the group")

	// The API registers and unregisters tokens; holders stay connected.
	if st, body := b.post(t, form("method", "registerToken", "token", "zzz"), nil); st != http.StatusOK {
		t.Fatalf("registerToken: %d %s", st, body)
	}
	zzz := b.dial(t, "zzz")
	if st, body := b.post(t, form("method", "unregisterToken", "token", "zzz"), nil); st != http.StatusOK {
		t.Fatalf("unregisterToken: %d %s", st, body)
	}
	b.refused(t, "RegisterToken=zzz", nil, http.StatusForbidden, "unregistered token")
	p.send("RegisterToken:zzz")
	p.expect(errUnregistered)
	p.send("zzz|still connected")
	zzz.expect("still connected")
	p.sync()
	zzz.sync()
}

func TestAdmissionWithUnregisteredClients(t *testing.T) {
	b := newBroker(t, func(c *config.Tokens) { c.RegisteredTokens = config.TokenList{"abc1"} })
	b.dial(t, "never-registered")
	b.dial(t, "")
	p := b.dial(t, "abc1")
	p.send("RegisterToken:also-unregistered")
	p.sync() // no error reply
	b.refused(t, "RegisterToken="+strings.Repeat("x", MaxTokenLength+1), nil, http.StatusForbidden, "invalid token")
	b.refused(t, "RegisterToken="+strings.Repeat("a/", MaxTokenDepth+1), nil, http.StatusForbidden, "invalid token")
}

func TestOrigin(t *testing.T) {
	origin := func(o string) http.Header { return http.Header{"Origin": {o}} }
	tests := []struct {
		name, allowed, origin string
		ok                    bool
	}{
		{"any", "*", "https://anything.example", true},
		{"any without Origin", "*", "", true},
		{"listed", "https://good.example, http://localhost:3000", "https://good.example", true},
		{"second listed", "https://good.example, http://localhost:3000", "http://localhost:3000", true},
		{"listed, other case", "https://good.example", "https://GOOD.example", true},
		{"not listed", "https://good.example", "https://evil.example", false},
		{"other port", "http://localhost:3000", "http://localhost:3001", false},
		{"other scheme", "https://good.example", "http://good.example", false},
		{"no Origin: not a browser", "https://good.example", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBroker(t, func(c *config.Tokens) { c.Origin = tt.allowed })
			var h http.Header
			if tt.origin != "" {
				h = origin(tt.origin)
			}
			if !tt.ok {
				b.refused(t, "RegisterToken=abc1", h, http.StatusForbidden, "origin not allowed")
				return
			}
			if _, _, err := b.tryDial(t, "RegisterToken=abc1", h); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestHandshakeErrors(t *testing.T) {
	b := newBroker(t, nil)
	resp, err := b.http.Client().Get(b.http.URL + "/ws?RegisterToken=abc1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("GET /ws without an upgrade: HTTP %d, want 400", resp.StatusCode)
	}
	// The API does not swallow other paths.
	for path, want := range map[string]int{"/other": http.StatusOK, "/nope": http.StatusNotFound, "/ws/x": http.StatusNotFound} {
		resp, err := b.http.Client().Get(b.http.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: HTTP %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func TestBinaryFrames(t *testing.T) {
	b := newBroker(t, nil)
	p := b.dial(t, "abc1")
	ctx := t.Context()
	if err := p.c.Write(ctx, websocket.MessageBinary, []byte("Echo:binary")); err != nil {
		t.Fatal(err)
	}
	p.expect("binary")
	if err := p.c.Write(ctx, websocket.MessageBinary, []byte("abc1|\xff")); err != nil {
		t.Fatal(err)
	}
	if code := p.closeStatus(); code != websocket.StatusInvalidFramePayloadData {
		t.Fatalf("close code %d, want 1007", code)
	}
}

func TestShutdownClosesClients(t *testing.T) {
	b := newBroker(t, nil)
	p := b.dial(t, "abc1")
	done := make(chan error, 1)
	go func() { done <- b.Shutdown(t.Context()) }() // waits for the client's Close
	if code := p.closeStatus(); code != websocket.StatusGoingAway {
		t.Fatalf("close code %d, want 1001", code)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestRoutesAreExact(t *testing.T) {
	tests := []struct{ path, apiPath, wsPattern, apiPattern string }{
		{"/ws", "/", "GET /ws", "/{$}"},
		{"/tokens/ws/", "/tokens/api", "GET /tokens/ws/{$}", "/tokens/api"},
	}
	for _, tt := range tests {
		b := newBroker(t, func(c *config.Tokens) { c.Path, c.APIPath = tt.path, tt.apiPath })
		r := b.Routes()
		if r[0].Pattern != tt.wsPattern || r[1].Pattern != tt.apiPattern {
			t.Errorf("%s, %s: patterns %q, %q", tt.path, tt.apiPath, r[0].Pattern, r[1].Pattern)
		}
	}
}
