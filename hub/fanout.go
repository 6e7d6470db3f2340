package hub

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/ws"
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
	msg := bus.Message{Channel: channel, Payload: payload, Except: uint64(except), Origin: h.opts.NodeID}
	if err := h.bus.Publish(ctx, msg); err != nil {
		return fmt.Errorf("hub: publish to %q: %w", channel, err)
	}
	h.stats.published.Add(1)
	return nil
}

// receive is the hub's bus.Handler: it fans msg out to this node's
// subscribers of msg.Channel. It frames the payload once and returns when
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
	h.fanout(list, ws.NewPreparedMessage(ws.Text, msg.Payload), SubscriberID(msg.Except))
}

// fanout delivers m to list on the calling goroutine or, for a list longer
// than ParallelThreshold, split into at most FanoutParallelism chunks of
// about ParallelThreshold or more, one on the calling goroutine and the
// others on goroutines it waits for.
func (h *Hub) fanout(list []*subscription, m *ws.PreparedMessage, except SubscriberID) {
	n := len(list)
	chunks := min(h.opts.FanoutParallelism, n/h.opts.ParallelThreshold+1)
	if n <= h.opts.ParallelThreshold || chunks < 2 {
		h.deliver(list, m, except)
		return
	}
	size := (n + chunks - 1) / chunks
	var wg sync.WaitGroup
	for lo := size; lo < n; lo += size {
		part := list[lo:min(lo+size, n)]
		wg.Go(func() { h.deliver(part, m, except) })
	}
	h.deliver(list[:size], m, except)
	wg.Wait()
}

// deliver hands m to each live subscription of list but except. It
// allocates nothing and touches the shared counters once.
func (h *Hub) deliver(list []*subscription, m *ws.PreparedMessage, except SubscriberID) {
	var delivered, slow uint64
	for _, sub := range list {
		if sub.id == except || sub.gone.Load() {
			continue
		}
		if err := sub.s.Deliver(m); err != nil {
			if errors.Is(err, ws.ErrQueueFull) {
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
