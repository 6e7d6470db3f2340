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

// chanState is one channel of a shard: occupied, or vacated and not yet
// settled (no live subscription, still in the map until settle tells the
// bus). All fields are guarded by the shard's mu, except that a publish
// reads a snapshot of list after releasing it; told is also written only
// under the shard's settleMu.
type chanState struct {
	// list holds the live subscriptions and some that are gone. It is
	// copy-on-write with an append-only tail: a publish snapshots
	// list[:len(list)] under the read lock and reads it with no lock held,
	// so elements below len are never written again. Subscribe appends in
	// place (past every snapshot's end); Unsubscribe only marks the entry
	// gone, and when half the list is gone a new, compacted list replaces
	// it. Both are amortised O(1), and a publish allocates nothing per
	// subscriber.
	list []*subscription
	dead int32 // gone entries in list

	// indexed is set once the channel has more than smallChannel live
	// subscriptions: the shard's index then finds them by id; below that,
	// lookups scan list. Most channels have one subscriber (a token
	// broker's token, a private channel): keeping the index out of this
	// struct keeps it at 32 bytes, and a map of one would cost about 300.
	indexed bool

	// told is set while the bus knows of the channel (and
	// OnChannelOccupied was called): Subscribe returns at once when it is
	// set. It lives here rather than in a set of names beside the map, so
	// a channel costs one map entry: a vacated channel stays in the map,
	// empty, until settle has told the bus and removes it. It is written
	// under both the shard's settleMu and mu.
	told bool
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
	}
	if ch.live() == 0 { // new, or vacated and not yet settled
		h.stats.channels.Add(1)
		first = true
	}
	if old := sh.find(ch, id); old != nil {
		sh.remove(ch, old)
	} else {
		h.stats.subscriptions.Add(1)
		h.countSubscription(channel, 1)
	}
	sh.add(ch, sub)
	ready := ch.told
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
	sub := sh.find(ch, id)
	if sub == nil || want != nil && sub != want {
		return false, false
	}
	h.stats.subscriptions.Add(-1)
	h.countSubscription(name, -1)
	if ch.live() > 1 {
		sh.remove(ch, sub)
		return true, false
	}
	sub.gone.Store(true)
	sh.empty(ch)
	h.stats.channels.Add(-1)
	return true, true
}

// smallChannel is the most subscribers a channel finds by scanning its list.
const smallChannel = 8

// live returns the number of live subscriptions.
func (ch *chanState) live() int { return len(ch.list) - int(ch.dead) }

// find returns id's live subscription of ch, or nil.
func (sh *shard) find(ch *chanState, id SubscriberID) *subscription {
	if ch.indexed {
		return sh.index[ch][id]
	}
	for _, s := range ch.list {
		if s.id == id && !s.gone.Load() {
			return s
		}
	}
	return nil
}

// add appends a live subscription to ch, indexing the channel once it
// grows past smallChannel.
func (sh *shard) add(ch *chanState, sub *subscription) {
	ch.list = append(ch.list, sub)
	switch {
	case ch.indexed:
		sh.index[ch][sub.id] = sub
	case ch.live() > smallChannel:
		idx := make(map[SubscriberID]*subscription, 2*smallChannel)
		for _, s := range ch.list {
			if !s.gone.Load() {
				idx[s.id] = s
			}
		}
		if sh.index == nil {
			sh.index = make(map[*chanState]map[SubscriberID]*subscription)
		}
		sh.index[ch] = idx
		ch.indexed = true
	}
}

// remove marks sub gone and compacts ch's list when half of it is gone.
func (sh *shard) remove(ch *chanState, sub *subscription) {
	if ch.indexed {
		delete(sh.index[ch], sub.id)
	}
	sub.gone.Store(true)
	ch.dead++
	if int(ch.dead)*2 < len(ch.list) {
		return
	}
	live := make([]*subscription, 0, len(ch.list)-int(ch.dead)+1)
	for _, s := range ch.list {
		if !s.gone.Load() {
			live = append(live, s)
		}
	}
	ch.list, ch.dead = live, 0
}

// empty forgets ch's subscriptions once the last is gone: the channel
// stays in the map, empty, for settle.
func (sh *shard) empty(ch *chanState) {
	if ch.indexed {
		delete(sh.index, ch)
		ch.indexed = false
	}
	ch.list, ch.dead = nil, 0
}

// settle brings the bus and the occupancy hooks in line with whether
// channel is occupied now, and removes the channel from the shard's map
// once it is empty and the bus no longer knows of it. Calls for one shard
// run one at a time, so the bus and the hooks see a channel's changes in
// order even when the Subscribe and Unsubscribe calls that made them race.
// It returns the bus's error for a failed Subscribe; other errors are
// logged.
func (h *Hub) settle(ctx context.Context, sh *shard, name string) error {
	sh.settleMu.Lock()
	defer sh.settleMu.Unlock()
	sh.mu.Lock()
	ch := sh.channels[name]
	occupied := ch != nil && ch.live() > 0
	told := ch != nil && ch.told
	if !occupied && ch != nil {
		// Vacated: from here a Subscribe finds no channel, or a new one
		// not told, and waits for this settle before telling the bus.
		delete(sh.channels, name)
	}
	sh.mu.Unlock()

	switch {
	case occupied && !told:
		if !h.closed.Load() {
			if err := h.bus.Subscribe(ctx, name); err != nil {
				return err
			}
		}
		// The channel stays in the map until a settle removes it, and
		// settles of this shard wait for this one.
		sh.mu.Lock()
		ch.told = true
		sh.mu.Unlock()
		if h.opts.OnChannelOccupied != nil {
			h.opts.OnChannelOccupied(name)
		}
	case !occupied && told:
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
			if ch.live() > 0 && strings.HasPrefix(name, prefix) {
				out = append(out, ChannelInfo{Name: name, Subscribers: ch.live()})
			}
		}
		sh.mu.RUnlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
