// Package echo is the echo dialect: a public WebSocket endpoint (/echo by
// default) that sends every text and binary message back unchanged, for
// health checks, client tests and benchmarks.
//
// Any origin may connect. Messages over echo.max_message_size close the
// connection with 1009, text that is not UTF-8 with 1007 (both done by the
// ws package). The dialect has no state and uses neither the hub nor the bus.
package echo

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/server"
	"github.com/switchboard-rt/switchboard/ws"
)

// Name is the dialect's name in metrics and logs.
const Name = "echo"

// Dialect is the echo endpoint. It implements server.Dialect.
type Dialect struct {
	path string
	ws   *ws.Server
	log  *slog.Logger
}

var _ server.Dialect = (*Dialect)(nil)

// New returns the echo dialect for cfg. opts carries the shared WebSocket
// settings (see server.WebSocketOptions); New overrides MaxPayload with
// cfg.MaxMessageSize and allows every origin. A nil logger logs nothing.
func New(cfg config.Echo, opts ws.Options, logger *slog.Logger) *Dialect {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts.MaxPayload = cfg.MaxMessageSize
	opts.CheckOrigin = func(*http.Request) bool { return true }
	d := &Dialect{path: cfg.Path, ws: ws.NewServer(opts), log: logger.With("dialect", Name)}
	d.ws.OnConnection(d.accept)
	d.ws.OnError(func(err error) { d.log.Debug("websocket error", "err", err) })
	return d
}

func (d *Dialect) accept(c *ws.Conn) {
	c.OnMessage(func(t ws.MessageType, data []byte) {
		// An error means the connection is closing (a full queue closes
		// it with 1013): nothing more to do.
		_ = c.Send(context.Background(), t, data)
	})
	if d.log.Enabled(context.Background(), slog.LevelDebug) {
		addr := c.RemoteAddr().String()
		d.log.Debug("connected", "remote", addr)
		c.OnClose(func(code int, reason string) {
			d.log.Debug("disconnected", "remote", addr, "code", code, "reason", reason)
		})
	}
}

// Name returns "echo".
func (d *Dialect) Name() string { return Name }

// Routes returns the WebSocket endpoint at the configured path.
func (d *Dialect) Routes() []server.Route {
	return []server.Route{{Pattern: "GET " + d.path, Protocol: server.ProtocolWebSocket, Handler: d.ws}}
}

// Stats returns the WebSocket counters.
func (d *Dialect) Stats() ws.Stats { return d.ws.Stats() }

// Shutdown closes every connection with 1001 and waits for them or ctx.
func (d *Dialect) Shutdown(ctx context.Context) error { return d.ws.Shutdown(ctx) }
