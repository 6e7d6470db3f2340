package ws

import (
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// tick is one OnTick call seen by TestOnTick.
type tick struct {
	conn int // 1 or 2, in the order of connection
	now  int64
}

// The sweeper calls each open connection's OnTick at the interval asked
// for, with the server clock, which advances; a closed connection's stops.
func TestOnTick(t *testing.T) {
	ticks := make(chan tick, 256)
	closed := make(chan int, 2)
	var n atomic.Int32
	srv := NewServer(Options{})
	srv.SetTickInterval(20 * time.Millisecond)
	srv.OnConnection(func(c *Conn) {
		id := int(n.Add(1))
		c.OnTick(func(now int64) {
			if now != srv.Now() {
				t.Errorf("tick at %d, server clock %d", now, srv.Now())
			}
			select {
			case ticks <- tick{id, now}:
			default:
			}
		})
		c.OnClose(func(StatusCode, string) { closed <- id })
	})
	hs := serveOn(t, srv, httptest.NewServer(srv))
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	c1 := dialRaw(t, url, nil)
	first := nextTick(t, ticks, 1)
	dialRaw(t, url, nil)
	var last int64
	for range 3 {
		last = nextTick(t, ticks, 1).now
	}
	if last <= first.now {
		t.Errorf("the clock did not advance: %d, then %d", first.now, last)
	}
	c1.nc.Close()
	select {
	case id := <-closed:
		if id != 1 {
			t.Fatalf("connection %d closed", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnClose not called")
	}
	// The sweeper goes on, for the other connection only; a tick of the
	// first that had begun as it closed may still arrive.
	for len(ticks) > 0 {
		<-ticks // queued before the close
	}
	stale := 0
	for seen := 0; seen < 3; {
		switch tk := recvTick(t, ticks); {
		case tk.conn == 2:
			seen++
		case stale > 0:
			t.Fatal("OnTick goes on after OnClose")
		default:
			stale++
		}
	}
}

// recvTick returns the next tick, failing the test after 5 s.
func recvTick(t *testing.T, ticks <-chan tick) tick {
	t.Helper()
	select {
	case tk := <-ticks:
		return tk
	case <-time.After(5 * time.Second):
		t.Fatal("no tick within 5 s")
		return tick{}
	}
}

// nextTick returns the next tick of connection id, skipping the other's.
func nextTick(t *testing.T, ticks <-chan tick, id int) tick {
	t.Helper()
	for {
		if tk := recvTick(t, ticks); tk.conn == id {
			return tk
		}
	}
}
