package hub

import (
	"context"
	"fmt"
)

// Count spaces: the kinds of things a Counts store counts, each a separate
// key space.
const (
	// SpaceSubscriptions counts subscriptions per channel name. The hub
	// keeps it: every Subscribe and Unsubscribe changes it.
	SpaceSubscriptions = "sub"
	// SpaceConnections counts open connections per key the dialect chooses
	// (such as "pusher/{app_id}"), through Hub.AddConnections.
	SpaceConnections = "conn"
)

// KeyCount is one key of a count space and its count over all nodes.
type KeyCount struct {
	Key   string
	Count int
}

// Counts holds counts that a cluster answers for as a whole: each node
// tells it of its own changes, and reads sum over every live node.
// MemoryCounts serves one node; a store shared by many nodes (bus/redis)
// must forget the counts of a node that died. All methods are safe for
// concurrent use.
type Counts interface {
	// Add adds delta to this node's count of key in space. It must not
	// block on the network and cannot fail: a shared store records the
	// change locally and writes it to the other nodes in the background.
	// The hub calls it with a shard lock held, so it must not call back
	// into the hub.
	Add(space, key string, delta int)

	// Count returns key's count in space, summed over all nodes. This
	// node's own changes are counted as soon as Add returns.
	Count(ctx context.Context, space, key string) (int, error)

	// List returns the keys of space that start with prefix ("" for all)
	// and whose count is positive, sorted by key.
	List(ctx context.Context, space, prefix string) ([]KeyCount, error)
}

// ClusterSubscriberCount returns the number of subscriptions to channel
// on all nodes. With one node (no shared Counts) it equals SubscriberCount.
func (h *Hub) ClusterSubscriberCount(ctx context.Context, channel string) (int, error) {
	n, err := h.counts.Count(ctx, SpaceSubscriptions, channel)
	if err != nil {
		return 0, fmt.Errorf("hub: subscription count of %q: %w", channel, err)
	}
	return n, nil
}

// ClusterChannels returns the channels occupied on any node whose names
// start with prefix ("" for all), sorted by name, with their subscription
// counts over all nodes. With one node it equals Channels.
func (h *Hub) ClusterChannels(ctx context.Context, prefix string) ([]ChannelInfo, error) {
	kcs, err := h.counts.List(ctx, SpaceSubscriptions, prefix)
	if err != nil {
		return nil, fmt.Errorf("hub: channels with prefix %q: %w", prefix, err)
	}
	out := make([]ChannelInfo, len(kcs))
	for i, kc := range kcs {
		out[i] = ChannelInfo{Name: kc.Key, Subscribers: kc.Count}
	}
	return out, nil
}

// AddConnections adds delta to this node's count of open connections
// under key (a dialect calls it with +1 when a connection opens and -1
// when it closes; key is its own, such as "pusher/{app_id}"). It never
// blocks.
func (h *Hub) AddConnections(key string, delta int) {
	h.counts.Add(SpaceConnections, key, delta)
}

// ConnectionCount returns the number of open connections under key on all
// nodes, as counted by AddConnections.
func (h *Hub) ConnectionCount(ctx context.Context, key string) (int, error) {
	n, err := h.counts.Count(ctx, SpaceConnections, key)
	if err != nil {
		return 0, fmt.Errorf("hub: connection count of %q: %w", key, err)
	}
	return n, nil
}

// ConnectionCounts returns the keys starting with prefix that have open
// connections on any node, with their counts over all nodes.
func (h *Hub) ConnectionCounts(ctx context.Context, prefix string) ([]KeyCount, error) {
	kcs, err := h.counts.List(ctx, SpaceConnections, prefix)
	if err != nil {
		return nil, fmt.Errorf("hub: connection counts with prefix %q: %w", prefix, err)
	}
	return kcs, nil
}
