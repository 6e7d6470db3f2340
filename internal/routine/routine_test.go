package routine

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Stop cancels the goroutines' context, Wait waits for every one of them,
// and no goroutine starts after Stop.
func TestGroup(t *testing.T) {
	g := New(context.Background())
	var ended atomic.Int32
	started := make(chan struct{})
	for range 3 {
		if !g.Go(func(ctx context.Context) {
			started <- struct{}{}
			<-ctx.Done()
			ended.Add(1)
		}) {
			t.Fatal("Go refused before Stop")
		}
	}
	for range 3 {
		<-started
	}
	if g.Context().Err() != nil {
		t.Fatal("context done before Stop")
	}
	g.StopAndWait()
	if n := ended.Load(); n != 3 {
		t.Fatalf("%d goroutines ended when Wait returned, want 3", n)
	}
	if g.Go(func(context.Context) { t.Error("ran after Stop") }) {
		t.Error("Go started a goroutine after Stop")
	}
}

// A parent context that ends stops the Group's goroutines too.
func TestGroupParent(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	g := New(parent)
	done := make(chan struct{})
	g.Go(func(ctx context.Context) {
		<-ctx.Done()
		close(done)
	})
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the goroutine did not see the parent's end")
	}
	g.StopAndWait()
}
