package hub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/ws"
)

func TestSubscribeUnsubscribe(t *testing.T) {
	type step struct {
		op      string // "sub", "unsub"
		channel string
		id      SubscriberID
		want    bool // first for sub, last for unsub
	}
	tests := []struct {
		name      string
		steps     []step
		wantCount map[string]int
	}{
		{
			name:      "first and last",
			steps:     []step{{"sub", "a", 1, true}, {"unsub", "a", 1, true}},
			wantCount: map[string]int{"a": 0},
		},
		{
			name: "two subscribers",
			steps: []step{
				{"sub", "a", 1, true}, {"sub", "a", 2, false},
				{"unsub", "a", 1, false}, {"unsub", "a", 2, true},
			},
			wantCount: map[string]int{"a": 0},
		},
		{
			name:      "resubscribing an id replaces it",
			steps:     []step{{"sub", "a", 1, true}, {"sub", "a", 1, false}},
			wantCount: map[string]int{"a": 1},
		},
		{
			name:      "unsubscribe unknown id or channel",
			steps:     []step{{"sub", "a", 1, true}, {"unsub", "a", 2, false}, {"unsub", "b", 1, false}},
			wantCount: map[string]int{"a": 1, "b": 0},
		},
		{
			name:      "channels are independent",
			steps:     []step{{"sub", "a", 1, true}, {"sub", "b", 1, true}, {"unsub", "a", 1, true}},
			wantCount: map[string]int{"a": 0, "b": 1},
		},
		{
			name:      "occupied again after vacated",
			steps:     []step{{"sub", "a", 1, true}, {"unsub", "a", 1, true}, {"sub", "a", 1, true}},
			wantCount: map[string]int{"a": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHub(t, nil)
			for i, s := range tt.steps {
				var got bool
				if s.op == "sub" {
					got = mustSubscribe(t, h, s.channel, s.id, &recorder{})
				} else {
					got = h.Unsubscribe(s.channel, s.id)
				}
				if got != s.want {
					t.Fatalf("step %d %s(%q, %d) = %v, want %v", i, s.op, s.channel, s.id, got, s.want)
				}
			}
			total := 0
			for ch, want := range tt.wantCount {
				if got := h.SubscriberCount(ch); got != want {
					t.Errorf("SubscriberCount(%q) = %d, want %d", ch, got, want)
				}
				total += want
			}
			if st := h.Stats(); st.Subscriptions != total {
				t.Errorf("Stats().Subscriptions = %d, want %d", st.Subscriptions, total)
			}
		})
	}
}

func TestSubscribeRejects(t *testing.T) {
	h := newHub(t, nil)
	if _, err := h.Subscribe(context.Background(), "a", NoID, &recorder{}); err == nil {
		t.Error("Subscribe with NoID succeeded")
	}
	if _, err := h.Subscribe(context.Background(), "a", 1, nil); err == nil {
		t.Error("Subscribe with a nil Subscriber succeeded")
	}
	if n := h.SubscriberCount("a"); n != 0 {
		t.Errorf("SubscriberCount = %d after rejected subscribes", n)
	}
}

func TestPublish(t *testing.T) {
	tests := []struct {
		name   string
		subs   int
		except SubscriberID
		opts   *Options
	}{
		{name: "one", subs: 1},
		{name: "many", subs: 50},
		{name: "except", subs: 5, except: 3},
		{name: "except alone", subs: 1, except: 1},
		{name: "except unknown", subs: 3, except: 99},
		{name: "parallel", subs: 1000, except: 500, opts: &Options{ParallelThreshold: 16, FanoutParallelism: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHub(t, tt.opts)
			recs := make([]*recorder, tt.subs+1)
			for id := 1; id <= tt.subs; id++ {
				recs[id] = &recorder{}
				mustSubscribe(t, h, "room", SubscriberID(id), recs[id])
			}
			other := &recorder{}
			mustSubscribe(t, h, "other", 1, other)

			mustPublish(t, h, "room", "hello", tt.except)

			wantDelivered := 0
			for id := 1; id <= tt.subs; id++ {
				want := []string{"hello"}
				if SubscriberID(id) == tt.except {
					want = nil
				} else {
					wantDelivered++
				}
				if got := recs[id].got(); !slices.Equal(got, want) {
					t.Fatalf("subscriber %d got %q, want %q", id, got, want)
				}
			}
			if got := other.got(); len(got) != 0 {
				t.Errorf("subscriber of another channel got %q", got)
			}
			st := h.Stats()
			if st.Published != 1 || st.Received != 1 || st.Delivered != uint64(wantDelivered) {
				t.Errorf("Stats = %+v, want Published 1, Received 1, Delivered %d", st, wantDelivered)
			}
		})
	}
}

