package hub

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/switchboard-rt/switchboard/bus"
)

// seqSub checks that the numbers published to it arrive in order.
type seqSub struct {
	mu   sync.Mutex
	next map[string]int // per publisher: the number expected next
	err  error
}

func (s *seqSub) Deliver(m *Message) error {
	var from string
	var n int
	if _, err := fmt.Sscanf(string(m.Payload()), "%s %d", &from, &n); err != nil {
		panic(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next == nil {
		s.next = make(map[string]int)
	}
	if n != s.next[from] && s.err == nil {
		s.err = fmt.Errorf("from %s: got %d, want %d", from, n, s.next[from])
	}
	s.next[from] = n + 1
	return nil
}

func (s *seqSub) check(t *testing.T, name string, want map[string]int) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		t.Errorf("%s: %v", name, s.err)
	}
	for from, n := range want {
		if s.next[from] != n {
			t.Errorf("%s: got %d messages from %s, want %d", name, s.next[from], from, n)
		}
	}
}

// Messages published to a channel by one goroutine reach every subscriber
// in order, on the sequential and on the parallel fan-out path, while
// other goroutines publish to other channels.
func TestOrderPerChannel(t *testing.T) {
	const channels, subs, msgs = 4, 100, 300
	h := newHub(t, &Options{ParallelThreshold: 8, FanoutParallelism: 4})
	all := make([][]*seqSub, channels)
	for c := range channels {
		for i := range subs {
			s := &seqSub{}
			all[c] = append(all[c], s)
			mustSubscribe(t, h, "ch"+strconv.Itoa(c), SubscriberID(i+1), s)
		}
	}
	var wg sync.WaitGroup
	for c := range channels {
		wg.Go(func() {
			for n := range msgs {
				payload := []byte(fmt.Sprintf("p%d %d", c, n))
				if err := h.Publish(context.Background(), "ch"+strconv.Itoa(c), payload, NoID); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for c := range channels {
		for i, s := range all[c] {
			s.check(t, fmt.Sprintf("ch%d sub %d", c, i+1), map[string]int{"p" + strconv.Itoa(c): msgs})
		}
	}
}

// Subscribes, unsubscribes and publishes race on shared channels; the
// subscribers present throughout get every message in order, and the
// counts agree at the end.
func TestConcurrentSubscribePublish(t *testing.T) {
	const msgs, churners, rounds = 200, 8, 200
	chans := []string{"a", "b", "c"}
	h := newHub(t, &Options{ParallelThreshold: 4, FanoutParallelism: 3})
	stable := make(map[string]*seqSub)
	for i, c := range chans {
		stable[c] = &seqSub{}
		mustSubscribe(t, h, c, SubscriberID(1000+i), stable[c])
	}
	var wg sync.WaitGroup
	for g := range churners {
		wg.Go(func() {
			for r := range rounds {
				c := chans[(g+r)%len(chans)]
				id := SubscriberID(g*rounds + r + 1)
				if _, err := h.Subscribe(context.Background(), c, id, &seqSub{}); err != nil {
					t.Error(err)
					return
				}
				if r%3 != 0 {
					h.Unsubscribe(c, id)
				}
			}
		})
	}
	for _, c := range chans {
		wg.Go(func() {
			for n := range msgs {
				if err := h.Publish(context.Background(), c, []byte(fmt.Sprintf("%s %d", c, n)), NoID); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			h.Channels("")
			h.Stats()
		}
	})
	wg.Wait()

	for c, s := range stable {
		s.check(t, "stable subscriber of "+c, map[string]int{c: msgs})
	}
	total := 0
	for _, ci := range h.Channels("") {
		total += ci.Subscribers
	}
	if st := h.Stats(); st.Subscriptions != total || st.Channels != len(chans) {
		t.Errorf("Stats = %+v, want Subscriptions %d, Channels %d", st, total, len(chans))
	}
}

// However Subscribe and Unsubscribe of one channel race, the bus and the
// hooks see occupancy changes alternate, starting with occupied, and end
// in the channel's final state.
func TestOccupancyRace(t *testing.T) {
	const goroutines, rounds = 8, 300
	b := newSpyBus()
	var mu sync.Mutex
	var events []string
	hook := func(e string) func(string) {
		return func(string) { mu.Lock(); events = append(events, e); mu.Unlock() }
	}
	h := newHub(t, &Options{Backend: bus.Backend{Bus: b}, OnChannelOccupied: hook("sub"), OnChannelVacated: hook("unsub")})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			id := SubscriberID(g + 1)
			for range rounds {
				if _, err := h.Subscribe(context.Background(), "x", id, &recorder{}); err != nil {
					t.Error(err)
					return
				}
				h.Unsubscribe("x", id)
			}
		})
	}
	wg.Wait()

	calls := b.recorded()
	if len(calls) == 0 || len(calls) != len(events) {
		t.Fatalf("%d bus calls, %d hook calls", len(calls), len(events))
	}
	for i, c := range calls {
		want := "sub"
		if i%2 == 1 {
			want = "unsub"
		}
		if c.op != want || events[i] != want {
			t.Fatalf("change %d: bus %s, hook %s, want %s", i, c.op, events[i], want)
		}
	}
	t.Logf("%d occupancy changes", len(calls))
	if calls[len(calls)-1].op != "unsub" {
		t.Error("the bus still has interest in a vacated channel")
	}
}

// The fan-out allocates a constant amount per publish, nothing per
// subscriber, on both paths.
func TestPublishAllocsPerSubscriber(t *testing.T) {
	tests := []struct {
		name       string
		opts       Options
		small, big int
	}{
		{"sequential", Options{ParallelThreshold: 1 << 20}, 10, 2000},
		{"parallel", Options{ParallelThreshold: 64, FanoutParallelism: 4}, 1000, 4000},
	}
	payload := []byte(`{"event":"e","data":"x"}`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			allocs := func(subs int) float64 {
				h := newHub(t, &tt.opts)
				for i := range subs {
					mustSubscribe(t, h, "c", SubscriberID(i+1), &nopSub{})
				}
				return testing.AllocsPerRun(50, func() {
					_ = h.Publish(context.Background(), "c", payload, NoID)
				})
			}
			small, big := allocs(tt.small), allocs(tt.big)
			if big > small {
				t.Errorf("allocs per publish: %v with %d subscribers, %v with %d", small, tt.small, big, tt.big)
			}
			t.Logf("allocs per publish: %v (%d subscribers), %v (%d)", small, tt.small, big, tt.big)
		})
	}
}

