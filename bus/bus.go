// Package bus is what a Switchboard node shares with the other nodes of its
// cluster: the bus that carries publishes between their hubs, and the
// stores that answer for the cluster as a whole (presence members, counts,
// a small key/value store for dialects, the reported state of held keys),
// gathered in one [Backend] that a hub is built with. The shape is that of
// database/sql/driver: this package defines the interfaces and the
// in-memory versions that serve one node ([Local], [MemoryPresence],
// [MemoryCounts], [MemoryShared], [MemoryEdges]); bus/redis
// implements them all for many nodes; the hub uses them and cannot tell
// which it has.
//
// A node's hub hands every publish to its [Bus], and the bus hands it back,
// on every node with local interest in the channel, to that node's hub
// through the [Handler] the hub registered with [Bus.Start].
//
// The bus moves opaque payloads. It must not know about WebSocket
// connections, subscribers or any wire format (Pusher, token broker,
// Atmosphere): it knows channel names, bytes and node ids, nothing else.
package bus

import (
	"context"
	"errors"
)

// Message is one publish on its way between nodes.
type Message struct {
	// Channel is the channel the payload is published to.
	Channel string
	// Payload is the encoded message, delivered as it is to subscribers. No
	// one modifies it once it is published: buses and handlers may keep it.
	Payload []byte
	// Except is the subscriber id, unique across nodes, that must not
	// receive the message (the publisher's own connection); 0 for none.
	Except uint64
	// Origin is the id of the node that published the message.
	Origin string
}

// Handler receives every message a bus delivers to this node. It may be
// called from several goroutines at once, must not block on the network,
// and must not keep msg beyond the call except for msg.Payload, which is
// immutable.
type Handler func(msg Message)

// Bus carries publishes between the hubs of all nodes. The hub is its only
// caller; all methods are safe for concurrent use.
//
// The hub may call Publish, Subscribe and Unsubscribe from inside a Handler
// call: a delivery can overflow a connection's queue, and the dialect then
// unsubscribes that connection at once. So no method may wait for a Handler
// call to return; a Redis bus whose reader goroutine runs the Handler must
// not make Subscribe wait for that goroutine to read the acknowledgement.
//
// Guarantees an implementation must give:
//
//   - Delivery: every message published to a channel reaches the Handler of
//     every node that has Subscribe'd to the channel, including the
//     publishing node, exactly once while the bus is healthy. It may be lost
//     when a node loses its connection to the bus (at most once), never
//     duplicated.
//   - Order: when Publish(m1) returns before Publish(m2) is called, on the
//     same node and for the same channel, every node calls its Handler with
//     m2 only after its call with m1 has returned. The hub's per-subscriber
//     order rests on this. Messages of different channels, or of publishes
//     that overlap in time, have no order.
//   - Publish does not block on slow subscribers: it returns once the
//     message is accepted for delivery (Local: once the local fan-out, which
//     only enqueues, is done).
type Bus interface {
	// Start registers the one Handler of this node and starts delivering to
	// it. The hub calls it once, before any other method. Any goroutine the
	// bus needs (a Redis reader) is started here and stopped by Close; Start
	// itself does not block.
	Start(h Handler) error

	// Publish sends msg to every node with interest in msg.Channel. It
	// returns ctx's error if ctx is done before the message is accepted,
	// ErrClosed after Close, or the transport's error.
	Publish(ctx context.Context, msg Message) error

	// Subscribe tells the bus that this node has local subscribers on
	// channel: the hub calls it when the channel becomes occupied on this
	// node. It returns once messages published afterwards, from any node,
	// will reach the Handler (a Redis bus: once SUBSCRIBE is acknowledged).
	// The hub makes Subscribe and Unsubscribe calls for one channel one at a
	// time, alternating, in the order of the channel's occupancy changes.
	Subscribe(ctx context.Context, channel string) error

	// Unsubscribe tells the bus that channel has no local subscribers any
	// more: the hub calls it when the channel is vacated on this node. The
	// bus may keep delivering the channel's messages for a while; the hub
	// drops them. An error is logged by the hub, not returned to anyone.
	Unsubscribe(ctx context.Context, channel string) error

	// Close stops delivery and releases the bus: later calls return
	// ErrClosed, and every goroutine the bus started has exited when Close
	// returns. The hub that was given the bus closes it.
	Close() error
}

// Errors callers may branch on.
var (
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("bus: closed")
	// ErrNotStarted is returned by Publish before Start registered a Handler.
	ErrNotStarted = errors.New("bus: not started")
)
