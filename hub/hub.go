package hub

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/ws"
)

// Subscriber is the dialect's side of one subscription: usually a
// connection. The hub calls Deliver from any goroutine, possibly from
// several at once, never while holding a lock.
type Subscriber interface {
	// Deliver queues m for sending without blocking, and must not modify it.
	// An error means m was not queued: ErrSlowSubscriber when the queue was
	// full (the subscriber then closes itself, and the hub counts a slow
	// consumer), or any other error, such as ErrSubscriberGone, when it is
	// closed.
	// A socket subscriber sends m.Frame() (a *ws.Conn's SendPrepared has
	// this contract); any other uses m.Payload().
	Deliver(m *Message) error
}

// SubscriberFunc adapts a function to a Subscriber.
type SubscriberFunc func(m *Message) error

// Deliver calls f(m).
func (f SubscriberFunc) Deliver(m *Message) error { return f(m) }

// SubscriberID identifies one subscriber (one connection) across all nodes.
// A dialect gets one from [Hub.NewID] and uses it in Subscribe, Unsubscribe,
// presence and as the except argument of Publish ("socket_id" in Pusher).
// It is bus.SubscriberID, the id the presence stores keep.
type SubscriberID = bus.SubscriberID

// NoID is the zero SubscriberID: it names no subscriber, and Publish with
// except NoID excludes no one.
const NoID SubscriberID = 0

// Options configures a Hub. A nil *Options means every default; New copies
// the options, so the caller's struct is never changed.
type Options struct {
	// Backend is what the node shares with the rest of its cluster: the
	// bus (which the hub starts, and Hub.Close closes), the presence,
	// counts and shared stores, and the node's id. Its nil parts are
	// in-memory, right for one node: the zero Backend is a single node.
	Backend bus.Backend

	// Logger receives the hub's few logs (bus errors). nil means
	// slog.Default().
	Logger *slog.Logger

	// OnChannelOccupied is called when a channel gains its first subscriber
	// on this node, after the bus was told; OnChannelVacated when it loses
	// its last. For one channel, the calls alternate and come in the order
	// of the changes; the calls for channels of one shard are made one at a
	// time, so a hook must be quick (queue a webhook, do not send it) and
	// must not call Subscribe, Unsubscribe or UnsubscribeAll. Either may be
	// nil.
	OnChannelOccupied func(channel string)
	OnChannelVacated  func(channel string)

	// FanoutParallelism is the most goroutines one publish delivers on.
	// Default runtime.GOMAXPROCS(0); 1 delivers on the publishing goroutine
	// only.
	FanoutParallelism int

	// ParallelThreshold is the subscriber count above which a publish is
	// split across goroutines, in chunks of about this size or larger.
	// Default 512.
	ParallelThreshold int
}

// DefaultParallelThreshold is the default Options.ParallelThreshold.
const DefaultParallelThreshold = 512

// ErrClosed is returned by Subscribe and Publish after Close.
var ErrClosed = errors.New("hub: closed")

// Errors a Subscriber's Deliver returns. They are the ws package's, so
// that a *ws.Conn's SendPrepared error and any other subscriber's mean the
// same, and a subscriber that is not a socket needs nothing of ws.
var (
	// ErrSlowSubscriber: the subscriber's queue is full; the hub counts a
	// slow consumer.
	ErrSlowSubscriber = ws.ErrQueueFull
	// ErrSubscriberGone: the subscriber is closed or unsubscribing.
	ErrSubscriberGone = ws.ErrClosed
)

// numShards is the number of channel shards: a power of two, large enough
// that publishes on a many-core machine seldom meet on one lock.
const numShards = 64

// Hub is one node's registry of channels and subscriptions and its fan-out
// engine. It owns no goroutine of its own: a publish delivers on the
// goroutine that the bus calls it on, plus, for large channels, helper
// goroutines it waits for before returning.
//
// What its methods wait for: Publish, for the bus to accept the message
// (with bus.Local, for the local fan-out, which only enqueues); the fan-out,
// for every Deliver of the message to return; Subscribe, for the bus to
// acknowledge a channel new to this node (bounded by its ctx); Unsubscribe
// of a channel's last subscriber, for the bus to be told; the presence and
// cluster count methods, for their store (bounded by ctx); Close, for the
// bus's Close, which waits for the bus's goroutines. No method waits for a
// subscriber's socket.
type Hub struct {
	opts     Options
	bus      bus.Bus
	presence bus.PresenceStore
	counts   bus.Counts
	shared   bus.SharedStore
	edges    bus.EdgeStore
	queues   bus.QueueStore
	// localCounts is set when the Backend has no Counts of its own (one
	// node): the hub's channel records then answer for subscriptions, and
	// counts holds only the connection counts.
	localCounts bool
	memberHooks hooks[MemberChange]
	edgeHooks   hooks[EdgeChange]
	log         *slog.Logger
	seed        maphash.Seed
	shards      [numShards]shard

	idPrefix uint64 // random, in the top 24 bits of every id
	idNext   atomic.Uint64

	ctx    context.Context // cancelled by Close; bounds bus calls made on unsubscribe
	cancel context.CancelFunc
	closed atomic.Bool

	stats counters
}

