package server

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"
)

func TestKeyedLimiter(t *testing.T) {
	k := newKeyedLimiter(2) // 2 a second, burst 2
	t0 := time.Unix(1000, 0)
	steps := []struct {
		key  string
		at   time.Duration
		ok   bool
		wait time.Duration
	}{
		{"a", 0, true, 0},
		{"a", 0, true, 0},
		{"a", 0, false, 500 * time.Millisecond}, // the bucket is empty; one token in 0.5 s
		{"b", 0, true, 0},                       // another key has its own bucket
		{"a", 250 * time.Millisecond, false, 250 * time.Millisecond},
		{"a", 500 * time.Millisecond, true, 0},
		{"a", 500 * time.Millisecond, false, 500 * time.Millisecond},
	}
	for i, s := range steps {
		wait, ok := k.allow(s.key, t0.Add(s.at))
		if ok != s.ok || (!ok && wait != s.wait) {
			t.Errorf("step %d (%s at %v): ok %v wait %v, want %v %v", i, s.key, s.at, ok, wait, s.ok, s.wait)
		}
	}
	if newKeyedLimiter(0) != nil {
		t.Error("a limit of 0 is not off")
	}
}

func TestKeyedLimiterForgetsFullBuckets(t *testing.T) {
	k := newKeyedLimiter(1)
	t0 := time.Unix(1000, 0)
	for i := range minSweep {
		k.allow(fmt.Sprint(i), t0)
	}
	// One second later every bucket is full again: the next new key sweeps
	// them all away.
	k.allow("new", t0.Add(time.Second))
	if len(k.buckets) != 1 {
		t.Fatalf("%d buckets after the sweep, want 1", len(k.buckets))
	}
	// Buckets still in use are kept when a sweep runs.
	for i := range minSweep {
		k.allow(fmt.Sprint(i), t0.Add(2*time.Second))
	}
	for i := range minSweep {
		if k.buckets[fmt.Sprint(i)] == nil {
			t.Fatalf("bucket %d, in use, was forgotten", i)
		}
	}
}

func TestAPIClient(t *testing.T) {
	for _, tt := range []struct {
		name   string
		header map[string]string
		app    string
		want   string
	}{
		{"app", map[string]string{"X-Api-Key": "k"}, "42", "app 42"},
		{"key header", map[string]string{"X-Api-Key": "secret"}, "", "key 2bb80d537b1da3e3"},
		{"bearer", map[string]string{"Authorization": "Bearer secret"}, "", "key 2bb80d537b1da3e3"},
		{"address", nil, "", "ip 192.0.2.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/x", nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			if tt.app != "" {
				r.SetPathValue("app_id", tt.app)
			}
			if got := apiClient(r); got != tt.want {
				t.Errorf("apiClient = %q, want %q", got, tt.want)
			}
		})
	}
}
