// Package dialect is the contract between a wire protocol and the rest of
// Switchboard: what every dialect (dialect/echo, dialect/pusher,
// dialect/tokens, dialect/atmosphere) is built from, what it gives the
// server, and the rules all of them share.
//
// Every dialect has one constructor of one shape,
//
//	func New(cfg config.X, deps dialect.Deps) (*Dialect, error)
//
// where cfg is its own config section (already validated) and deps what
// the binary shares between dialects: the hub, the WebSocket settings and
// the logger. A dialect that routes messages needs the hub; New then
// fails with an error wrapping [ErrMissingDependency] when deps has none.
// A nil logger discards. The server mounts the result through the
// [Dialect] interface and knows nothing else of it; a dialect knows
// nothing of the server, nor of another dialect.
//
// docs/ARCHITECTURE.md ("How to add a dialect") walks through adding one.
package dialect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/ws"
)

// Dialect is one protocol the server mounts without knowing how it works.
// The server calls Name and Routes once, when it is built; Stats on every
// metrics scrape, from any goroutine; Shutdown once, during a graceful
// shutdown.
//
// A dialect may also implement:
//   - prometheus.Collector: registered on the server's registry next to the
//     per-dialect WebSocket counters, for metrics of its own;
//   - ReadinessChecker: consulted by /readyz under the dialect's name.
type Dialect interface {
	// Name is a short lower-case name such as "echo": the value of the
	// dialect label in metrics and of the dialect attribute in logs. It
	// must be unique among the dialects of one server.
	Name() string

	// Routes lists the endpoints to mount on the server's mux.
	Routes() []Route

	// Stats returns the counters of the dialect's WebSocket server (summed,
	// if it has several).
	Stats() ws.Stats

	// Shutdown closes the dialect's connections, with the dialect's own
	// close code (usually through ws.Options.ShutdownCode, 1001 by
	// default), stops every goroutine the dialect started, and waits for
	// them to end or for ctx. It returns ctx's error if connections had to
	// be cut.
	Shutdown(ctx context.Context) error
}

// ReadinessChecker is implemented by a dialect that can be not ready, for
// example before it has loaded data it needs.
type ReadinessChecker interface {
	// Ready returns nil when the dialect can serve, or why it cannot.
	Ready(ctx context.Context) error
}

// Route is one endpoint of a dialect.
type Route struct {
	// Pattern is an http.ServeMux pattern, such as "GET /echo" or
	// "POST /apps/{app_id}/events". Patterns that conflict with another
	// route make the server fail to start.
	Pattern string
	// Protocol is ProtocolWebSocket for WebSocket handshakes or
	// ProtocolHTTP for plain HTTP APIs. WebSocket routes count against
	// websocket.max_connections.
	Protocol string
	// Handler serves the route.
	Handler http.Handler
}

// Route protocols, as logged at start.
const (
	ProtocolWebSocket = "websocket"
	ProtocolHTTP      = "http"
)

// Deps is what the binary shares between dialects, given to every New.
type Deps struct {
	// Hub routes channels, presence and counts, on this node and through
	// its bus across nodes. Required by every dialect that routes messages
	// (all but echo); its owner closes it after the dialects shut down.
	Hub *hub.Hub

	// WebSocket is the shared WebSocket settings, from the websocket
	// config section (server.WebSocketOptions). A dialect copies them and
	// sets what is its own: CheckOrigin (from its Origins), Accept,
	// ShutdownCode, OverflowCode, MaxPayload if it has its own limit. It
	// keeps Engine and AddrLimit, which the binary shares among every
	// dialect's server.
	WebSocket ws.Options

	// Logger receives the dialect's logs, with a "dialect" attribute
	// added; nil discards them.
	Logger *slog.Logger
}

// ErrMissingDependency is wrapped by the error of a New whose Deps lack
// something the dialect needs.
var ErrMissingDependency = errors.New("missing dependency")

// RequireHub returns an error wrapping ErrMissingDependency, naming the
// dialect, when d has no hub.
func (d Deps) RequireHub(dialect string) error {
	if d.Hub == nil {
		return fmt.Errorf("%s: New: %w: Deps.Hub is nil", dialect, ErrMissingDependency)
	}
	return nil
}

// Log returns the dialect's logger: Deps.Logger, or one that discards,
// with the attribute dialect=name.
func (d Deps) Log(name string) *slog.Logger {
	l := d.Logger
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return l.With("dialect", name)
}
