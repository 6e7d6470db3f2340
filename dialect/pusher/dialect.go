package pusher

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/dialect"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/ws"
)

// hubTimeout bounds one hub call made for a client (subscribe, presence,
// publish): the hub may talk to Redis.
const hubTimeout = 5 * time.Second

// Dialect serves the Pusher Channels protocol for the configured apps: the
// WebSocket endpoint /app/{key} and the REST API /apps/{id}/... It
// implements dialect.Dialect and prometheus.Collector. Create it with New
// and stop it with Shutdown; its methods are safe for concurrent use.
type Dialect struct {
	log   *slog.Logger
	hub   *hub.Hub
	ws    *ws.Server
	set   atomic.Pointer[appSet] // the apps served; replaced whole by SetApps
	setMu sync.Mutex             // serialises SetApps
	grace time.Duration          // pusher.secret_grace_period
	cache cacheStore
	hooks *webhooks
	edges *edges
	stats counters

	restPaths *http.ServeMux    // the REST API's paths, any method: tells 405 from 404
	allow     map[string]string // the Allow header of each REST path pattern

	storeErr atomic.Pointer[error] // why the app store cannot be read, while it cannot
	unknown  struct {              // unknown keys refused while storeErr is set, logged at most once per every
		every   time.Duration // a second; tests lengthen it
		lastLog atomic.Int64  // unix nanoseconds
		count   atomic.Int64  // refused since the last line
	}

	ctx    context.Context // cancelled by Shutdown
	cancel context.CancelFunc
}

var _ dialect.Dialect = (*Dialect)(nil)

// New returns the Pusher dialect for cfg. deps.WebSocket are the WebSocket
// options the websocket config section asks for; New sets the Pusher close
// code for shutdowns and the apps' origin policies. All channels and
// presence go through deps.Hub, without which New fails
// (dialect.ErrMissingDependency). With the file store and no apps in cfg,
// New serves config.DefaultPusherApp and logs a warning; with another
// store it serves no app until SetApps is called. New starts no goroutine: the
// activity rules run on the ws server's sweeper; webhook senders start when
// there are webhooks to send, and Shutdown stops them.
func New(cfg config.Pusher, deps dialect.Deps) (*Dialect, error) {
	if err := deps.RequireHub("pusher"); err != nil {
		return nil, err
	}
	h, wsOpts, logger := deps.Hub, deps.WebSocket, deps.Log("pusher")
	apps := cfg.Apps
	if len(apps) == 0 && (cfg.AppStore.Driver == "" || cfg.AppStore.Driver == config.AppStoreFile) {
		apps = []config.PusherApp{defaultApp(logger)}
	}
	d := &Dialect{
		log:   logger,
		hub:   h,
		grace: cfg.SecretGracePeriod.Std(),
		cache: cacheStore{h.Shared()},
	}
	set, err := newAppSet(apps, nil, time.Now(), d.grace)
	if err != nil {
		return nil, err
	}
	d.set.Store(set)
	d.unknown.every = time.Second
	d.ctx, d.cancel = context.WithCancel(context.Background())

	wsOpts.ShutdownCode, wsOpts.ShutdownReason = CodeReconnect.StatusCode(), "Server shutting down, reconnect"
	wsOpts.OverflowCode, wsOpts.OverflowReason = CodeOverCapacity.StatusCode(), "Over capacity"
	wsOpts.CheckOrigin = d.checkOrigin
	d.ws = ws.NewServer(wsOpts)
	// The activity rules, and the closing of removed apps' connections,
	// run on the ws sweeper (conn.keepAlive), at the pace the start-up
	// apps' timeouts ask for; apps added later with shorter ones are
	// checked at that pace too.
	d.ws.SetTickInterval(set.sweepInterval())
	d.ws.OnConnection(d.accept)
	d.ws.OnError(func(err error) { d.log.Debug("pusher: websocket", "err", err) })

	d.hooks = newWebhooks(d.log, &d.stats, h.Queues(), h.NodeID(), set.list)
	d.hooks.current = d.current
	d.hooks.start()
	d.restPaths, d.allow = http.NewServeMux(), map[string]string{}
	for _, r := range d.restRoutes() {
		d.restPaths.Handle(r.path, http.NotFoundHandler())
		d.allow[r.path] = r.method
		if r.method == http.MethodGet {
			d.allow[r.path] += ", " + http.MethodHead
		}
	}
	d.edges = newEdges(d, h.Edges())
	h.OnMemberChange(d.memberChanged)
	h.OnEdgeChange(d.edges.changed)
	return d, nil
}

// Name returns "pusher".
func (d *Dialect) Name() string { return "pusher" }

// Routes returns the WebSocket endpoint and the REST API. Any other path
// under /apps/, or a REST path with the wrong method, gets a Pusher-style
// JSON error (404, or 405 with Allow) instead of ServeMux's plain text.
func (d *Dialect) Routes() []dialect.Route {
	wsRoute := func(p string) dialect.Route {
		return dialect.Route{Pattern: p, Protocol: dialect.ProtocolWebSocket, Handler: d.ws}
	}
	routes := []dialect.Route{
		wsRoute("GET /app/{key}"),
		wsRoute("GET /app/"), // any other path: accepted, then closed with 4005
	}
	for _, r := range d.restRoutes() {
		routes = append(routes, dialect.Route{Pattern: r.method + " " + r.path, Protocol: dialect.ProtocolHTTP, Handler: d.rest(r.h)})
	}
	return append(routes, dialect.Route{Pattern: "/apps/", Protocol: dialect.ProtocolHTTP, Handler: http.HandlerFunc(d.restNotFound)})
}

