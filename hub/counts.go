package hub

import (
	"context"
	"fmt"

	"github.com/switchboard-rt/switchboard/bus"
)

// KeyCount is one key of a count space and its count over all nodes; see
// bus.KeyCount.
type KeyCount = bus.KeyCount

// ClusterSubscriberCount returns the number of subscriptions to channel
// on all nodes. With one node (in-memory counts) it equals SubscriberCount.
func (h *Hub) ClusterSubscriberCount(ctx context.Context, channel string) (int, error) {
	if h.localCounts {
		return h.SubscriberCount(channel), nil
	}
	n, err := h.counts.Count(ctx, bus.SpaceSubscriptions, channel)
	if err != nil {
		return 0, fmt.Errorf("hub: subscription count of %q: %w", channel, err)
	}
	return n, nil
}

// ClusterChannels returns the channels occupied on any node whose names
// start with prefix ("" for all), sorted by name, with their subscription
// counts over all nodes. With one node it equals Channels.
func (h *Hub) ClusterChannels(ctx context.Context, prefix string) ([]ChannelInfo, error) {
	if h.localCounts {
		return h.Channels(prefix), nil
	}
	kcs, err := h.counts.List(ctx, bus.SpaceSubscriptions, prefix)
	if err != nil {
		return nil, fmt.Errorf("hub: channels with prefix %q: %w", prefix, err)
	}
	out := make([]ChannelInfo, len(kcs))
	for i, kc := range kcs {
		out[i] = ChannelInfo{Name: kc.Key, Subscribers: kc.Count}
	}
	return out, nil
}

// countSubscription tells a shared Counts store of a change in channel's
// subscriptions on this node. With one node the shards are the count, and
// a second record of every channel would cost each idle connection on a
// channel of its own about 100 bytes. The shard's lock is held.
func (h *Hub) countSubscription(channel string, delta int) {
	if !h.localCounts {
		h.counts.Add(bus.SpaceSubscriptions, channel, delta)
	}
}

// AddConnections adds delta to this node's count of open connections
// under key (a dialect calls it with +1 when a connection opens and -1
// when it closes; key is its own, such as "pusher/{app_id}"). It never
// blocks.
func (h *Hub) AddConnections(key string, delta int) {
	h.counts.Add(bus.SpaceConnections, key, delta)
}

// ConnectionCount returns the number of open connections under key on all
// nodes, as counted by AddConnections.
func (h *Hub) ConnectionCount(ctx context.Context, key string) (int, error) {
	n, err := h.counts.Count(ctx, bus.SpaceConnections, key)
	if err != nil {
		return 0, fmt.Errorf("hub: connection count of %q: %w", key, err)
	}
	return n, nil
}

// ConnectionCounts returns the keys starting with prefix that have open
// connections on any node, with their counts over all nodes.
func (h *Hub) ConnectionCounts(ctx context.Context, prefix string) ([]KeyCount, error) {
	kcs, err := h.counts.List(ctx, bus.SpaceConnections, prefix)
	if err != nil {
		return nil, fmt.Errorf("hub: connection counts with prefix %q: %w", prefix, err)
	}
	return kcs, nil
}
