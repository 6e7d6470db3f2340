package hub

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/switchboard-rt/switchboard/bus"
)

// chanState is one occupied channel of a shard. All fields are guarded by the
// shard's mu, except that a publish reads a snapshot of list after
// releasing it.
type chanState struct {
	// subs indexes the live subscriptions by id once there are more than
	// smallChannel of them; below that, lookups scan list. Most channels
	// have one subscriber (a token broker's token, a private channel), and
	// a map of one costs about 300 bytes an idle connection cannot afford.
	subs map[SubscriberID]*subscription

	// list holds the live subscriptions and some that are gone. It is
	// copy-on-write with an append-only tail: a publish snapshots
	// list[:len(list)] under the read lock and reads it with no lock held,
	// so elements below len are never written again. Subscribe appends in
	// place (past every snapshot's end); Unsubscribe only marks the entry
	// gone, and when half the list is gone a new, compacted list replaces
	// it. Both are amortised O(1), and a publish allocates nothing per
	// subscriber.
	list []*subscription
	dead int // gone entries in list

	ready bool // the bus is known to have been told of this channel
}

// subscription is one Subscriber on one channel.
type subscription struct {
	id   SubscriberID
	s    Subscriber
	gone atomic.Bool // unsubscribed; publishes holding an old snapshot skip it
}

// ChannelInfo describes one occupied channel on this node.
type ChannelInfo struct {
	Name        string
	Subscribers int // subscriptions on this node
}

// Subscribe subscribes s, identified by id, to channel. first reports that
// the channel had no subscriber on this node before. Subscribe returns only
// once the bus knows of the channel (it tells the bus, with ctx, and calls
// OnChannelOccupied, unless another call already did), so every message
// published after Subscribe returns, on any node, reaches s. If the bus
// fails, the subscription is undone and the error returned.
//
// Subscribing an id that is already subscribed to channel replaces its
// Subscriber. The caller must unsubscribe the id when the subscriber goes
// away, including after a failed Deliver: the hub never drops a
// subscription by itself.
func (h *Hub) Subscribe(ctx context.Context, channel string, id SubscriberID, s Subscriber) (first bool, err error) {
	if id == NoID {
		return false, fmt.Errorf("hub: subscribe to %q: the subscriber id is NoID", channel)
	}
	if s == nil {
		return false, fmt.Errorf("hub: subscribe to %q: nil Subscriber", channel)
	}
	if h.closed.Load() {
		return false, ErrClosed
	}
	sh := h.shard(channel)
	sub := &subscription{id: id, s: s}
	sh.mu.Lock()
	ch := sh.channels[channel]
	if ch == nil {
		ch = &chanState{}
		sh.channels[channel] = ch
		h.stats.channels.Add(1)
		first = true
	}
	if old := ch.find(id); old != nil {
		ch.remove(old)
	} else {
		h.stats.subscriptions.Add(1)
		h.counts.Add(bus.SpaceSubscriptions, channel, 1)
	}
	ch.add(sub)
	ready := ch.ready
	sh.mu.Unlock()

	if ready {
		return first, nil
	}
	if err := h.settle(ctx, sh, channel); err != nil {
		if _, vacated := h.unsubscribe(sh, channel, id, sub); vacated {
			_ = h.settle(h.ctx, sh, channel)
		}
		return false, fmt.Errorf("hub: subscribe to %q: %w", channel, err)
	}
	return first, nil
}

// Unsubscribe removes id's subscription to channel, if any. last reports
// that it was the channel's last subscriber on this node; the bus is then
// told and OnChannelVacated called before Unsubscribe returns, unless the
// channel was occupied again meanwhile. Once Unsubscribe returns, the
// subscriber gets no message that the hub had not begun to fan out.
func (h *Hub) Unsubscribe(channel string, id SubscriberID) (last bool) {
	sh := h.shard(channel)
	if _, vacated := h.unsubscribe(sh, channel, id, nil); !vacated {
		return false
	}
	_ = h.settle(h.ctx, sh, channel) // vacating returns no error
	return true
}

// UnsubscribeAll unsubscribes id from each of channels: what a dialect calls
// when a connection closes, with the channels it subscribed to. Presence
// membership is separate: remove it with RemoveMember.
func (h *Hub) UnsubscribeAll(id SubscriberID, channels []string) {
	for _, c := range channels {
		h.Unsubscribe(c, id)
	}
}

