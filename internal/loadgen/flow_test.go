package loadgen

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestWindowHolds runs fanout and channels with a window against a server
// with one slow subscriber and checks, at the server, that no subscriber
// ever had more than the window queued, that the window was what held
// publishing back, and that nothing was lost.
func TestWindowHolds(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		window int
	}{
		{"pusher fanout", Options{Scenario: ScenarioFanout, Protocol: ProtocolPusher, Subscribers: 4, Publishers: 4, Messages: 120}, 8},
		{"pusher channels", Options{Scenario: ScenarioChannels, Protocol: ProtocolPusher, Subscribers: 6, Channels: 2, Publishers: 4, Messages: 160}, 5},
		{"tokens fanout over WebSocket", Options{Scenario: ScenarioFanout, Protocol: ProtocolTokens, PublishVia: PublishWS, Subscribers: 3, Publishers: 2, Messages: 100}, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeServer(t, 0, nil)
			f.slowSub, f.slowDelay = 1, time.Millisecond
			o := tt.opts
			o.Target, o.Window, o.Payload = f.target(), tt.window, 64
			o.Duration, o.Drain = 20*time.Second, time.Second
			res, err := Run(context.Background(), o, nil)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.Window == nil || *res.Window != tt.window {
				t.Errorf("result window %v, want %d", res.Window, tt.window)
			}
			if res.Published != uint64(o.Messages) || res.Lost != 0 || res.Received != res.Expected ||
				res.Disconnects != 0 || res.NoLoss == nil || !*res.NoLoss || len(res.Errors) > 0 {
				t.Fatalf("published %d of %d, lost %d, received %d of %d, disconnects %d, no loss %v, errors %q",
					res.Published, o.Messages, res.Lost, res.Received, res.Expected, res.Disconnects, res.NoLoss, res.Errors)
			}
			if q := f.maxQueued.Load(); q > int64(tt.window) {
				t.Errorf("the server had %d messages queued for one subscriber, window %d", q, tt.window)
			}
			if res.WindowWaits == 0 {
				t.Errorf("publishers never waited for the window: the slow subscriber did not hold them back")
			}
			if s := res.String(); !strings.Contains(s, "W="+strconv.Itoa(tt.window)) || strings.Contains(s, "NOT") {
				t.Errorf("readable line %q", s)
			}
		})
	}
}

// TestWindowSlowsPublishing has a server that closes a subscriber with
// more than 16 messages queued, as a slow consumer, and one subscriber that
// takes 2 ms per message. Open loop, the subscriber is overrun and the run
// says so; with a window of 8 publishing slows to its pace and nothing is
// lost.
func TestWindowSlowsPublishing(t *testing.T) {
	const (
		messages  = 80
		window    = 8
		slowDelay = 2 * time.Millisecond
	)
	run := func(t *testing.T, w int) (*Result, *fakeServer) {
		f := newFakeServer(t, 0, nil)
		f.slowSub, f.slowDelay, f.queueLimit = 2, slowDelay, 16
		o := Options{Scenario: ScenarioFanout, Target: f.target(), Subscribers: 5, Publishers: 4, Messages: messages,
			Payload: 64, Window: w, Duration: 20 * time.Second, Drain: 300 * time.Millisecond}
		res, err := Run(context.Background(), o, nil)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		return res, f
	}
	t.Run("window", func(t *testing.T) {
		res, f := run(t, window)
		if res.Disconnects != 0 || f.overrun.Load() != 0 || res.Lost != 0 || !*res.NoLoss {
			t.Fatalf("disconnects %d, overrun %d, lost %d, errors %q", res.Disconnects, f.overrun.Load(), res.Lost, res.Errors)
		}
		// The slow subscriber reads at most one message per slowDelay, and
		// publishing is never more than the window ahead of it.
		if least := time.Duration(messages-window) * slowDelay; time.Duration(res.DurationS*float64(time.Second)) < least {
			t.Errorf("published %d messages in %.3f s; a subscriber at %s per message allows no less than %s",
				messages, res.DurationS, slowDelay, least)
		}
		if res.WindowWaitPct <= 0 {
			t.Errorf("window wait %.1f%%, want > 0", res.WindowWaitPct)
		}
	})
	t.Run("open loop", func(t *testing.T) {
		res, f := run(t, WindowOff)
		if res.Window == nil || *res.Window != 0 {
			t.Errorf("result window %v, want 0 (open loop)", res.Window)
		}
		if f.overrun.Load() == 0 || res.Disconnects == 0 || res.Lost == 0 || *res.NoLoss {
			t.Fatalf("overrun %d, disconnects %d, lost %d, no loss %v: the slow subscriber should have been overrun",
				f.overrun.Load(), res.Disconnects, res.Lost, *res.NoLoss)
		}
		s := res.String()
		for _, want := range []string{"W=off", "SERVER DISCONNECTED ", " of 5 subscribers", "NOT a no-loss run"} {
			if !strings.Contains(s, want) {
				t.Errorf("readable line %q lacks %q", s, want)
			}
		}
	})
}

// TestFlowBound drives the flow directly: many publishers against readers
// that advance at their own pace, one of them dropping out; the window is
// never exceeded and a dropped subscriber does not stall publishing.
func TestFlowBound(t *testing.T) {
	const window, total = 8, 400
	subs := []*subscriber{{index: 0}, {index: 1}, {index: 2}}
	fl := newFlow(window, 1, subs)
	var done sync.WaitGroup
	done.Go(fl.run)
	var published atomic.Int64
	var over atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for published.Add(1) <= total {
				if !fl.acquire(context.Background(), 0) {
					t.Error("acquire gave up")
					return
				}
				if n := fl.inFlight(0); n > window {
					over.Store(n)
				}
			}
		})
	}
	// Readers: subscriber 0 fast, 1 slow, 2 drops out halfway.
	var rwg sync.WaitGroup
	for i, s := range subs {
		rwg.Go(func() {
			for s.progress.Load() < total {
				if i == 2 && s.progress.Load() >= total/2 {
					s.dropped.Store(true)
					return
				}
				if sent := uint64(fl.sent[0].Load()); s.progress.Load() < sent {
					s.progress.Add(1)
				}
				if i == 1 {
					time.Sleep(50 * time.Microsecond)
				} else {
					runtime.Gosched()
				}
			}
		})
	}
	wg.Wait()
	rwg.Wait()
	fl.close()
	done.Wait()
	if n := over.Load(); n > 0 {
		t.Errorf("%d in flight, window %d", n, window)
	}
	if got := fl.sent[0].Load(); got != total {
		t.Errorf("sent %d, want %d", got, total)
	}
}