// counters are the hub's statistics; see Stats.
type counters struct {
	published, received, delivered, slow atomic.Uint64
	channels, subscriptions              atomic.Int64
}

// Stats is a snapshot of a hub's counters (totals since New) and gauges.
// The server exports them as metrics.
type Stats struct {
	// Published counts messages this hub handed to the bus.
	Published uint64
	// Received counts messages the bus handed to this hub for local fan-out,
	// published on any node.
	Received uint64
	// Delivered counts messages queued to local subscribers, one per
	// subscriber.
	Delivered uint64
	// SlowConsumers counts deliveries refused with ErrSlowSubscriber: each
	// closed a slow subscriber.
	SlowConsumers uint64
	// Channels is the number of channels with a subscriber on this node.
	Channels int
	// Subscriptions is the number of subscriptions on this node.
	Subscriptions int
}

// New returns a hub and starts its bus. It fails only if the bus does not
// start.
func New(opts *Options) (*Hub, error) {
	h := &Hub{seed: maphash.MakeSeed()}
	if opts != nil {
		h.opts = *opts
	}
	o := &h.opts
	h.localCounts = o.Backend.Counts == nil
	o.Backend = o.Backend.WithDefaults()
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:]) // crypto/rand.Read never fails
	if o.FanoutParallelism <= 0 {
		o.FanoutParallelism = runtime.GOMAXPROCS(0)
	}
	if o.ParallelThreshold <= 0 {
		o.ParallelThreshold = DefaultParallelThreshold
	}
	be := &o.Backend
	h.bus, h.presence, h.log = be.Bus, be.Presence, o.Logger
	h.counts, h.shared, h.edges = be.Counts, be.Shared, be.Edges
	h.queues = be.Queues
	if w, ok := be.Presence.(bus.PresenceWatcher); ok {
		w.Watch(h.memberHooks.call)
	}
	if w, ok := be.Edges.(bus.EdgeWatcher); ok {
		w.Watch(h.edgeHooks.call)
	}
	h.idPrefix = (binary.LittleEndian.Uint64(rnd[:])>>40 | 1) << 40
	for i := range h.shards {
		h.shards[i].channels = make(map[string]*chanState)
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	if err := h.bus.Start(h.receive); err != nil {
		h.cancel()
		return nil, fmt.Errorf("hub: start bus: %w", err)
	}
	return h, nil
}

// NodeID returns the id this node's messages carry on the bus.
func (h *Hub) NodeID() string { return h.opts.Backend.NodeID }

// Shared returns the key/value store dialects share across nodes: the
// Backend's, or an in-memory one.
func (h *Hub) Shared() bus.SharedStore { return h.shared }

// Edges returns the store that decides, once for the cluster, when a held
// key changes its reported state: the Backend's, or an in-memory one.
func (h *Hub) Edges() bus.EdgeStore { return h.edges }

// Queues returns the work queues dialects share across nodes (pending
// webhooks): the Backend's, or in-memory ones.
func (h *Hub) Queues() bus.QueueStore { return h.queues }

// NewID returns a SubscriberID never returned before by this hub and never
// NoID. Its top 24 bits are drawn at random when the hub is created and the
// low 40 count up, so ids of different nodes differ unless two nodes draw
// the same prefix (odds about n²/2²⁵ for n nodes). Ids use all 64 bits: a
// dialect that shows them to clients must print them as strings, not as
// JavaScript numbers.
func (h *Hub) NewID() SubscriberID {
	return SubscriberID(h.idPrefix | h.idNext.Add(1)&(1<<40-1))
}

// Stats returns the current counters.
func (h *Hub) Stats() Stats {
	return Stats{
		Published:     h.stats.published.Load(),
		Received:      h.stats.received.Load(),
		Delivered:     h.stats.delivered.Load(),
		SlowConsumers: h.stats.slow.Load(),
		Channels:      int(h.stats.channels.Load()),
		Subscriptions: int(h.stats.subscriptions.Load()),
	}
}

// Close stops the hub: Subscribe and Publish return ErrClosed afterwards,
// and the bus is closed. Subscriptions stay until their owners unsubscribe;
// close the connections first, then the hub. Close returns the bus's error.
func (h *Hub) Close() error {
	if h.closed.Swap(true) {
		return nil
	}
	h.cancel()
	if err := h.bus.Close(); err != nil {
		return fmt.Errorf("hub: close bus: %w", err)
	}
	return nil
}

// shard returns the shard that holds channel.
func (h *Hub) shard(channel string) *shard {
	return &h.shards[maphash.String(h.seed, channel)&(numShards-1)]
}

// shard is one slice of the channel space.
type shard struct {
	mu       sync.RWMutex
	channels map[string]*chanState // occupied channels, and vacated ones not yet settled; guarded by mu
	// index finds the subscriptions of the channels with more than
	// smallChannel of them by id; guarded by mu. nil until one has.
	index map[*chanState]map[SubscriberID]*subscription

	// settleMu serialises telling the bus and the hooks about occupancy
	// changes of this shard's channels. It is taken before mu.
	settleMu sync.Mutex
}
