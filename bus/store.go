package bus

import (
	"context"
	"encoding/json"
)

// This file holds the shared-state interfaces a cluster backend implements
// besides Bus, in the shape of database/sql/driver: the hub and the
// dialects use them, the in-memory versions (MemoryPresence, MemoryCounts,
// MemoryShared) serve one node, and bus/redis implements them for many.

// SubscriberID identifies one subscriber (one connection) across all
// nodes; hub.SubscriberID is the same type. 0 names no one.
type SubscriberID uint64

// Member is one user present on a presence channel.
type Member struct {
	UserID string
	// Info is the user's data, as given with the user's first connection
	// to the channel; the stores neither parse nor copy it.
	Info json.RawMessage
}

// PresenceStore holds the members of presence channels: per channel, the
// users present, each with the connections (subscriber ids) that made them
// present. A user is a member while at least one of its connections is.
// MemoryPresence serves one node; a store shared by many nodes (Redis) must
// decide added and removed atomically across them and must forget the
// connections of a node that died. All methods are safe for concurrent use.
type PresenceStore interface {
	// Add records connection id of user userID on channel. added reports
	// that it is the user's first connection there: the user joined. Adding
	// a connection already recorded changes nothing.
	Add(ctx context.Context, channel, userID string, info json.RawMessage, id SubscriberID) (added bool, err error)
	// Remove forgets connection id of user userID on channel. removed
	// reports that it was the user's last connection there: the user left.
	Remove(ctx context.Context, channel, userID string, id SubscriberID) (removed bool, err error)
	// Members returns the users present on channel, sorted by user id.
	Members(ctx context.Context, channel string) ([]Member, error)
}

// MemberChange is a presence change that no dialect call on this node
// made: a shared store found it. When a node dies, one surviving node's
// store removes the dead node's members and reports each user who left as
// a MemberChange with Added false; when a node's own members are written
// back after an outage, users who became present again are reported with
// Added true (and users who left meanwhile with Added false). The store
// decides atomically which node reports a change, so each is reported on
// one node only.
type MemberChange struct {
	Channel string
	UserID  string
	// Info is the user's data (Added only; it may be nil).
	Info json.RawMessage
	// Added is true when the user joined, false when the user left.
	Added bool
}

// PresenceWatcher is implemented by a PresenceStore that reports
// MemberChanges (a shared store). The hub calls Watch once, when it is
// built, with the function the store must call with each batch of changes,
// from one goroutine of the store's, one batch at a time.
type PresenceWatcher interface {
	Watch(f func([]MemberChange))
}

// Count spaces: the kinds of things a Counts store counts, each a separate
// key space.
const (
	// SpaceSubscriptions counts subscriptions per channel name. The hub
	// keeps it: every Subscribe and Unsubscribe changes it.
	SpaceSubscriptions = "sub"
	// SpaceConnections counts open connections per key the dialect chooses
	// (such as "pusher/{app_id}"), through hub.Hub.AddConnections.
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
