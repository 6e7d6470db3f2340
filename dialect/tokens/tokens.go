package tokens

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/dialect"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/internal/routine"
	"github.com/switchboard-rt/switchboard/ws"
)

// Name is the dialect's name in metrics and logs.
const Name = "tokens"

// Hub channel names. A connection holding token t subscribes to
// TokenChannelPrefix+t and to GroupChannelPrefix+g for every group g of t
// (every prefix of t ending in '/'), so that a message to a token or to a
// group is one hub publish, whichever node the holders are on.
const (
	TokenChannelPrefix = "tokens:"
	GroupChannelPrefix = "tokens-group:"
)

// UnregisteredToken is the token of a client that connected without one.
const UnregisteredToken = "unregistered"

// Dialect is the token broker: the WebSocket endpoint, the HTTP form API and
// the registered-token list. It implements dialect.Dialect. Its methods are
// safe for concurrent use; call Shutdown once, when the server stops, to
// stop the RegisteredTokensUrl fetcher and close the connections.
type Dialect struct {
	cfg     config.Tokens
	ws      *ws.Server
	hub     *hub.Hub
	reg     *registry
	lookups flight // the shared store reads of isRegistered
	log     *slog.Logger
	origins dialect.Origins // tokens.origin
	http    *http.Transport // for RegisteredTokensUrl and HTTP push clients
	client  *http.Client    // fetches RegisteredTokensUrl
	push    pushClients     // this node's HTTP push clients
	// routines owns every goroutine of the dialect: the
	// RegisteredTokensUrl fetcher, the shared store's resync, the HTTP
	// push clients' posts and the shared store's lookups. ctx is its
	// context, done once Shutdown began.
	routines *routine.Group
	ctx      context.Context
	// shared is the state of the registered tokens' shared store as this
	// node last found it (sharedUnknown, sharedUp, sharedDown; shared.go),
	// so that a failure is logged once.
	shared atomic.Int32

	mu    sync.Mutex
	conns map[*client]struct{} // this node's connections, for get_clients
}

var _ dialect.Dialect = (*Dialect)(nil)

// New returns the token broker for cfg and starts fetching
// cfg.RegisteredTokensURL in the background, if set, and keeping this
// node's copy of the tokens registered through the API (kept in h's
// SharedStore, for every node) up to date. opts carries the
// shared WebSocket settings (deps.WebSocket); New sets
// CheckOrigin from cfg.Origin. h routes the messages: the hub shared with
// the other dialects, carried across nodes by its bus, and closed by its
// owner after Shutdown; New fails without one (dialect.ErrMissingDependency).
func New(cfg config.Tokens, deps dialect.Deps) (*Dialect, error) {
	if err := deps.RequireHub(Name); err != nil {
		return nil, err
	}
	h, opts := deps.Hub, deps.WebSocket
	d := &Dialect{
		cfg:     cfg,
		hub:     h,
		reg:     newRegistry(cfg.RegisteredTokens),
		log:     deps.Log(Name),
		conns:   make(map[*client]struct{}),
		origins: dialect.NewOrigins(cfg.Origins()),
	}
	d.http = http.DefaultTransport.(*http.Transport).Clone()
	d.client = &http.Client{Transport: d.http, Timeout: FetchTimeout}
	d.push = pushClients{byURL: make(map[string]*pushClient), http: &http.Client{Transport: d.http}}
	opts.CheckOrigin = d.origins.Check
	d.ws = ws.NewServer(opts)
	d.ws.OnConnection(d.accept)
	d.ws.OnError(func(err error) { d.log.Debug("websocket error", "err", err) })
	d.routines = routine.New(context.Background())
	d.ctx = d.routines.Context()
	d.lookups.routines = d.routines

	if cfg.APIKey == "" {
		// One line; the proxy case it warns of is in the docs it names.
		d.log.Warn("HTTP API: loopback clients only; set tokens.api_key before a proxy (docs/token-broker.md#security)", "path", cfg.APIPath)
	} else {
		d.log.Info("HTTP API requires the API key (X-Api-Key header, Authorization: Bearer, or api_key field)", "path", cfg.APIPath)
	}
	if u := cfg.RegisteredTokensURL; u != "" {
		d.routines.Go(func(ctx context.Context) { d.fetchLoop(ctx, u, cfg.RegisteredTokensRefresh.Std()) })
	}
	d.routines.Go(d.syncLoop)
	return d, nil
}

// Name returns "tokens".
func (d *Dialect) Name() string { return Name }

// Routes returns the WebSocket endpoint (tokens.path) and the HTTP form API
// (tokens.api_path, any method), each for that path exactly.
func (d *Dialect) Routes() []dialect.Route {
	return []dialect.Route{
		{Pattern: "GET " + exact(d.cfg.Path), Protocol: dialect.ProtocolWebSocket, Handler: http.HandlerFunc(d.serveWS)},
		{Pattern: exact(d.cfg.APIPath), Protocol: dialect.ProtocolHTTP, Handler: http.HandlerFunc(d.serveAPI)},
	}
}

// exact returns a ServeMux pattern matching path only: a pattern ending in
// '/' would match every path below it ("/" every path).
func exact(path string) string {
	if strings.HasSuffix(path, "/") {
		return path + "{$}"
	}
	return path
}

// Stats returns the WebSocket counters.
func (d *Dialect) Stats() ws.Stats { return d.ws.Stats() }

// Shutdown stops the RegisteredTokensUrl fetcher, the registered tokens'
// resync, the HTTP push clients' POSTs and the shared store's lookups, and
// waits for them; then it closes every connection with 1001 and waits for
// them or ctx.
func (d *Dialect) Shutdown(ctx context.Context) error {
	d.routines.StopAndWait()
	d.http.CloseIdleConnections()
	return d.ws.Shutdown(ctx)
}

// serveWS admits a handshake to tokens.path (see the package doc) and hands
// it to the WebSocket server.
func (d *Dialect) serveWS(w http.ResponseWriter, r *http.Request) {
	if !d.origins.Check(r) {
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	if isUpgrade(r) {
		token := handshakeToken(r)
		if p := tokenProblem(token); p != "" {
			http.Error(w, "invalid token: "+p, http.StatusForbidden)
			return
		}
		if !d.admits(token) {
			http.Error(w, "unregistered token", http.StatusForbidden)
			return
		}
	}
	d.ws.ServeHTTP(w, r) // answers a request that is not a handshake with 400
}

// admits reports whether a client may hold token. A token this node's copy
// does not register is looked up in the shared store (see shared.go).
func (d *Dialect) admits(token string) bool {
	return d.cfg.AllowUnregisteredClients || d.isRegistered(d.ctx, token)
}

func isUpgrade(r *http.Request) bool {
	for _, v := range r.Header.Values("Upgrade") {
		if strings.EqualFold(strings.TrimSpace(v), "websocket") {
			return true
		}
	}
	return false
}

// handshakeToken returns the token a handshake asks for: the first
// RegisterToken query parameter, trimmed, or UnregisteredToken when it is
// absent or empty.
func handshakeToken(r *http.Request) string {
	if v := r.URL.Query()["RegisterToken"]; len(v) > 0 {
		if t := strings.TrimSpace(v[0]); t != "" {
			return t
		}
	}
	return UnregisteredToken
}
