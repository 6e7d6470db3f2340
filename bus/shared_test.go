package bus

import (
	"context"
	"testing"
	"time"
)

func TestMemoryShared(t *testing.T) {
	s := NewMemoryShared()
	now := time.Unix(1000, 0)
	s.now = func() time.Time { return now }
	ctx := context.Background()
	v := []byte("a")
	_ = s.Set(ctx, "sp", "k", v, 0)
	v[0] = 'x' // the store keeps its own copy
	_ = s.Set(ctx, "sp", "t", []byte("b"), time.Second)
	_ = s.Set(ctx, "other", "k", []byte("c"), 0)
	if got, ok, _ := s.Get(ctx, "sp", "k"); !ok || string(got) != "a" {
		t.Errorf("Get = %q, %v", got, ok)
	}
	if all, _ := s.All(ctx, "sp"); len(all) != 2 {
		t.Errorf("All = %q", all)
	}
	now = now.Add(time.Second)
	if _, ok, _ := s.Get(ctx, "sp", "t"); ok {
		t.Error("an expired value was returned")
	}
	if all, _ := s.All(ctx, "sp"); len(all) != 1 {
		t.Errorf("All after expiry = %q", all)
	}
	_ = s.Delete(ctx, "sp", "k")
	if _, ok, _ := s.Get(ctx, "sp", "k"); ok {
		t.Error("a deleted value was returned")
	}
}