// blockingBus is a bus.Local whose Unsubscribe waits for release, to hold
// a channel between vacated and settled.
type blockingBus struct {
	*spyBus
	entered chan struct{}
	release chan struct{}
}

func (b *blockingBus) Unsubscribe(ctx context.Context, ch string) error {
	b.entered <- struct{}{}
	<-b.release
	return b.spyBus.Unsubscribe(ctx, ch)
}

// A channel subscribed again while the bus is still being told it was
// vacated is a new occupancy: counted as a channel, reported first, and
// announced to the bus after the vacating, so that messages reach the new
// subscriber.
func TestSubscribeWhileVacating(t *testing.T) {
	b := &blockingBus{spyBus: newSpyBus(), entered: make(chan struct{}), release: make(chan struct{})}
	h := newHub(t, &Options{Backend: bus.Backend{Bus: b}})
	mustSubscribe(t, h, "x", 1, &recorder{})
	unsubscribed := make(chan bool)
	go func() { unsubscribed <- h.Unsubscribe("x", 1) }()
	<-b.entered // the vacating settle is inside the bus

	if st := h.Stats(); st.Channels != 0 || st.Subscriptions != 0 {
		t.Errorf("while vacating: Stats = %+v, want no channel", st)
	}
	if got := h.Channels(""); len(got) != 0 {
		t.Errorf("while vacating: Channels = %+v", got)
	}
	rec := &recorder{}
	subscribed := make(chan bool)
	go func() { subscribed <- mustSubscribe(t, h, "x", 2, rec) }()
	close(b.release)
	if !<-unsubscribed {
		t.Error("Unsubscribe of the last subscriber: last = false")
	}
	if !<-subscribed {
		t.Error("Subscribe after the vacating: first = false")
	}
	if st := h.Stats(); st.Channels != 1 || st.Subscriptions != 1 {
		t.Errorf("after: Stats = %+v, want one channel, one subscription", st)
	}
	want := []busCall{{"sub", "x"}, {"unsub", "x"}, {"sub", "x"}}
	if got := b.recorded(); !slices.Equal(got, want) {
		t.Errorf("bus calls %v, want %v", got, want)
	}
	mustPublish(t, h, "x", "m", NoID)
	if got := rec.got(); !slices.Equal(got, []string{"m"}) {
		t.Errorf("the new subscriber got %q", got)
	}
	if n, _ := h.ClusterSubscriberCount(context.Background(), "x"); n != 1 {
		t.Errorf("ClusterSubscriberCount = %d, want 1", n)
	}
}
