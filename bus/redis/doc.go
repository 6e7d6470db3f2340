// Package redis is the cluster bus: several Switchboard nodes on one Redis
// behave, for every client, like one node.
//
// [New] returns a [Bus], which is a bus.Bus for the hub and also owns the
// node's other cluster-wide state, each behind an interface of package bus:
//
//   - [Bus] carries publishes between nodes over Redis pub/sub, one Redis
//     channel per hub channel, subscribed while the channel has local
//     subscribers (SUBSCRIBE prefix+"m:"+channel);
//   - [Presence] (bus.PresenceStore) keeps presence members in Redis, so
//     that member_added and member_removed fire once per user across the
//     cluster, and reports the members of dead nodes (bus.PresenceWatcher);
//   - [Counts] (bus.Counts) keeps subscription and connection counts per
//     node and sums them over the live nodes;
//   - [Shared] (bus.SharedStore) is a small key/value store for dialect
//     state that must agree across nodes;
//   - [Edges] (bus.EdgeStore) decides once for the cluster when a key that
//     nodes hold (an occupied channel, an online user) goes up or, after a
//     grace period, down, and settles on each heartbeat the keys whose
//     grace ended with no node left to settle them (bus.EdgeWatcher).
//
// Wire it as
//
//	b, err := redis.New(&redis.Options{URL: "redis://127.0.0.1:6379/0"})
//	h, err := hub.New(&hub.Options{Backend: b.Backend()})
//	srv.AddReadinessCheck("redis", b.Ready)
//
// and close the hub, which closes the bus. Each node heartbeats a deadline
// into Redis; a node that misses it (kill -9) is reaped by a survivor,
// which reports the dead node's members as left. While Redis is
// unreachable the node keeps serving its own clients: publishes reach the
// local subscribers, presence and counts answer for this node alone, Ready
// fails, and the bus reconnects with back-off, then re-subscribes and
// writes this node's state back. docs/clustering.md says what a client can
// miss meanwhile, and why this design.
//
// Redis may be one server, a Sentinel set (redis-sentinel://; the bus
// follows the primary the sentinels name) or a Redis Cluster
// (redis-cluster://; messages go by sharded pub/sub, SPUBLISH and
// SSUBSCRIBE on the channel's primary, and the state keys share the hash
// tag {KeyPrefix}): see Options.URL and topology.go. A failover is an
// outage that ends when the replica has taken over.
//
// The package knows channel names, bytes, node ids, users and counts; it
// must not know any wire format (Pusher, token broker, Atmosphere) or
// connection.
package redis