// restRoute is one endpoint of the REST API.
type restRoute struct {
	method, path string
	h            restHandler
}

func (d *Dialect) restRoutes() []restRoute {
	return []restRoute{
		{http.MethodPost, "/apps/{app_id}/events", d.postEvents},
		{http.MethodPost, "/apps/{app_id}/batch_events", d.postBatchEvents},
		{http.MethodGet, "/apps/{app_id}/channels", d.getChannels},
		{http.MethodGet, "/apps/{app_id}/channels/{channel_name}", d.getChannel},
		{http.MethodGet, "/apps/{app_id}/channels/{channel_name}/users", d.getUsers},
		{http.MethodGet, "/apps/{app_id}/users", d.getOnlineUsers},
		{http.MethodPost, "/apps/{app_id}/users/{user_id}/terminate_connections", d.terminateConnections},
	}
}

// Stats returns the counters of the dialect's WebSocket server.
func (d *Dialect) Stats() ws.Stats { return d.ws.Stats() }

// Shutdown closes every connection with 4200 (reconnect at once), waits for
// them to end or for ctx (the ws server's sweeper, which runs the activity
// rules, stops with them), stops the settles scheduled for webhooks in
// their grace period, then stops the webhook senders, which get what
// is left of ctx to deliver what they hold; when ctx ends, their POSTs are
// cancelled. Every goroutine of the dialect has exited when Shutdown
// returns.
func (d *Dialect) Shutdown(ctx context.Context) error {
	err := d.ws.Shutdown(ctx)
	d.cancel()
	d.edges.close()
	d.hooks.shutdown(ctx)
	return err
}

// checkOrigin applies the app's allowed_origins to a handshake.
func (d *Dialect) checkOrigin(r *http.Request) bool {
	key, _ := strings.CutPrefix(r.URL.Path, "/app/")
	if a := d.apps().byKey[key]; a != nil {
		return a.origins.Check(r)
	}
	return true // refused after the handshake, with 4001 or 4005
}

// accept runs for each new WebSocket connection: it checks the path, the
// app and the protocol version, answering a problem with pusher:error and
// the close code pusher-js acts on, and otherwise sends
// connection_established.
func (d *Dialect) accept(wc *ws.Conn) {
	r := wc.Request()
	ev := &defaultEvents
	key, ok := strings.CutPrefix(r.URL.Path, "/app/")
	if !ok || key == "" || strings.Contains(key, "/") {
		refuse(wc, ev, closeErr(CodePathNotFound, "Path not found: connect to /app/{key}"))
		return
	}
	a := d.apps().byKey[key]
	if a == nil {
		if err := d.storeErr.Load(); err != nil {
			d.unknownDuringOutage(key, *err)
		}
		refuse(wc, ev, closeErr(CodeAppNotFound, "App key %s does not exist", truncate(key, 40)))
		return
	}
	ev = &a.ev
	if !a.enabled {
		refuse(wc, ev, closeErr(CodeAppDisabled, "App is disabled"))
		return
	}
	if e := protocolProblem(r.URL.Query()); e != nil {
		refuse(wc, ev, e)
		return
	}
	closes := a.closes.Load()
	if cur := d.apps().byID[a.id]; cur == nil || !cur.enabled { // removed or disabled since the lookup
		refuse(wc, ev, closeErr(CodeAppDisabled, "App is disabled"))
		return
	}
	if d.overQuota(a) {
		refuse(wc, ev, closeErr(CodeOverQuota, "Application is over connection quota"))
		return
	}
	c := newConn(d, a, wc, d.hub.NewID(), closes)
	d.stats.connections.Add(1)
	c.send(encodeEventJSON(a.ev.connectionEstablished, "", struct {
		SocketID        string `json:"socket_id"`
		ActivityTimeout int    `json:"activity_timeout"`
	}{socketID(c.id), max(1, int(a.activityTimeout/time.Second))}))
}

// defaultEvents names events before the app, and so its prefix, is known.
var defaultEvents = newEventNames("pusher")

// protocolProblem checks the protocol query parameter: missing is 4008, not
// a number 4006, a version other than 5-7 is 4007.
func protocolProblem(q map[string][]string) *Error {
	v, ok := q["protocol"]
	if !ok || len(v) == 0 || v[0] == "" {
		return closeErr(CodeNoProtocol, "No protocol version supplied: connect with ?protocol=7")
	}
	n, err := strconv.Atoi(v[0])
	if err != nil {
		return closeErr(CodeInvalidVersion, "Invalid version string format: %q", truncate(v[0], 20))
	}
	if n < minProtocol || n > maxProtocol {
		return closeErr(CodeUnsupportedProtocol, "Unsupported protocol version %d: use 7", n)
	}
	return nil
}

// refuse answers a connection that is not going to be served.
func refuse(wc *ws.Conn, ev *eventNames, e *Error) {
	code := int(e.Code)
	_ = wc.Send(ws.Text, encodeEventJSON(ev.error, "", errorData{Message: e.Message, Code: &code}))
	_ = wc.Close(e.Code.StatusCode(), e.Message)
}

// hubCtx returns a context for one hub call.
func (d *Dialect) hubCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(d.ctx, hubTimeout)
}
