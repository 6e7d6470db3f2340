package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestDialectsShareOneEngine checks that serve gives every dialect the same
// ws.Engine: once one dialect's connection has started the engine's
// pollers, connections to the others open no epoll set of their own (a
// Server with an engine of its own would add two, a read and a write
// poller).
func TestDialectsShareOneEngine(t *testing.T) {
	t.Chdir(t.TempDir()) // no stray config file; and never in parallel
	s := startServe(t, nil, "--config", "")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	dial := func(path string) *websocket.Conn {
		t.Helper()
		c, _, err := websocket.Dial(ctx, "ws://"+s.addr+path, nil)
		if err != nil {
			t.Fatalf("dial %s: %v", path, err)
		}
		t.Cleanup(func() { c.CloseNow() })
		return c
	}
	// A round trip on /echo: the engine is running once it answers.
	echo := dial("/echo")
	if err := echo.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := echo.Read(ctx); err != nil {
		t.Fatal(err)
	}
	before := epollSets(t)

	// pusher:connection_established comes through the Pusher dialect's
	// server; the token broker answers Echo:x through its own.
	pusher := dial("/app/app-key?protocol=7")
	if _, _, err := pusher.Read(ctx); err != nil {
		t.Fatal(err)
	}
	tokens := dial("/ws")
	if err := tokens.Write(ctx, websocket.MessageText, []byte("Echo:x")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tokens.Read(ctx); err != nil {
		t.Fatal(err)
	}
	if after := epollSets(t); after != before {
		t.Fatalf("epoll sets: %d with /echo connected, %d with /app and /ws too; want one engine's for all", before, after)
	}
}

// epollSets counts this process's epoll descriptors.
func epollSets(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && target == "anon_inode:[eventpoll]" {
			n++
		}
	}
	return n
}
