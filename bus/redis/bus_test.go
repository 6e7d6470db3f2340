package redis

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/internal/redistest"
)

func TestEnvelope(t *testing.T) {
	for _, m := range []bus.Message{
		{Payload: []byte("hello"), Except: 42, Origin: "o"},
		{Payload: nil, Except: 0, Origin: ""},
		{Payload: []byte(strings.Repeat("x", 70000)), Except: 1<<64 - 1, Origin: strings.Repeat("n", 300)},
	} {
		sender, got, err := decodeEnvelope(string(encodeEnvelope("node-1", m)))
		if err != nil {
			t.Fatal(err)
		}
		if sender != "node-1" || got.Origin != m.Origin || got.Except != m.Except || string(got.Payload) != string(m.Payload) {
			t.Errorf("round trip of %+v: sender %q, got %+v", m, sender, got)
		}
	}
	for _, bad := range []string{"", "\x02abc", "\x01\x05ab", "\x01\x00\x00"} {
		if _, _, err := decodeEnvelope(bad); err == nil {
			t.Errorf("decodeEnvelope(%q) accepted", bad)
		}
	}
}

func TestLexRange(t *testing.T) {
	tests := []struct{ prefix, lo, hi string }{
		{"", "-", "+"},
		{"pusher/1/", "[pusher/1/", "(pusher/10"},
		{"a\xff", "[a\xff", "(b"},
		{"\xff\xff", "[\xff\xff", "+"},
	}
	for _, tt := range tests {
		lo, hi := lexRange(tt.prefix)
		if lo != tt.lo || hi != tt.hi {
			t.Errorf("lexRange(%q) = %q, %q; want %q, %q", tt.prefix, lo, hi, tt.lo, tt.hi)
		}
	}
}

func TestOptions(t *testing.T) {
	if _, err := New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
	if _, err := New(&Options{}); err == nil {
		t.Error("New without URL succeeded")
	}
	_, err := New(&Options{URL: "http://user:s3cret@host/"})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad scheme: err %v (must fail without showing the password)", err)
	}
	if _, err := New(&Options{URL: "redis://127.0.0.1:1/0", PresenceTTL: time.Second, HeartbeatInterval: time.Second}); err == nil {
		t.Error("a TTL under twice the heartbeat was accepted")
	}
	b, err := New(&Options{URL: "redis://127.0.0.1:1/0", NodeID: "a:b"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if id := b.NodeID(); !strings.HasPrefix(id, "a_b-") || len(id) != len("a_b-")+8 {
		t.Errorf("NodeID() = %q, want a_b- and 8 hex digits", id)
	}
}

// Three nodes: a subscriber on A receives what B and C publish, and each
// publisher's own subscriber gets its message once (no echo through Redis).
func TestCrossNodeDelivery(t *testing.T) {
	srv := redistest.Start(t)
	nodes := newCluster(t, srv, 3, nil)
	a, b, c := nodes[0], nodes[1], nodes[2]
	ra, _ := subscribe(t, a, "room")
	rb, _ := subscribe(t, b, "room")
	rOther, _ := subscribe(t, c, "other")

	publish(t, b, "room", "from-b")
	publish(t, c, "room", "from-c")
	waitFor(t, 5*time.Second, "A to get both", func() bool { return ra.count() == 2 })
	waitFor(t, 5*time.Second, "B to get both", func() bool { return rb.count() == 2 })
	got := ra.got()
	slices.Sort(got)
	if !slices.Equal(got, []string{"from-b", "from-c"}) {
		t.Errorf("A got %q", got)
	}
	// A marker published after, on the same channel from B, arrives after
	// everything before it: no duplicate is still on its way.
	publish(t, b, "room", "marker")
	waitFor(t, 5*time.Second, "marker", func() bool { return ra.count() == 3 && rb.count() == 3 })
	if n := rOther.count(); n != 0 {
		t.Errorf("a subscriber of another channel got %d messages", n)
	}
	waitFor(t, 5*time.Second, "B's stats to count 2 published", func() bool { return b.bus.Stats().Published == 2 })
	if s := b.bus.Stats(); s.Dropped != 0 || s.Received != 1 {
		t.Errorf("B stats %+v: want 0 dropped, 1 received (C's)", s)
	}
}

// Except names a subscriber on another node; it alone is skipped.
func TestExceptAcrossNodes(t *testing.T) {
	srv := redistest.Start(t)
	nodes := newCluster(t, srv, 2, nil)
	r1, id1 := subscribe(t, nodes[0], "ch")
	r2, _ := subscribe(t, nodes[0], "ch")
	if err := nodes[1].hub.Publish(context.Background(), "ch", []byte("x"), id1); err != nil {
		t.Fatal(err)
	}
	publish(t, nodes[1], "ch", "marker")
	waitFor(t, 5*time.Second, "marker", func() bool { return r2.count() == 2 })
	if got := r1.got(); !slices.Equal(got, []string{"marker"}) {
		t.Errorf("the excepted subscriber got %q", got)
	}
}

// Messages published on one node to one channel arrive in publish order on
// every other node, also while other channels are busy.
func TestOrderPerChannel(t *testing.T) {
	srv := redistest.Start(t)
	nodes := newCluster(t, srv, 3, nil)
	const n = 2000
	chans := []string{"c0", "c1", "c2", "c3"}
	recs := map[string]*recorder{}
	for _, ch := range chans {
		recs[ch], _ = subscribe(t, nodes[0], ch)
		subscribe(t, nodes[2], ch)
	}
	for i := range n {
		for _, ch := range chans {
			publish(t, nodes[1], ch, ch+":"+strconv.Itoa(i))
		}
	}
	for _, ch := range chans {
		r := recs[ch]
		waitFor(t, 10*time.Second, "all messages of "+ch, func() bool { return r.count() == n })
		want := seq(ch+":", n)
		if got := r.got(); !slices.Equal(got, want) {
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%s: message %d is %q, want %q", ch, i, got[i], want[i])
				}
			}
		}
	}
}

