package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/internal/redisurl"
	"github.com/switchboard-rt/switchboard/internal/routine"
)

// Bus is the Redis bus.Bus of one node, and the owner of the node's other
// cluster state: Presence, Counts and Shared. All methods are safe for
// concurrent use.
//
// Delivery: Publish hands the message to the local Handler at once, on the
// calling goroutine, then queues it for Redis; the node skips its own
// messages when they come back. So local subscribers never wait for Redis
// and keep getting local publishes while Redis is down. Other nodes get
// the message through Redis: one writer goroutine sends the queue in
// order, pipelined, and one reader goroutine per node receives and hands
// each message to the delivery goroutine that owns its channel, so
// messages of one channel from one node arrive in publish order. A message
// is delivered at most once: one that cannot be sent (Redis down) or
// received (the connection broke) is lost and counted.
//
// Subscribe returns once Redis acknowledged the SUBSCRIBE; the reader
// goroutine reads the acknowledgement and never runs the Handler itself, so
// the hub may call any method from inside the Handler. While Redis is
// down, Subscribe records the channel and returns at once; the channel is
// subscribed when the connection is back.
type Bus struct {
	opts   Options
	id     string // opts.NodeID: name, then a random suffix
	log    *slog.Logger
	client goredis.UniversalClient
	p      string   // the prefix of state keys: opts.KeyPrefix, or {opts.KeyPrefix} on a Redis Cluster
	mp     string   // opts.KeyPrefix+"m:": the prefix of the Redis channels that carry messages
	keys   []string // the KEYS of every script: none, or on a Redis Cluster one key of p's slot, for routing

	// cluster is the client again on a Redis Cluster, nil otherwise; url
	// is the parsed Options.URL (see topology.go).
	cluster *goredis.ClusterClient
	url     *redisurl.URL

	handler   atomic.Pointer[bus.Handler]
	started   atomic.Bool
	startedAt time.Time // set by Start
	closed    atomic.Bool
	// The bus's goroutines have two owners, which Close stops one after
	// the other: writers owns the publish writer, the heartbeat and the
	// work queues' flusher, and its context ends as Close starts (closing:
	// Publish gives up, the writer drains its queue, the flusher writes its
	// buffer once more, no heartbeat renews the node's deadline);
	// routines owns the link, the delivery workers and the counts flusher,
	// and its context (ctx) ends once the queue and the counts are written.
	writers  *routine.Group
	routines *routine.Group
	closing  <-chan struct{} // writers' context's Done
	ctx      context.Context // routines' context

	// The pub/sub link; see link.go.
	mu      sync.Mutex
	ps      pubsub                     // nil while the link is down; guarded by mu
	subs    map[string]struct{}        // hub channels with local interest; guarded by mu
	waiters map[string][]chan struct{} // Redis channel -> Subscribes awaiting the ack; guarded by mu

	linkUp  atomic.Bool   // the pub/sub connection is up and subscribed
	everUp  atomic.Bool   // the link was up at least once
	reapAt  atomic.Int64  // unix ns before which this node reaps no one: see beat
	linkGen atomic.Uint64 // counts link changes, so that a slow heartbeat cannot report a past link's state
	synced  atomic.Bool   // the last heartbeat on the current link, with any resync it needed, succeeded
	kick    chan struct{}
	state   stateLog

	// Sentinel only (see probe): the last probe the heartbeat published on
	// this node's control channel, and the last the link heard.
	probeSent, probeHeard atomic.Uint64

	pubq    chan bus.Message
	workers []*worker

	presence *Presence
	counts   *Counts
	shared   *Shared
	edges    *Edges
	queues   *Queues

	stats counters
}

var _ bus.Bus = (*Bus)(nil)

// New returns a Bus for opts. It does not connect: the connection is made
// by Start, in the background, so that a node starts (not ready) while
// Redis is down. It fails only on bad options.
func New(opts *Options) (*Bus, error) {
	if opts == nil {
		return nil, errors.New("redis: New with nil Options; Options.URL is required")
	}
	o, u, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	silenceClientLogs()
	client, cluster := o.newClient(u)
	b := &Bus{
		opts:    o,
		id:      o.NodeID,
		log:     o.Logger,
		client:  client,
		cluster: cluster,
		url:     u,
		p:       o.KeyPrefix,
		mp:      o.KeyPrefix + "m:",
		subs:    make(map[string]struct{}),
		waiters: make(map[string][]chan struct{}),
		kick:    make(chan struct{}, 1),
		pubq:    make(chan bus.Message, o.PublishQueue),
	}
	if cluster != nil {
		b.p = "{" + o.KeyPrefix + "}"
		b.keys = []string{b.p + "nodes"}
	}
	b.writers, b.routines = routine.New(context.Background()), routine.New(context.Background())
	b.closing = b.writers.Context().Done()
	b.ctx = b.routines.Context()
	b.state.since = time.Now()
	b.state.err = errors.New("not connected yet")
	b.presence = newPresence(b)
	b.counts = newCounts(b)
	b.shared = &Shared{b: b}
	b.edges = newEdges(b)
	b.queues = newQueues(b)
	return b, nil
}

// NodeID returns this node's id: Options.NodeID and a random suffix.
func (b *Bus) NodeID() string { return b.id }

// Presence returns the node's shared presence store.
func (b *Bus) Presence() *Presence { return b.presence }

// Counts returns the node's shared counts.
func (b *Bus) Counts() *Counts { return b.counts }

// Shared returns the node's shared key/value store.
func (b *Bus) Shared() *Shared { return b.shared }

