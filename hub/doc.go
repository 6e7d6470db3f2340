// Package hub keeps a node's channels, subscriptions, presence members and
// counts, and fans published messages out to the local subscribers.
//
// A dialect (Pusher, token broker, Atmosphere) decodes its frames and calls
// the hub: [Hub.Subscribe] and [Hub.Unsubscribe] with a [Subscriber] (in
// practice a *ws.Conn wrapped by the dialect) and an id from [Hub.NewID],
// [Hub.Publish] with an already encoded payload, and [Hub.AddMember] and
// [Hub.RemoveMember] for presence channels. The hub wraps each published
// payload in one [Message] and hands the same value to every subscriber of
// the channel on this node: socket subscribers share its WebSocket frame,
// built on first use, so a message to 10,000 subscribers is framed once;
// other subscribers read its payload; a dialect keeps its per-message
// variants in its memo.
//
// Every publish goes through a bus.Bus, which carries it to the hubs of all
// nodes (bus.Local when there is one node). The hub tells the bus when a
// channel becomes occupied or vacated on this node and cannot tell which bus
// it has.
//
// The hub must not know any wire format: it never parses or builds a
// payload, a channel name's prefix ("private-", "presence-") or an event
// name, and it does not decide who may subscribe. Those are the dialects'.
//
// # Concurrency
//
// Every method of [Hub] is safe for concurrent use. Channels are spread over
// 64 shards by a hash of their name, each with its own lock, so operations
// on different channels rarely contend. A publish holds a shard's read lock
// only to take a snapshot of the channel's subscriber list; Deliver is called
// with no lock held, so a Subscriber may call back into the hub.
//
// Lock order (the whole table is in docs/ARCHITECTURE.md): a shard's settle
// mutex, held across the bus's Subscribe and Unsubscribe and the occupancy
// hooks for one channel's change, before the shard's data lock; never two
// shards at once; presence locks are never held with a shard lock. The
// Counts store's lock is taken under a shard lock (Counts.Add) and is a
// leaf: the store never calls back into the hub. A Message's memo lock is
// held while a dialect builds a memo value, and under no hub lock.
package hub