// A Handler may call Subscribe and Unsubscribe (the hub does, when a
// delivery overflows a queue): the acknowledgement must still be read.
func TestSubscribeFromHandler(t *testing.T) {
	srv := redistest.Start(t)
	nodes := newCluster(t, srv, 2, nil)
	a, b := nodes[0], nodes[1]
	ra, _ := subscribe(t, a, "later")
	done := make(chan error, 1)
	trigger := &funcSub{f: func() {
		// Runs on A's delivery goroutine, inside the Handler.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := a.hub.Subscribe(ctx, "new-"+time.Now().String(), a.hub.NewID(), &recorder{})
		done <- err
	}}
	if _, err := a.hub.Subscribe(context.Background(), "trigger", a.hub.NewID(), trigger); err != nil {
		t.Fatal(err)
	}
	publish(t, b, "trigger", "go")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Subscribe from the handler: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Subscribe from inside the handler did not return: deadlock")
	}
	publish(t, b, "later", "after")
	waitFor(t, 5*time.Second, "delivery after the nested subscribe", func() bool { return ra.count() == 1 })
}

// funcSub runs f on its first delivery, on the delivering goroutine.
type funcSub struct {
	f    func()
	done bool
}

func (s *funcSub) Deliver(*hub.Message) error {
	if !s.done {
		s.done = true
		s.f()
	}
	return nil
}

// A subscription made after the channel was vacated and occupied again
// still receives; the bus's interest follows the hub's.
func TestResubscribe(t *testing.T) {
	srv := redistest.Start(t)
	nodes := newCluster(t, srv, 2, nil)
	a, b := nodes[0], nodes[1]
	for i := range 20 {
		r, id := subscribe(t, a, "flap")
		publish(t, b, "flap", "m")
		waitFor(t, 5*time.Second, "delivery", func() bool { return r.count() == 1 })
		if !a.hub.Unsubscribe("flap", id) {
			t.Fatalf("round %d: not the last subscriber", i)
		}
	}
	if got := a.bus.subscribed(); len(got) != 0 {
		t.Errorf("bus still interested in %q", got)
	}
}

var _ hub.Subscriber = (*funcSub)(nil)
