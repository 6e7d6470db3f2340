package ws

import (
	"context"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestAddrLimit caps the connections of one address across two Servers that
// share an AddrLimit, and lets a new one in once an old one has ended.
func TestAddrLimit(t *testing.T) {
	limit := NewAddrLimit(2)
	a := newTestServer(t, Options{AddrLimit: limit}, false)
	b := newTestServer(t, Options{AddrLimit: limit}, false)
	loopback := netip.MustParseAddr("127.0.0.1")

	first := dialRaw(t, a.url, nil)
	<-a.conns
	dialRaw(t, b.url, nil)
	<-b.conns
	if n := limit.Open(loopback); n != 2 {
		t.Fatalf("Open = %d after two connections, want 2", n)
	}
	if n := limit.Open(netip.MustParseAddr("::ffff:127.0.0.1")); n != 2 {
		t.Fatalf("Open of the IPv4-mapped form = %d, want 2: one client is one key", n)
	}

	for _, ts := range []*testServer{a, b} {
		_, resp, err := websocket.Dial(context.Background(), ts.url, nil)
		if err == nil {
			t.Fatal("a third connection from one address was accepted over AddrLimit 2")
		}
		if resp == nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("response = %v, want 429 with Retry-After", resp)
		}
	}
	if got := a.Stats().RefusedPerAddr + b.Stats().RefusedPerAddr; got != 2 {
		t.Fatalf("RefusedPerAddr = %d, want 2", got)
	}

	first.nc.Close()
	a.next(t, "close")
	// finish releases the address after OnClose returns.
	deadline := time.Now().Add(5 * time.Second)
	for limit.Open(loopback) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("Open = %d 5 s after a connection ended, want 1", limit.Open(loopback))
		}
		time.Sleep(time.Millisecond)
	}
	c, _, err := websocket.Dial(context.Background(), a.url, nil)
	if err != nil {
		t.Fatalf("a connection after one ended was refused: %v", err)
	}
	c.CloseNow()
}

// TestAddrLimitReleasesRefusedHandshakes checks that a handshake refused
// after the address was counted (here by MaxConnections) counts it out.
func TestAddrLimitReleasesRefusedHandshakes(t *testing.T) {
	limit := NewAddrLimit(5)
	ts := newTestServer(t, Options{AddrLimit: limit, MaxConnections: 1}, false)
	dialRaw(t, ts.url, nil)
	<-ts.conns
	if _, _, err := websocket.Dial(context.Background(), ts.url, nil); err == nil {
		t.Fatal("accepted over MaxConnections")
	}
	resp, err := http.Get(ts.http.URL) // not a handshake: 400 after counting in
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := limit.Open(netip.MustParseAddr("127.0.0.1")); n != 1 {
		t.Fatalf("Open = %d, want 1: refused handshakes were not counted out", n)
	}
}

func TestNewAddrLimitZeroIsNone(t *testing.T) {
	if NewAddrLimit(0) != nil || NewAddrLimit(-1) != nil {
		t.Fatal("NewAddrLimit(<=0) is not nil (no limit)")
	}
}
