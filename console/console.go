package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/internal/adminauth"
)

//go:embed assets
var assets embed.FS

// readTimeout bounds one read of shared state (Redis) for a page.
const readTimeout = 2 * time.Second

// Hub is what the console reads of the hub: channels, their subscriber
// counts, presence members and connection counts. *hub.Hub implements it.
type Hub interface {
	Channels(prefix string) []hub.ChannelInfo
	ClusterChannels(ctx context.Context, prefix string) ([]hub.ChannelInfo, error)
	Members(ctx context.Context, channel string) ([]hub.Member, error)
	ConnectionCounts(ctx context.Context, prefix string) ([]hub.KeyCount, error)
}

// App is one Pusher app as the console shows it: never its secret.
type App struct {
	ID, Key string
	Enabled bool
	// ChannelPrefix is what the hub's names of the app's channels start
	// with.
	ChannelPrefix string
}

// Event is one event seen on a watched channel.
type Event struct {
	Event   string `json:"event"`
	Channel string `json:"channel,omitempty"`
	// Data is the event's data as text (usually JSON).
	Data   string `json:"data,omitempty"`
	UserID string `json:"user_id,omitempty"`
}

// Apps is the Pusher dialect, as the debug console uses it.
type Apps interface {
	// Apps returns the configured apps.
	Apps() []App
	// Watch calls f with every event on the app's channel, as an ordinary
	// subscriber would get it, until stop is called or ctx ends. f must not
	// block; returning false ends the watch (the page fell behind).
	Watch(ctx context.Context, appID, channel string, f func(Event) bool) (stop func(), err error)
	// Trigger publishes an event on the app's channel on the app's behalf.
	// An error in what the page asked for is a *BadEventError.
	Trigger(appID, channel, event, data string) error
}

// BadEventError is a Trigger error in what the page asked for (an unknown
// app, a bad channel name, data over the limit), answered with 400 and its
// message; any other error is the server's, answered with 500.
type BadEventError struct{ Err error }

func (e *BadEventError) Error() string { return e.Err.Error() }
func (e *BadEventError) Unwrap() error { return e.Err }

// Cluster lists the nodes sharing Redis, and what each holds.
type Cluster interface {
	// Nodes returns the live nodes.
	Nodes(ctx context.Context) ([]Node, error)
	// NodeChannels returns node's own channels starting with prefix, with
	// its subscriber counts.
	NodeChannels(ctx context.Context, node, prefix string) ([]hub.ChannelInfo, error)
}

// Node is one node of a cluster.
type Node struct {
	ID                   string         `json:"id"`
	HeartbeatAgeSeconds  float64        `json:"heartbeat_age_seconds"`
	Connections          map[string]int `json:"connections"` // by key, such as "pusher/{app_id}"
	Subscriptions        int            `json:"subscriptions"`
	LastHeartbeatUnixSec float64        `json:"last_heartbeat"`
}

// Sessions lists the Atmosphere endpoint's sessions and API keys.
type Sessions interface {
	Sessions() []Session
}

// Session is one Atmosphere session or API key, without its hash or key.
type Session struct {
	Tag         string    `json:"tag"` // a short, non-secret prefix of the hash
	User        string    `json:"user"`
	APIKey      bool      `json:"api_key,omitempty"`
	LastUsed    time.Time `json:"last_used,omitzero"`
	Connections int       `json:"connections"` // on this node
	Trackers    int       `json:"trackers"`
}

// Space is a group of hub channels the Channels view lists together: one
// Pusher app's, the token broker's tokens or groups, one kind of
// Atmosphere tracker channel.
type Space struct {
	ID     string `json:"id"`     // unique, used in URLs
	Label  string `json:"label"`  // shown in the picker
	Prefix string `json:"prefix"` // the hub names' common start, cut from the names shown
	// App is the Pusher app id for an app's space: its channels can be
	// watched and published to.
	App string `json:"app,omitempty"`
	// Presence reports that channels starting with this (after Prefix)
	// have members, such as "presence-".
	Presence string `json:"presence,omitempty"`
	// Kind is "sessions" for the list of Atmosphere sessions (from
	// Options.Sessions) instead of channels; "" for channels.
	Kind string `json:"kind,omitempty"`
}

// SessionsSpace is the Space that lists Options.Sessions.
const SessionsSpace = "atmosphere-sessions"

