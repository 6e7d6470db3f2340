package ws

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// TestDeflateOffers sends handshakes with lists of permessage-deflate
// offers (RFC 7692 §5: the client's order is its preference) and checks
// the one answer: the first offer the server can honour, or none, and a
// connection that echoes either way.
func TestDeflateOffers(t *testing.T) {
	for _, tt := range []struct {
		name, offers, want string // want: the Sec-WebSocket-Extensions answer, "" for none
	}{
		{"one plain offer", "permessage-deflate", "permessage-deflate;server_no_context_takeover;client_no_context_takeover"},
		{"the first of several offers, with its window", "permessage-deflate; client_no_context_takeover; server_max_window_bits=9, permessage-deflate; client_no_context_takeover, permessage-deflate",
			"permessage-deflate;server_no_context_takeover;client_no_context_takeover;server_max_window_bits=9"},
		{"client_max_window_bits needs no answer", "permessage-deflate; client_max_window_bits=10",
			"permessage-deflate;server_no_context_takeover;client_no_context_takeover"},
		{"a bad window is declined, the fallback taken", "permessage-deflate; server_max_window_bits=7, permessage-deflate; server_max_window_bits=8",
			"permessage-deflate;server_no_context_takeover;client_no_context_takeover;server_max_window_bits=8"},
		{"in two header lines", "x-webkit-deflate-frame\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
			"permessage-deflate;server_no_context_takeover;client_no_context_takeover"},
		{"only unknown extensions", "x-webkit-deflate-frame, foo; bar=1", ""},
		{"an offer with an unknown parameter is declined, the next taken", "permessage-deflate; frobnicate, permessage-deflate",
			"permessage-deflate;server_no_context_takeover;client_no_context_takeover"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, Options{Compression: true, PingInterval: -1}, true)
			nc, err := net.Dial("tcp", strings.TrimPrefix(ts.url, "ws://"))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if err := nc.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
				t.Fatal(err)
			}
			req := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Extensions: " + tt.offers + "\r\n\r\n"
			if _, err := io.WriteString(nc, req); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(nc)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %d", resp.StatusCode)
			}
			got := resp.Header.Values("Sec-WebSocket-Extensions")
			switch {
			case tt.want == "" && len(got) != 0:
				t.Fatalf("extensions %q, want none", got)
			case tt.want != "" && (len(got) != 1 || got[0] != tt.want):
				t.Fatalf("extensions %q, want exactly %q", got, tt.want)
			}
			if err := ws.WriteFrame(nc, ws.MaskFrame(ws.NewTextFrame([]byte("hello")))); err != nil {
				t.Fatal(err)
			}
			f, err := readFrame(br)
			if err != nil || f.Header.OpCode != ws.OpText || string(f.Payload) != "hello" {
				t.Fatalf("echo: %v %q %v", f.Header.OpCode, f.Payload, err)
			}
		})
	}
}
