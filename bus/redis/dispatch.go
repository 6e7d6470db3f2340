package redis

import (
	"hash/maphash"
	"strconv"
	"strings"
	"sync"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchboard-rt/switchboard/bus"
)

// Received messages go from the link's reader to delivery workers: each
// channel belongs to one worker (by a hash of its name), which calls the
// Handler for its messages one at a time, in the order they arrived. The
// reader never waits for a worker: it must stay free to read SUBSCRIBE
// acknowledgements, which a Handler may be waiting for (the hub may call
// Subscribe from inside the Handler). A worker whose queue is full drops
// the message and counts it, as at-most-once delivery allows.

var workerSeed = maphash.MakeSeed()

// worker is one delivery goroutine's queue.
type worker struct {
	mu    sync.Mutex
	q     []bus.Message // guarded by mu
	spare []bus.Message // the drained slice, reused; owned by the worker goroutine
	max   int
	wake  chan struct{}
}

func newWorker(max int) *worker {
	return &worker{max: max, wake: make(chan struct{}, 1)}
}

// push queues m without blocking; false means the queue was full.
func (w *worker) push(m bus.Message) bool {
	w.mu.Lock()
	if len(w.q) >= w.max {
		w.mu.Unlock()
		return false
	}
	w.q = append(w.q, m)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return true
}

// dispatch hands a received Redis message to its channel's worker. The
// node's own messages are skipped: Publish delivered them locally.
func (b *Bus) dispatch(m *goredis.Message) {
	channel, ok := strings.CutPrefix(m.Channel, b.mp)
	if !ok {
		// The control channel: on Sentinel it carries the heartbeat's
		// probes (see probe); on one Redis nothing is sent on it.
		if n, err := strconv.ParseUint(m.Payload, 10, 64); err == nil && m.Channel == b.p+"ctl:"+b.id {
			b.probeHeard.Store(n)
		}
		return
	}
	sender, msg, err := decodeEnvelope(m.Payload)
	if err != nil {
		b.stats.malformed.Add(1)
		return
	}
	if sender == b.id {
		return
	}
	msg.Channel = channel
	b.stats.received.Add(1)
	w := b.workers[maphash.String(workerSeed, channel)%uint64(len(b.workers))]
	if !w.push(msg) {
		b.stats.overflowed.Add(1)
	}
}

// runWorker calls h for w's messages until the bus closes; what is still
// queued then is dropped.
func (b *Bus) runWorker(w *worker, h bus.Handler) {
	for {
		select {
		case <-w.wake:
		case <-b.ctx.Done():
			return
		}
		for {
			w.mu.Lock()
			batch := w.q
			w.q = w.spare[:0]
			w.mu.Unlock()
			if len(batch) == 0 {
				w.spare = batch
				break
			}
			for i := range batch {
				if b.ctx.Err() != nil {
					return
				}
				h(batch[i])
				batch[i] = bus.Message{} // let the payload go
			}
			w.spare = batch
		}
	}
}