// Options configure a Console. Guard and Gatherer are required.
type Options struct {
	// Path is where the console is served, such as "/console".
	Path string
	// Guard lets requests in; every route, the streams included, is
	// behind it.
	Guard *adminauth.Guard
	// Gatherer is the server's metrics registry, the overview's source.
	Gatherer prometheus.Gatherer
	// Hub lists channels and members; nil shows none.
	Hub Hub
	// Apps is the Pusher dialect; nil when it is off.
	Apps Apps
	// Spaces lists the channel groups besides the Pusher apps' (which
	// come from Apps).
	Spaces []Space
	// Sessions is the Atmosphere endpoint; nil when it is off.
	Sessions Sessions
	// Cluster is set when Redis is configured.
	Cluster Cluster
	// NodeID and Version are shown in the header.
	NodeID, Version string
	// SampleInterval is how often the overview is sampled while a page
	// is open (1s); History how many samples the charts show (300).
	SampleInterval time.Duration
	History        int
	// Logger gets the console's few logs; nil logs nothing.
	Logger *slog.Logger
}

// Console serves the operator console. Create it with New, mount Handler
// at Options.Path and Options.Path+"/", and call Close when the server
// shuts down: it ends the open streams, which a graceful HTTP shutdown
// would otherwise wait for.
type Console struct {
	opts    Options
	log     *slog.Logger
	handler http.Handler
	sampler *sampler
	ctx     context.Context // cancelled by Close: streams end
	cancel  context.CancelFunc

	mu      sync.Mutex
	closed  bool           // set by Close: no stream starts after it
	streams sync.WaitGroup // open streams; Add only under mu while !closed
}

// New returns a Console for opts.
func New(opts Options) (*Console, error) {
	if opts.Guard == nil || opts.Gatherer == nil {
		return nil, errors.New("console: New needs a Guard and a Gatherer")
	}
	opts.Path = strings.TrimSuffix(opts.Path, "/")
	if !strings.HasPrefix(opts.Path, "/") {
		return nil, fmt.Errorf("console: path %q does not start with /", opts.Path)
	}
	if opts.SampleInterval <= 0 {
		opts.SampleInterval = time.Second
	}
	if opts.History <= 0 {
		opts.History = 300
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Console{opts: opts, log: opts.Logger}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.sampler = newSampler(c.read, opts.SampleInterval, opts.History)
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, fmt.Errorf("console: assets: %w", err)
	}
	p := opts.Path
	mux := http.NewServeMux()
	mux.Handle("GET "+p+"/{$}", http.HandlerFunc(c.index))
	mux.Handle("GET "+p, http.RedirectHandler(p+"/", http.StatusFound))
	mux.Handle("GET "+p+"/static/", http.StripPrefix(p+"/static/", noStore(http.FileServerFS(static))))
	mux.HandleFunc("GET "+p+"/api/stats", c.stats)
	mux.HandleFunc("GET "+p+"/api/spaces", c.spaces)
	mux.HandleFunc("GET "+p+"/api/channels", c.channels)
	mux.HandleFunc("GET "+p+"/api/members", c.members)
	mux.HandleFunc("GET "+p+"/api/sessions", c.sessions)
	mux.HandleFunc("POST "+p+"/api/publish", c.publish)
	mux.HandleFunc("GET "+p+"/api/stream", c.overviewStream)
	mux.HandleFunc("GET "+p+"/api/watch", c.watch)
	mux.HandleFunc(p+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such console page or API: see docs/console.md")
	})
	c.handler = opts.Guard.Wrap(mux)
	return c, nil
}

// Handler serves every console route, each behind the Guard.
func (c *Console) Handler() http.Handler { return c.handler }

// Path returns where the console is served, without a trailing slash.
func (c *Console) Path() string { return c.opts.Path }

// Close ends every open stream, stops the sampler and waits for both.
// Streams asked for afterwards are answered 503.
func (c *Console) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.streams.Wait()
	c.sampler.wait()
}

// enterStream counts a stream in, or answers 503 and returns false once
// Close has started.
func (c *Console) enterStream(w http.ResponseWriter) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		writeError(w, http.StatusServiceUnavailable, "the server is shutting down")
		return false
	}
	c.streams.Add(1)
	return true
}

// index serves the page, with the paths it needs filled in.
func (c *Console) index(w http.ResponseWriter, _ *http.Request) {
	page, err := assets.ReadFile("assets/index.html")
	if err != nil {
		writeError(w, http.StatusInternalServerError, "the console page is missing from this build")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	setPageHeaders(w)
	_, _ = w.Write(page)
}

// setPageHeaders keeps the console's answers out of caches and other
// sites' frames, and lets the page load nothing from elsewhere.
func setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
}

func noStore(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setPageHeaders(w)
		h.ServeHTTP(w, r)
	})
}
