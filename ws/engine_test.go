package ws

import (
	"context"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// Servers given one Engine share its pollers and writers, each serves its
// own connections with its own options, and one shutting down leaves the
// other serving; the Engine's Close then ends every goroutine (goleak, in
// TestMain).
func TestSharedEngine(t *testing.T) {
	e := NewEngine()
	t.Cleanup(e.Close) // after the servers' cleanups: cleanups run last first
	a := newTestServer(t, Options{Engine: e}, true)
	b := newTestServer(t, Options{Engine: e, MaxPayload: 4}, true)
	ca, cb := dialRaw(t, a.url, nil), dialRaw(t, b.url, nil)
	echo := func(c *rawClient, msg string) {
		t.Helper()
		c.send(ws.NewTextFrame([]byte(msg)))
		if f := c.read(); string(f.Payload) != msg {
			t.Fatalf("echo %q, want %q", f.Payload, msg)
		}
	}
	echo(ca, "hello a")
	echo(cb, "b")
	if a.engine != b.engine || a.ready != b.ready || a.poller != b.poller || a.wpoller != b.wpoller {
		t.Fatal("the servers run on different pollers or writers")
	}
	if a.poller == nil {
		t.Fatal("no poller: the connections are not in raw mode")
	}
	// Each keeps its options: b's payload limit is not a's.
	cb.send(ws.NewTextFrame([]byte("too long for b")))
	if code, _ := cb.readClose(); code != StatusMessageTooBig {
		t.Fatalf("b closed with %d, want %d", code, StatusMessageTooBig)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown b: %v", err)
	}
	echo(ca, "a after b's shutdown")
	e.mu.Lock()
	left := e.servers
	e.mu.Unlock()
	if len(left) != 1 || left[0].s != a.Server {
		t.Fatalf("%d servers on the sweeper after b's shutdown, want a alone", len(left))
	}
}

// The sweeper ticks at the shortest interval of its servers and sweeps
// each at its own.
func TestEngineSweepsEachServerAtItsInterval(t *testing.T) {
	fast := &sweptServer{interval: 20 * time.Millisecond}
	slow := &sweptServer{interval: time.Second}
	e := &Engine{servers: []*sweptServer{fast, slow}}
	tick := e.tick()
	if tick != fast.interval {
		t.Fatalf("tick %v, want %v", tick, fast.interval)
	}
	swept := map[*sweptServer]int{}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for i := range 100 { // two seconds of ticks, each a little late or early
		jitter := time.Duration(i%3-1) * time.Millisecond
		now := start + int64(time.Duration(i)*tick+jitter)
		for _, sw := range e.due(nil, now, tick) {
			swept[sw]++
		}
	}
	if swept[fast] != 100 {
		t.Errorf("the 20 ms server was swept %d times in 100 ticks, want 100", swept[fast])
	}
	if swept[slow] != 2 {
		t.Errorf("the 1 s server was swept %d times in 2 s, want 2", swept[slow])
	}
}

// A Server on an Engine already closed still serves, in stream mode: Close
// starts nothing, and leaves nothing running.
func TestServerOnClosedEngine(t *testing.T) {
	e := NewEngine()
	e.Close()
	s := newTestServer(t, Options{Engine: e}, true)
	c := dialRaw(t, s.url, nil)
	c.send(ws.NewTextFrame([]byte("still here")))
	if f := c.read(); string(f.Payload) != "still here" {
		t.Fatalf("echo %q", f.Payload)
	}
	if s.poller != nil || s.ready != nil {
		t.Fatal("a closed Engine started its pollers or writers")
	}
}