// Queues returns the node's shared work queues.
func (b *Bus) Queues() *Queues { return b.queues }

// Backend returns every part of the cluster backend this Bus provides, the
// bus itself and its stores, with its node id: what a hub is built with
// (hub.Options.Backend).
func (b *Bus) Backend() bus.Backend {
	return bus.Backend{Bus: b, Presence: b.presence, Counts: b.counts, Shared: b.shared, Edges: b.edges, NodeID: b.id,
		Queues: b.queues,
	}
}

// Start registers h and starts the goroutines: the pub/sub link (connect,
// read, reconnect with back-off), the publish writer, the delivery workers,
// the heartbeat and the counts flusher. Close stops them all.
func (b *Bus) Start(h bus.Handler) error {
	if h == nil {
		return errors.New("redis: Start with a nil handler")
	}
	if b.closed.Load() {
		return bus.ErrClosed
	}
	if !b.handler.CompareAndSwap(nil, &h) {
		return errors.New("redis: already started")
	}
	b.startedAt = time.Now()
	b.started.Store(true)
	b.workers = make([]*worker, b.opts.Workers)
	for i := range b.workers {
		w := newWorker(b.opts.ReceiveQueue)
		b.workers[i] = w
		b.routines.Go(func(context.Context) { b.runWorker(w, h) })
	}
	b.writers.Go(func(context.Context) { b.runWriter() })
	b.writers.Go(func(context.Context) { b.runHeartbeat() })
	b.writers.Go(func(context.Context) { b.queues.runFlusher() })
	b.routines.Go(func(context.Context) { b.runLink() })
	b.routines.Go(func(context.Context) { b.counts.runFlusher() })
	return nil
}

// closeFlushTimeout bounds what Close sends to Redis before it lets go:
// the queued publishes, the counts, and this node's deadline.
const closeFlushTimeout = 2 * time.Second

// Close stops the bus. Publishes already queued are sent if Redis is up
// (for at most closeFlushTimeout), this node's counts are written and its
// deadline set to now, so that a surviving node reaps whatever presence it
// still held at its next heartbeat and reports those members as left.
// Every goroutine has exited when Close returns.
func (b *Bus) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	b.writers.StopAndWait() // the queue drained (bounded), no heartbeat renewing the deadline
	if b.started.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), closeFlushTimeout)
		if b.linkUp.Load() {
			b.counts.flush(ctx)
			if err := scriptExpire.Run(ctx, b.client, b.keys, b.p, b.id).Err(); err != nil {
				b.log.Warn("redis: could not mark this node as gone; it will be reaped after its TTL", "node", b.id, "err", err)
			}
		}
		cancel()
	}
	b.routines.Stop()
	b.mu.Lock()
	if b.ps != nil {
		_ = b.ps.Close()
	}
	b.mu.Unlock()
	b.routines.Wait()
	if err := b.client.Close(); err != nil && !errors.Is(err, goredis.ErrClosed) {
		return fmt.Errorf("redis: close: %w", err)
	}
	return nil
}

// Ready returns nil while the node is connected to Redis and its state is
// written there, or why not: the server's /readyz check.
func (b *Bus) Ready(context.Context) error {
	if b.closed.Load() {
		return bus.ErrClosed
	}
	up, since, err := b.state.get()
	if up {
		return nil
	}
	return fmt.Errorf("redis unreachable for %s, serving local clients only: %v", time.Since(since).Round(time.Second), err)
}

// Up reports whether the node is connected to Redis and its state written.
func (b *Bus) Up() bool {
	up, _, _ := b.state.get()
	return up && !b.closed.Load()
}

// reportState logs and counts a change of the overall state: up when the
// link is up and the last heartbeat succeeded.
func (b *Bus) reportState(err error) {
	up := b.linkUp.Load() && b.synced.Load()
	changed, first := b.state.set(up, err)
	if !changed {
		return
	}
	b.stats.stateChanges.Add(1)
	if up {
		b.log.Info("redis: connected; cluster delivery and shared state on", "node", b.id)
		return
	}
	if !first {
		b.stats.outages.Add(1)
	}
	b.log.Warn("redis: unreachable; serving local clients only, retrying with back-off", "node", b.id, "err", err)
}

// stateLog is the reported state, so that each change is logged once.
type stateLog struct {
	mu       sync.Mutex
	reported bool // a state was reported at least once
	up       bool
	since    time.Time
	err      error // why down
}

// set records the state; changed reports a change (or the first report),
// first that it was the first report.
func (s *stateLog) set(up bool, err error) (changed, first bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !up && err != nil {
		s.err = err
	}
	if s.reported && s.up == up {
		return false, false
	}
	first = !s.reported
	if first && !up {
		// Not connected yet at start: not a change worth a line until
		// the first attempt failed.
		if err == nil {
			return false, false
		}
	}
	s.reported, s.up, s.since = true, up, time.Now()
	return true, first
}

func (s *stateLog) get() (up bool, since time.Time, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.up, s.since, s.err
}

// sleep waits d or until the bus closes; it reports whether d passed.
func (b *Bus) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-b.ctx.Done():
		return false
	}
}

// kickHeartbeat asks the heartbeat goroutine to run now.
func (b *Bus) kickHeartbeat() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// Compile-time checks of the stores against the bus package's interfaces.
var (
	_ bus.PresenceStore   = (*Presence)(nil)
	_ bus.PresenceWatcher = (*Presence)(nil)
	_ bus.Counts          = (*Counts)(nil)
	_ bus.SharedStore     = (*Shared)(nil)
)
