package hub

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/switchboard-rt/switchboard/bus"
)

// Publish sends payload, as one text message, to every subscriber of
// channel on every node except the subscriber except (NoID for none). It
// goes through the bus; with bus.Local the message has been queued to every
// local subscriber when Publish returns. Publish keeps payload: the caller
// must not modify it afterwards.
//
// Order: when one Publish to a channel returns before another to the same
// channel is called (for example, both from one goroutine), every
// subscriber gets the first message queued before the second. Publishes
// that overlap in time have no order between them, and two subscribers may
// see them in different orders.
//
// A subscriber whose queue is full is not waited for: its Deliver fails,
// it closes itself, and the hub counts it in Stats.SlowConsumers.
func (h *Hub) Publish(ctx context.Context, channel string, payload []byte, except SubscriberID) error {
	if h.closed.Load() {
		return ErrClosed
	}
	msg := bus.Message{Channel: channel, Payload: payload, Except: uint64(except), Origin: h.opts.Backend.NodeID}
	if err := h.bus.Publish(ctx, msg); err != nil {
		return fmt.Errorf("hub: publish to %q: %w", channel, err)
	}
	h.stats.published.Add(1)
	return nil
}

// receive is the hub's bus.Handler: it fans msg out to this node's
// subscribers of msg.Channel. It wraps the payload in one Message, which
// frames it once for every socket subscriber, and returns when
// every subscriber's Deliver has returned, which keeps the bus's order.
func (h *Hub) receive(msg bus.Message) {
	h.stats.received.Add(1)
	sh := h.shard(msg.Channel)
	sh.mu.RLock()
	var list []*subscription
	if ch := sh.channels[msg.Channel]; ch != nil {
		list = ch.list // an immutable snapshot: see chanState.list
	}
	sh.mu.RUnlock()
	if len(list) == 0 {
		return
	}
	h.fanout(list, NewMessage(msg.Payload), SubscriberID(msg.Except))
}

// fanout delivers m to every subscription of list but except, and returns
// when every Deliver has returned.
//
// Each publish starts at a random place in the list and wraps around, so
// that publishes running at once on one channel do not walk the list in
// lock step, each waiting on the connection lock the other holds (a convoy
// that parked publishers and left cores idle), and so that no subscriber is
// always served last.
//
// A list longer than ParallelThreshold is cut into chunks of about
// ParallelThreshold subscriptions (at least two); the publishing goroutine
// and up to FanoutParallelism-1 helpers claim chunks until none is left. The
// publisher waits only for chunks a helper has claimed and is delivering,
// never for a helper that has not been scheduled yet: under load, a new
// helper goroutine sits in the run queue behind every writer goroutine the
// fan-out has just woken, and waiting for it made each publish take
// milliseconds while the cores had work to spare.
func (h *Hub) fanout(list []*subscription, m *Message, except SubscriberID) {
	n := len(list)
	start := 0
	if n > 1 {
		start = int(rand.Uint32N(uint32(n)))
	}
	if n <= h.opts.ParallelThreshold || h.opts.FanoutParallelism < 2 {
		h.deliver(list[start:], m, except)
		h.deliver(list[:start], m, except)
		return
	}
	chunks := max(2, n/h.opts.ParallelThreshold)
	helpers := min(h.opts.FanoutParallelism, chunks) - 1
	j := &fanoutJob{h: h, list: list, m: m, except: except, start: start, chunks: chunks}
	j.pending.Add(chunks)
	for range helpers {
		go j.run()
	}
	j.run()
	j.pending.Wait()
}

// fanoutJob is one publish's fan-out, cut into chunks that goroutines claim
// one at a time.
type fanoutJob struct {
	h      *Hub
	list   []*subscription
	m      *Message
	except SubscriberID
	start  int // where in list the rotated order begins
	chunks int

	next    atomic.Int64   // the next unclaimed chunk
	pending sync.WaitGroup // chunks not yet delivered
}

// run claims and delivers chunks until every chunk is claimed.
func (j *fanoutJob) run() {
	n := len(j.list)
	for {
		c := int(j.next.Add(1) - 1)
		if c >= j.chunks {
			return
		}
		// Chunk c covers rotated positions [lo, hi) of the list.
		lo, hi := c*n/j.chunks, (c+1)*n/j.chunks
		lo, hi = (lo+j.start)%n, (hi+j.start)%n
		if lo < hi {
			j.h.deliver(j.list[lo:hi], j.m, j.except)
		} else {
			j.h.deliver(j.list[lo:], j.m, j.except)
			j.h.deliver(j.list[:hi], j.m, j.except)
		}
		j.pending.Done()
	}
}

// deliver hands m to each live subscription of list but except. It
// allocates nothing and touches the shared counters once.
func (h *Hub) deliver(list []*subscription, m *Message, except SubscriberID) {
	var delivered, slow uint64
	for _, sub := range list {
		if sub.id == except || sub.gone.Load() {
			continue
		}
		if err := sub.s.Deliver(m); err != nil {
			if errors.Is(err, ErrSlowSubscriber) {
				slow++
			}
			continue
		}
		delivered++
	}
	h.stats.delivered.Add(delivered)
	if slow > 0 {
		h.stats.slow.Add(slow)
	}
}
