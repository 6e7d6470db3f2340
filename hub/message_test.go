package hub

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/switchboard-rt/switchboard/ws"
)

// frameSub stands for a socket subscriber: it asks every message for its
// frame, as a *ws.Conn does, and keeps the last one.
type frameSub struct {
	mu   sync.Mutex
	last *ws.PreparedMessage
}

func (s *frameSub) Deliver(m *Message) error {
	f := m.Frame()
	s.mu.Lock()
	s.last = f
	s.mu.Unlock()
	return nil
}

// payloadSub stands for a non-socket subscriber: it reads the payload only.
type payloadSub struct{ n atomic.Int64 }

func (s *payloadSub) Deliver(m *Message) error {
	s.n.Add(int64(len(m.Payload())))
	return nil
}

// Every socket subscriber of one publish gets the same frame, built once,
// on the sequential and the parallel fan-out alike.
func TestMessageFrameShared(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		subs int
	}{
		{"sequential", Options{ParallelThreshold: 1 << 20}, 50},
		{"parallel", Options{ParallelThreshold: 16, FanoutParallelism: 4}, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHub(t, &tt.opts)
			subs := make([]*frameSub, tt.subs)
			for i := range subs {
				subs[i] = &frameSub{}
				mustSubscribe(t, h, "c", SubscriberID(i+1), subs[i])
			}
			if err := h.Publish(context.Background(), "c", []byte("hello"), NoID); err != nil {
				t.Fatal(err)
			}
			first := subs[0].last
			if first == nil || string(first.Payload()) != "hello" {
				t.Fatalf("first subscriber's frame %v", first)
			}
			for i, s := range subs {
				if s.last != first {
					t.Fatalf("subscriber %d got a frame of its own", i)
				}
			}
		})
	}
}

// A message only non-socket subscribers see is never framed, and asking
// for the frame of one costs nothing after the first time.
func TestMessageFrameLazy(t *testing.T) {
	m := NewMessage([]byte("x"))
	if m.frame != nil {
		t.Fatal("framed before anyone asked")
	}
	f := m.Frame()
	if allocs := testing.AllocsPerRun(100, func() { _ = m.Frame() }); allocs != 0 {
		t.Errorf("Frame after the first call: %v allocations, want 0", allocs)
	}
	if m.Frame() != f {
		t.Error("Frame returned a new frame")
	}
}

// Publishing to socket and non-socket subscribers allocates a constant
// amount per publish, nothing per subscriber, with the frame built lazily.
func TestPublishAllocsWithFrames(t *testing.T) {
	payload := []byte(`{"event":"e","data":"x"}`)
	allocs := func(subs int) float64 {
		h := newHub(t, &Options{ParallelThreshold: 1 << 20})
		for i := range subs {
			var s Subscriber = &frameSub{}
			if i%2 == 1 {
				s = &payloadSub{}
			}
			mustSubscribe(t, h, "c", SubscriberID(i+1), s)
		}
		return testing.AllocsPerRun(50, func() {
			_ = h.Publish(context.Background(), "c", payload, NoID)
		})
	}
	small, big := allocs(10), allocs(2000)
	if big > small {
		t.Errorf("allocs per publish: %v with 10 subscribers, %v with 2000", small, big)
	}
}

// Memo builds a value once per key, however many subscribers ask at once,
// and keeps different keys apart.
func TestMessageMemo(t *testing.T) {
	type keyA struct{}
	type keyB struct{}
	m := NewMessage([]byte("p"))
	var builds atomic.Int64
	build := func(m *Message) any {
		builds.Add(1)
		return string(m.Payload()) + "!"
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if v := m.Memo(keyA{}, build); v != "p!" {
				t.Errorf("Memo = %v", v)
			}
		})
	}
	wg.Wait()
	if n := builds.Load(); n != 1 {
		t.Errorf("%d builds for one key, want 1", n)
	}
	if v := m.Memo(keyB{}, func(*Message) any { return 2 }); v != 2 {
		t.Errorf("second key: %v", v)
	}
	if v := m.Memo(keyA{}, build); v != "p!" || builds.Load() != 1 {
		t.Errorf("first key after the second: %v, %d builds", v, builds.Load())
	}
}
