package loadgen

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Flow control for fanout and channels (Options.Window).
//
// Open loop, "as fast as accepted" means as fast as the server queues: a
// server that accepts a publish once the frame is queued for every
// subscriber lets publishing run ahead of subscribers that cannot keep up
// until their send queues overflow and the server closes them as slow
// consumers. The figure then measures that policy, not a sustainable rate.
//
// Closed loop, each channel has a window of N messages: a publisher may
// start a publish to channel c only while
//
//	sent[c] - min(progress of c's live subscribers) < N
//
// where sent[c] counts the publishes to c started (and not failed), and a
// subscriber's progress counts the messages of its channel it has received
// or skipped (the sum over publishers of the next sequence number
// expected). So no subscriber ever has more than N messages published and
// not yet read, and a server send queue longer than N never overflows.
//
// The reader only adds to its own atomic counter per message; the minimum
// is recomputed by one goroutine, on request of a publisher that found the
// window full and at most every flowScanInterval, and only for the channels
// asked for. A stale minimum is never too high (progress only grows), so
// the bound holds exactly; it only makes a publisher wait a little longer.
// Subscribers the server disconnected no longer count: a run must not stall
// on a dead connection (their losses are counted as always).

// flowScanInterval is the least time between two recomputations.
const flowScanInterval = time.Millisecond

// noFloor is the floor of a channel without live subscribers: nothing to
// wait for.
const noFloor = math.MaxInt64 / 2

type flow struct {
	window int64
	subsOn [][]*subscriber // per channel: its subscribers

	sent   []paddedInt64 // per channel: publishes started and not failed
	floor  []paddedInt64 // per channel: min progress of its live subscribers, as last computed
	wanted []atomic.Bool // per channel: a publisher waits for a recomputation

	wake chan struct{} // a publisher asks for a recomputation (buffered 1)
	stop chan struct{} // closed when publishing is over

	mu   sync.Mutex
	next chan struct{} // closed after the next recomputation

	waits    atomic.Uint64 // times a publisher found the window full
	waitedNS atomic.Int64  // publisher time spent waiting
	scans    atomic.Uint64
}

type paddedInt64 struct {
	atomic.Int64
	_ [cacheLineSize - 8]byte
}

func newFlow(window int, channels int, subs []*subscriber) *flow {
	f := &flow{
		window: int64(window),
		subsOn: make([][]*subscriber, channels),
		sent:   make([]paddedInt64, channels),
		floor:  make([]paddedInt64, channels),
		wanted: make([]atomic.Bool, channels),
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		next:   make(chan struct{}),
	}
	for _, s := range subs {
		f.subsOn[s.channel] = append(f.subsOn[s.channel], s)
	}
	for c := range f.floor {
		if len(f.subsOn[c]) == 0 {
			f.floor[c].Store(noFloor)
		}
	}
	return f
}

// acquire reserves a message to channel c in the window, waiting while the
// window is full. It returns false, reserving nothing, once ctx is done or
// the flow was stopped.
func (f *flow) acquire(ctx context.Context, c int) bool {
	var waitStart time.Time
	defer func() {
		if !waitStart.IsZero() {
			f.waitedNS.Add(int64(time.Since(waitStart)))
		}
	}()
	for {
		s := f.sent[c].Load()
		if s-f.floor[c].Load() < f.window {
			if f.sent[c].CompareAndSwap(s, s+1) {
				return true
			}
			continue
		}
		// Full. Take the channel of the next recomputation before checking
		// again, so that one finishing in between is not missed.
		f.mu.Lock()
		next := f.next
		f.mu.Unlock()
		if f.sent[c].Load()-f.floor[c].Load() < f.window {
			continue
		}
		if waitStart.IsZero() {
			waitStart = time.Now()
			f.waits.Add(1)
		}
		f.wanted[c].Store(true)
		select {
		case f.wake <- struct{}{}:
		default:
		}
		select {
		case <-next:
		case <-f.stop:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// release gives back a reservation whose publish failed: its sequence
// number is used again, so no subscriber will count it.
func (f *flow) release(c int) { f.sent[c].Add(-1) }

// run recomputes the floors of the channels publishers wait for, at most
// every flowScanInterval, until stop is closed.
func (f *flow) run() {
	var last time.Time
	for {
		select {
		case <-f.wake:
		case <-f.stop:
			return
		}
		if d := flowScanInterval - time.Since(last); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-f.stop:
				t.Stop()
				return
			}
		}
		last = time.Now()
		f.scan()
	}
}

// scan recomputes the floors of the wanted channels and wakes the waiting
// publishers.
func (f *flow) scan() {
	f.scans.Add(1)
	for c := range f.wanted {
		if !f.wanted[c].Load() {
			continue
		}
		f.wanted[c].Store(false)
		f.floor[c].Store(f.minProgress(c))
	}
	f.mu.Lock()
	close(f.next)
	f.next = make(chan struct{})
	f.mu.Unlock()
}

// minProgress is the least progress of channel c's live subscribers.
func (f *flow) minProgress(c int) int64 {
	low := int64(noFloor)
	for _, s := range f.subsOn[c] {
		if s.dropped.Load() {
			continue
		}
		low = min(low, int64(s.progress.Load()))
	}
	return low
}

// inFlight is how far publishing is ahead of channel c's slowest live
// subscriber right now (for tests).
func (f *flow) inFlight(c int) int64 {
	low := f.minProgress(c)
	if low == noFloor {
		return 0
	}
	return f.sent[c].Load() - low
}

// close ends the flow: waiting publishers give up.
func (f *flow) close() { close(f.stop) }