// unsubscribe removes id's subscription to channel name, if there is one
// and, when want is not nil, it is want. It reports whether a subscription
// was removed and whether that vacated the channel.
func (h *Hub) unsubscribe(sh *shard, name string, id SubscriberID, want *subscription) (removed, vacated bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ch := sh.channels[name]
	if ch == nil {
		return false, false
	}
	sub := ch.find(id)
	if sub == nil || want != nil && sub != want {
		return false, false
	}
	h.stats.subscriptions.Add(-1)
	h.counts.Add(bus.SpaceSubscriptions, name, -1)
	if ch.live() > 1 {
		ch.remove(sub)
		return true, false
	}
	sub.gone.Store(true)
	delete(sh.channels, name)
	h.stats.channels.Add(-1)
	return true, true
}

// smallChannel is the most subscribers a channel finds by scanning its list.
const smallChannel = 8

// live returns the number of live subscriptions.
func (ch *chanState) live() int { return len(ch.list) - ch.dead }

// find returns id's live subscription, or nil.
func (ch *chanState) find(id SubscriberID) *subscription {
	if ch.subs != nil {
		return ch.subs[id]
	}
	for _, s := range ch.list {
		if s.id == id && !s.gone.Load() {
			return s
		}
	}
	return nil
}

// add appends a live subscription, indexing the channel once it grows past
// smallChannel.
func (ch *chanState) add(sub *subscription) {
	ch.list = append(ch.list, sub)
	switch {
	case ch.subs != nil:
		ch.subs[sub.id] = sub
	case ch.live() > smallChannel:
		ch.subs = make(map[SubscriberID]*subscription, 2*smallChannel)
		for _, s := range ch.list {
			if !s.gone.Load() {
				ch.subs[s.id] = s
			}
		}
	}
}

// remove marks sub gone and compacts list when half of it is gone.
func (ch *chanState) remove(sub *subscription) {
	if ch.subs != nil {
		delete(ch.subs, sub.id)
	}
	sub.gone.Store(true)
	ch.dead++
	if ch.dead*2 < len(ch.list) {
		return
	}
	live := make([]*subscription, 0, len(ch.list)-ch.dead+1)
	for _, s := range ch.list {
		if !s.gone.Load() {
			live = append(live, s)
		}
	}
	ch.list, ch.dead = live, 0
}

// settle brings the bus and the occupancy hooks in line with whether
// channel is occupied now. Calls for one shard run one at a time, so the
// bus and the hooks see a channel's changes in order even when the
// Subscribe and Unsubscribe calls that made them race. It returns the bus's
// error for a failed Subscribe; other errors are logged.
func (h *Hub) settle(ctx context.Context, sh *shard, name string) error {
	sh.settleMu.Lock()
	defer sh.settleMu.Unlock()
	sh.mu.RLock()
	occupied := sh.channels[name] != nil
	sh.mu.RUnlock()
	_, told := sh.announced[name]

	switch {
	case occupied && !told:
		if !h.closed.Load() {
			if err := h.bus.Subscribe(ctx, name); err != nil {
				return err
			}
		}
		sh.announced[name] = struct{}{}
		if h.opts.OnChannelOccupied != nil {
			h.opts.OnChannelOccupied(name)
		}
	case !occupied && told:
		delete(sh.announced, name)
		if !h.closed.Load() {
			err := h.bus.Unsubscribe(ctx, name)
			if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, bus.ErrClosed) {
				h.log.Error("hub: bus unsubscribe failed", "channel", name, "err", err)
			}
		}
		if h.opts.OnChannelVacated != nil {
			h.opts.OnChannelVacated(name)
		}
	}
	if occupied {
		// Mark whichever channel value is current: the bus knows the name.
		sh.mu.Lock()
		if ch := sh.channels[name]; ch != nil {
			ch.ready = true
		}
		sh.mu.Unlock()
	}
	return nil
}

// SubscriberCount returns the number of subscriptions to channel on this
// node; ClusterSubscriberCount counts every node's.
func (h *Hub) SubscriberCount(channel string) int {
	sh := h.shard(channel)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if ch := sh.channels[channel]; ch != nil {
		return ch.live()
	}
	return 0
}

// Channels returns the channels occupied on this node whose names start
// with prefix ("" for all), sorted by name, with their subscriber counts;
// ClusterChannels answers for every node.
func (h *Hub) Channels(prefix string) []ChannelInfo {
	var out []ChannelInfo
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		for name, ch := range sh.channels {
			if strings.HasPrefix(name, prefix) {
				out = append(out, ChannelInfo{Name: name, Subscribers: ch.live()})
			}
		}
		sh.mu.RUnlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
