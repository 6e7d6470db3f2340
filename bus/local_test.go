package bus

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
)

func TestLocalDeliversInOrder(t *testing.T) {
	b := NewLocal()
	var got []Message
	if err := b.Start(func(m Message) { got = append(got, m) }); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.Subscribe(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	var want []Message
	for i := range 100 {
		m := Message{Channel: "a", Payload: []byte(strconv.Itoa(i)), Except: uint64(i), Origin: "n1"}
		want = append(want, m)
		if err := b.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.EqualFunc(got, want, func(x, y Message) bool {
		return x.Channel == y.Channel && string(x.Payload) == string(y.Payload) && x.Except == y.Except && x.Origin == y.Origin
	}) {
		t.Errorf("delivered %d messages, not the %d published in order", len(got), len(want))
	}
	if err := b.Unsubscribe(ctx, "a"); err != nil {
		t.Fatal(err)
	}
}

func TestLocalErrors(t *testing.T) {
	ctx := context.Background()
	nop := func(Message) {}
	tests := []struct {
		name string
		run  func(b *Local) error
		want error // nil: any error
	}{
		{"publish before start", func(b *Local) error { return b.Publish(ctx, Message{Channel: "a"}) }, ErrNotStarted},
		{"start twice", func(b *Local) error { _ = b.Start(nop); return b.Start(nop) }, nil},
		{"start nil", func(b *Local) error { return b.Start(nil) }, nil},
		{"publish with a done context", func(b *Local) error {
			_ = b.Start(nop)
			ctx, cancel := context.WithCancel(ctx)
			cancel()
			return b.Publish(ctx, Message{Channel: "a"})
		}, context.Canceled},
		{"publish after close", func(b *Local) error { _ = b.Start(nop); _ = b.Close(); return b.Publish(ctx, Message{}) }, ErrClosed},
		{"subscribe after close", func(b *Local) error { _ = b.Close(); return b.Subscribe(ctx, "a") }, ErrClosed},
		{"unsubscribe after close", func(b *Local) error { _ = b.Close(); return b.Unsubscribe(ctx, "a") }, ErrClosed},
		{"start after close", func(b *Local) error { _ = b.Close(); return b.Start(nop) }, ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run(NewLocal())
			if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error = %v, want %v", err, tt.want)
			}
		})
	}
}

// Concurrent publishers each see their own messages delivered in order.
func TestLocalConcurrentPublishers(t *testing.T) {
	const publishers, msgs = 4, 500
	b := NewLocal()
	var mu sync.Mutex
	next := make(map[string]int)
	bad := 0
	if err := b.Start(func(m Message) {
		mu.Lock()
		defer mu.Unlock()
		n, _ := strconv.Atoi(string(m.Payload))
		if n != next[m.Origin] {
			bad++
		}
		next[m.Origin] = n + 1
	}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			origin := "n" + strconv.Itoa(p)
			for i := range msgs {
				if err := b.Publish(context.Background(), Message{Channel: "a", Payload: []byte(strconv.Itoa(i)), Origin: origin}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if bad != 0 || len(next) != publishers {
		t.Errorf("%d messages out of order, %d publishers seen", bad, len(next))
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}
