package atmosphere

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/dialect"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/internal/routine"
	"github.com/switchboard-rt/switchboard/ws"
)

// Name is the dialect's name in metrics and logs.
const Name = "atmosphere"

// Timing of the dialect's ticker and of its WebSocket keep-alive, which
// runs on the ws server's sweeper.
const (
	tickInterval  = 50 * time.Millisecond // batches are due at most this late
	sweepInterval = time.Second           // heartbeats, idle clients, expiry
)

// Dialect is the Atmosphere event-subscription dialect. It implements
// dialect.Dialect. Create it with New; stop it with Shutdown.
type Dialect struct {
	cfg     config.Atmosphere
	log     *slog.Logger
	hub     *hub.Hub
	origins dialect.Origins // atmosphere.origin
	ws      *ws.Server
	auth    *auth
	store   *store
	loc     *time.Location
	now     func() time.Time

	batches batcher
	polls   *pollRegistry
	iotMu   sync.Mutex // serialises read-modify-write of IoT values

	mu         sync.Mutex
	byTracking map[string]*client // WebSocket clients by the tracking id of their handshake

	storeID hub.SubscriberID // the store's subscription to storeChannel
	lastSwp time.Time        // the ticker's; when it last swept
	// clock is the time of the ticker's last tick (unix nanoseconds), set
	// once the tick's batches are out: the WebSocket keep-alive, on the ws
	// server's sweeper, compares with it (sweepClock).
	clock atomic.Int64
	// routines owns the dialect's two goroutines, the ticker and the
	// session sweeper; Shutdown stops them and waits. ctx is its context:
	// done once Shutdown began, it ends held polls and the shared store
	// calls of the session sweeper. sweepReq (nil when tests drive tick)
	// hands the sweeper the time of each sweep, so that the ticker never
	// waits on the store.
	routines *routine.Group
	ctx      context.Context
	sweepReq chan time.Time

	// notices queues the session ends announced on authChannel, for the
	// ticker (cluster.go); noticesID is its subscription.
	notices   notices
	noticesID hub.SubscriberID
	// lookups collapses and rate-limits the session reads of session
	// (lookup.go).
	lookups lookups
	// shared is the state of the shared session store as this node last
	// found it (sharedUnknown, sharedUp, sharedDown; cluster.go);
	// sharedLogged is set while a failure is logged and its end is not.
	shared       atomic.Int32
	sharedLogged atomic.Bool
}

var _ dialect.Dialect = (*Dialect)(nil)

// options are what tests change.
type options struct {
	now      func() time.Time // default time.Now
	noTicker bool             // tests drive tick themselves
}

// New returns the dialect for cfg (which must be valid). deps.Hub carries
// published events between nodes; New fails without one
// (dialect.ErrMissingDependency). deps.WebSocket carries the shared
// WebSocket settings. New starts two goroutines (the ticker and the session
// sweeper), stopped by Shutdown.
func New(cfg config.Atmosphere, deps dialect.Deps) (*Dialect, error) {
	return newDialect(cfg, deps, options{})
}

func newDialect(cfg config.Atmosphere, deps dialect.Deps, o options) (*Dialect, error) {
	if err := deps.RequireHub(Name); err != nil {
		return nil, err
	}
	opts := deps.WebSocket
	if o.now == nil {
		o.now = time.Now
	}
	d := &Dialect{
		cfg:        cfg,
		log:        deps.Log(Name),
		hub:        deps.Hub,
		origins:    dialect.NewOrigins(cfg.Origins()),
		auth:       newAuth(cfg),
		store:      newStore(cfg.MaxLastStates),
		loc:        cfg.Location(),
		now:        o.now,
		byTracking: map[string]*client{},
		routines:   routine.New(context.Background()),
	}
	d.ctx = d.routines.Context()
	d.clock.Store(o.now().UnixNano())
	d.polls = newPollRegistry(d)
	d.storeID = d.hub.NewID()
	if _, err := d.hub.Subscribe(context.Background(), storeChannel, d.storeID, d.store); err != nil {
		return nil, fmt.Errorf("atmosphere: subscribe to the store channel: %w", err)
	}
	d.noticesID = d.hub.NewID()
	if _, err := d.hub.Subscribe(context.Background(), authChannel, d.noticesID, &d.notices); err != nil {
		d.hub.Unsubscribe(storeChannel, d.storeID)
		return nil, fmt.Errorf("atmosphere: subscribe to the session channel: %w", err)
	}
	if cfg.Enabled && cfg.PublisherAPIKey == "" {
		// One line; the proxy case it warns of is in the docs it names.
		d.log.Warn("publisher API: loopback only; set atmosphere.publisher_api_key before a proxy (docs/atmosphere.md#publisher-api)",
			"path", cfg.Prefix+config.AtmospherePublisherPath)
	}
	// Frames over max_request_size get error 9 and the connection stays;
	// only frames far over it are closed with 1009 by the ws package.
	if opts.MaxPayload == 0 {
		opts.MaxPayload = ws.DefaultMaxPayload
	}
	if opts.MaxPayload > 0 {
		opts.MaxPayload = max(opts.MaxPayload, 4*int64(cfg.MaxRequestSize))
	}
	opts.CheckOrigin = d.origins.Check
	opts.OverflowCode, opts.OverflowReason = ws.StatusTryAgainLater, "slow consumer"
	d.ws = ws.NewServer(opts)
	d.ws.SetTickInterval(sweepInterval) // the WebSocket keep-alive (client.keepAlive)
	d.ws.OnConnection(d.accept)
	d.ws.OnError(func(err error) { d.log.Debug("websocket error", "err", err) })
	if !o.noTicker {
		d.sweepReq = make(chan time.Time, 1)
		d.routines.Go(d.run)
		d.routines.Go(d.sessionSweeper)
	}
	return d, nil
}

