package server

import (
	"context"
	"net/http"

	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/ws"
)

// Dialect is one protocol the server mounts (echo, pusher, tokens,
// atmosphere) without knowing how it works. The binary constructs each
// dialect with what it needs (config section, hub, logger) and passes it to
// New. The server calls Name and Routes once, in New; Stats on every metrics
// scrape, from any goroutine; Shutdown once, during a graceful shutdown.
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
	// default), and waits for them to end or for ctx. It returns ctx's
	// error if connections had to be cut.
	Shutdown(ctx context.Context) error
}

// ReadinessChecker is implemented by a dialect that can be not ready, for
// example before it has loaded data it needs; see Server.AddReadinessCheck.
type ReadinessChecker interface {
	// Ready returns nil when the dialect can serve, or why it cannot.
	Ready(ctx context.Context) error
}

// Route is one endpoint of a dialect.
type Route struct {
	// Pattern is an http.ServeMux pattern, such as "GET /echo" or
	// "POST /apps/{app_id}/events". Patterns that conflict with another
	// route make New fail.
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

// WebSocketOptions returns the ws.Options that the websocket config section
// asks for, for dialects to build their ws.Server from. Dialects then set
// what is theirs: CheckOrigin, Accept, MaxPayload if they have their own
// limit, ShutdownCode.
func WebSocketOptions(c config.WebSocket) ws.Options {
	ping := c.PingInterval.Std()
	if ping == 0 {
		ping = -1 // the config's "0: never"; ws reads 0 as its default
	}
	return ws.Options{
		MaxConnections: c.MaxConnections,
		MaxPayload:     c.MaxPayload,
		PingInterval:   ping,
		PongTimeout:    c.PongTimeout.Std(),
		ReadTimeout:    c.ReadTimeout.Std(),
		WriteTimeout:   c.WriteTimeout.Std(),
		SendQueue:      c.SendQueue,
		Compression:    c.Compression,

		MaxPendingPongs: c.MaxPendingPongs,
	}
}