func TestPublishToEmptyChannel(t *testing.T) {
	h := newHub(t, nil)
	mustPublish(t, h, "nobody", "x", NoID)
	if st := h.Stats(); st.Published != 1 || st.Delivered != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestUnsubscribedGetsNothing(t *testing.T) {
	h := newHub(t, nil)
	recs := make([]*recorder, 10)
	for i := range recs {
		recs[i] = &recorder{}
		mustSubscribe(t, h, "a", SubscriberID(i+1), recs[i])
	}
	// Remove every other one, which also exercises compaction of the list.
	for i := 0; i < len(recs); i += 2 {
		h.Unsubscribe("a", SubscriberID(i+1))
	}
	mustPublish(t, h, "a", "m", NoID)
	for i, r := range recs {
		if got, want := len(r.got()), i%2; got != want {
			t.Errorf("subscriber %d got %d messages, want %d", i+1, got, want)
		}
	}
}

// A full queue is counted as a slow consumer; the subscription stays until
// its owner unsubscribes it, as the dialect does when the connection closes.
func TestSlowConsumer(t *testing.T) {
	h := newHub(t, nil)
	slow := &recorder{err: ws.ErrQueueFull}
	closed := SubscriberFunc(func(*Message) error { return ws.ErrClosed })
	fine := &recorder{}
	mustSubscribe(t, h, "a", 1, slow)
	mustSubscribe(t, h, "a", 2, closed)
	mustSubscribe(t, h, "a", 3, fine)

	mustPublish(t, h, "a", "m1", NoID)
	st := h.Stats()
	if st.SlowConsumers != 1 || st.Delivered != 1 {
		t.Fatalf("Stats = %+v, want SlowConsumers 1, Delivered 1", st)
	}
	if n := h.SubscriberCount("a"); n != 3 {
		t.Fatalf("SubscriberCount = %d, want 3: the hub must not drop subscriptions itself", n)
	}
	h.UnsubscribeAll(1, []string{"a"})
	h.UnsubscribeAll(2, []string{"a"})
	mustPublish(t, h, "a", "m2", NoID)
	if got := fine.got(); !slices.Equal(got, []string{"m1", "m2"}) {
		t.Errorf("healthy subscriber got %q", got)
	}
}

// closingSub unsubscribes itself inside Deliver, as a connection whose
// queue overflows may do through its close hook; the hub must hold no lock.
type closingSub struct {
	h  *Hub
	id SubscriberID
}

func (s *closingSub) Deliver(*Message) error {
	s.h.UnsubscribeAll(s.id, []string{"a", "b"})
	return ws.ErrQueueFull
}

func TestDeliverMayCallBack(t *testing.T) {
	h := newHub(t, nil)
	mustSubscribe(t, h, "a", 1, &closingSub{h, 1})
	mustSubscribe(t, h, "b", 1, &closingSub{h, 1})
	mustPublish(t, h, "a", "m", NoID)
	if n := len(h.Channels("")); n != 0 {
		t.Errorf("%d channels left, want 0", n)
	}
	if st := h.Stats(); st.SlowConsumers != 1 || st.Subscriptions != 0 || st.Channels != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestChannels(t *testing.T) {
	h := newHub(t, nil)
	subs := map[string]int{"presence-a": 2, "presence-b": 1, "private-x": 3, "public": 1}
	id := SubscriberID(0)
	for ch, n := range subs {
		for range n {
			id++
			mustSubscribe(t, h, ch, id, &recorder{})
		}
	}
	tests := []struct {
		prefix string
		want   []ChannelInfo
	}{
		{"presence-", []ChannelInfo{{"presence-a", 2}, {"presence-b", 1}}},
		{"private-", []ChannelInfo{{"private-x", 3}}},
		{"nope", nil},
		{"", []ChannelInfo{{"presence-a", 2}, {"presence-b", 1}, {"private-x", 3}, {"public", 1}}},
	}
	for _, tt := range tests {
		if got := h.Channels(tt.prefix); !slices.Equal(got, tt.want) {
			t.Errorf("Channels(%q) = %v, want %v", tt.prefix, got, tt.want)
		}
	}
	if st := h.Stats(); st.Channels != 4 || st.Subscriptions != 7 {
		t.Errorf("Stats = %+v, want Channels 4, Subscriptions 7", st)
	}
}

func TestOccupancyHooksAndBus(t *testing.T) {
	var events []string
	b := newSpyBus()
	h := newHub(t, &Options{
		Backend:           bus.Backend{Bus: b},
		OnChannelOccupied: func(c string) { events = append(events, "occupied "+c) },
		OnChannelVacated:  func(c string) { events = append(events, "vacated "+c) },
	})
	mustSubscribe(t, h, "a", 1, &recorder{})
	mustSubscribe(t, h, "a", 2, &recorder{})
	mustSubscribe(t, h, "b", 1, &recorder{})
	h.UnsubscribeAll(1, []string{"a", "b"})
	h.Unsubscribe("a", 2)

	wantEvents := []string{"occupied a", "occupied b", "vacated b", "vacated a"}
	if !slices.Equal(events, wantEvents) {
		t.Errorf("hooks %q, want %q", events, wantEvents)
	}
	wantCalls := []busCall{{"sub", "a"}, {"sub", "b"}, {"unsub", "b"}, {"unsub", "a"}}
	if got := b.recorded(); !slices.Equal(got, wantCalls) {
		t.Errorf("bus calls %v, want %v", got, wantCalls)
	}
}

func TestSubscribeBusFailure(t *testing.T) {
	b := newSpyBus()
	occupied := 0
	h := newHub(t, &Options{Backend: bus.Backend{Bus: b}, OnChannelOccupied: func(string) { occupied++ }})
	b.failSub = errBusDown
	if _, err := h.Subscribe(context.Background(), "a", 1, &recorder{}); !errors.Is(err, errBusDown) {
		t.Fatalf("Subscribe error = %v, want %v", err, errBusDown)
	}
	if n, st := h.SubscriberCount("a"), h.Stats(); n != 0 || st.Channels != 0 || st.Subscriptions != 0 {
		t.Fatalf("after a failed Subscribe: count %d, Stats %+v", n, st)
	}
	if occupied != 0 {
		t.Errorf("OnChannelOccupied called %d times for a failed Subscribe", occupied)
	}
	b.failSub = nil
	if first := mustSubscribe(t, h, "a", 1, &recorder{}); !first || occupied != 1 {
		t.Errorf("retry: first = %v, occupied = %d", first, occupied)
	}
}

func TestNewID(t *testing.T) {
	h := newHub(t, nil)
	seen := make(map[SubscriberID]bool)
	for range 1000 {
		id := h.NewID()
		if id == NoID || seen[id] {
			t.Fatalf("NewID returned %d twice or NoID", id)
		}
		seen[id] = true
	}
}

func TestClose(t *testing.T) {
	h := newHub(t, nil)
	mustSubscribe(t, h, "a", 1, &recorder{})
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Publish(context.Background(), "a", []byte("x"), NoID); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close: %v, want ErrClosed", err)
	}
	if _, err := h.Subscribe(context.Background(), "b", 1, &recorder{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Subscribe after Close: %v, want ErrClosed", err)
	}
	if !h.Unsubscribe("a", 1) {
		t.Error("Unsubscribe after Close did not vacate the channel")
	}
	if err := h.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestPublishContextDone(t *testing.T) {
	h := newHub(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.Publish(ctx, "a", []byte("x"), NoID); !errors.Is(err, context.Canceled) {
		t.Errorf("Publish with a done context: %v", err)
	}
}

func ExampleHub() {
	h, err := New(nil) // one node: an in-process bus, in-memory presence
	if err != nil {
		panic(err)
	}
	defer h.Close()

	// A dialect subscribes each connection under an id of its own; with a
	// *ws.Conn the Subscriber's Deliver is conn.SendPrepared(m.Frame()).
	alice, bob := h.NewID(), h.NewID()
	h.Subscribe(context.Background(), "chat", alice, printer("alice"))
	h.Subscribe(context.Background(), "chat", bob, printer("bob"))

	// Alice's message, already encoded by the dialect, goes to everyone else.
	h.Publish(context.Background(), "chat", []byte(`{"event":"hi"}`), alice)

	h.UnsubscribeAll(alice, []string{"chat"})
	h.UnsubscribeAll(bob, []string{"chat"})
	// Output: bob <- {"event":"hi"}
}

// printer is a Subscriber that prints what it gets.
type printer string

func (p printer) Deliver(m *Message) error {
	fmt.Printf("%s <- %s\n", p, m.Payload())
	return nil
}

// Channels find subscribers by scanning up to smallChannel of them and by
// an index above; crossing the boundary both ways must lose nobody.
func TestSmallAndIndexedChannels(t *testing.T) {
	for _, n := range []int{1, smallChannel, smallChannel + 1, 50} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			h := newHub(t, nil)
			recs := make([]*recorder, n+1)
			for id := 1; id <= n; id++ {
				recs[id] = &recorder{}
				mustSubscribe(t, h, "room", SubscriberID(id), recs[id])
			}
			mustSubscribe(t, h, "room", 1, recs[1]) // again: replaces, does not add
			for id := 2; id <= n; id += 2 {
				if last := h.Unsubscribe("room", SubscriberID(id)); last {
					t.Fatalf("Unsubscribe(%d) reported last with others left", id)
				}
			}
			want := (n + 1) / 2
			if got := h.SubscriberCount("room"); got != want {
				t.Fatalf("SubscriberCount = %d, want %d", got, want)
			}
			mustPublish(t, h, "room", "hi", NoID)
			for id := 1; id <= n; id++ {
				got := recs[id].got()
				if wantMsg := id%2 == 1; (len(got) == 1) != wantMsg || len(got) > 1 {
					t.Fatalf("subscriber %d got %q", id, got)
				}
			}
		})
	}
}