// run is the dialect's ticker: it flushes due batches every tick and
// sweeps every second, until Shutdown.
func (d *Dialect) run(ctx context.Context) {
	t := time.NewTicker(tickInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.tick(d.now())
		}
	}
}

// tick does the periodic work due at now. The WebSocket clients' keep-alive
// is not part of it: the ws server's sweeper runs it (client.keepAlive),
// with the time tick leaves in d.clock.
func (d *Dialect) tick(now time.Time) {
	d.batches.flush(now)
	d.clock.Store(now.UnixNano())
	d.endAnnounced()
	if now.Sub(d.lastSwp) < sweepInterval {
		return
	}
	d.lastSwp = now
	d.polls.sweep(now)
	if d.sweepReq == nil {
		d.sweepSessions(d.ctx, now) // tests drive tick
		return
	}
	select {
	case d.sweepReq <- now:
	default: // the sweeper is still at the last one (the store is slow)
	}
}

// sessionSweeper is the dialect's second goroutine: it checks sessions
// against the shared store (sweepSessions) when the ticker asks, off the
// ticker, so that a slow or hanging store delays no batch or heartbeat.
// Shutdown stops it, cancelling its store calls.
func (d *Dialect) sessionSweeper(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-d.sweepReq:
			d.sweepSessions(ctx, now)
		}
	}
}

// sweepClock returns the time of the ticker's last tick: a coarse clock,
// at most tickInterval behind, that costs the keep-alive no clock read per
// connection.
func (d *Dialect) sweepClock() time.Time { return time.Unix(0, d.clock.Load()) }

// tellEnded sends the logout event to the clients of an ended session.
func (d *Dialect) tellEnded(e ended) {
	for _, c := range e.clients {
		c.endSession(e.s)
	}
}

// Name returns "atmosphere".
func (d *Dialect) Name() string { return Name }

// Routes returns the subscription endpoint (WebSocket and long-polling),
// user/auth, user/logout and the publisher API, under the prefix.
func (d *Dialect) Routes() []dialect.Route {
	p := d.cfg.Prefix
	sub := http.HandlerFunc(d.serveSubscription)
	return []dialect.Route{
		{Pattern: p + config.AtmosphereSubscriptionPath, Protocol: dialect.ProtocolWebSocket, Handler: sub},
		{Pattern: p + config.AtmosphereSubscriptionPath + "/{$}", Protocol: dialect.ProtocolWebSocket, Handler: sub},
		{Pattern: p + config.AtmosphereAuthPath, Protocol: dialect.ProtocolHTTP, Handler: http.HandlerFunc(d.serveAuth)},
		{Pattern: p + config.AtmosphereLogoutPath, Protocol: dialect.ProtocolHTTP, Handler: http.HandlerFunc(d.serveLogout)},
		{Pattern: p + config.AtmospherePublisherPath, Protocol: dialect.ProtocolHTTP, Handler: d.publisherHandler()},
	}
}

// Handler returns a mux with every route, for embedding and tests.
func (d *Dialect) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, r := range d.Routes() {
		mux.Handle(r.Pattern, r.Handler)
	}
	return mux
}

// Stats returns the WebSocket counters, with long-polling sessions counted
// as connections.
func (d *Dialect) Stats() ws.Stats {
	s := d.ws.Stats()
	s.Connections += int64(d.polls.len())
	return s
}

// Shutdown stops the dialect: the ticker stops, WebSocket connections are
// closed with 1001, held polls are answered and long-polling sessions end.
// It waits for the connections or ctx, returning ctx's error if some had to
// be cut.
func (d *Dialect) Shutdown(ctx context.Context) error {
	d.routines.StopAndWait()
	err := d.ws.Shutdown(ctx)
	d.polls.closeAll()
	d.hub.Unsubscribe(storeChannel, d.storeID)
	d.hub.Unsubscribe(authChannel, d.noticesID)
	return err
}
