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

	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/dialect"
	"github.com/switchboard-rt/switchboard/ws"
)

// Name is the dialect's name in metrics and logs.
const Name = "echo"

// Dialect is the echo endpoint. It implements dialect.Dialect.
type Dialect struct {
	path string
	ws   *ws.Server
	log  *slog.Logger
}

var _ dialect.Dialect = (*Dialect)(nil)

// New returns the echo dialect for cfg, with the shared WebSocket settings
// of deps (deps.Hub is not used); New overrides MaxPayload with
// cfg.MaxMessageSize and allows every origin. It never fails; the error is
// the constructor shape of every dialect (package dialect).
func New(cfg config.Echo, deps dialect.Deps) (*Dialect, error) {
	opts := deps.WebSocket
	opts.MaxPayload = cfg.MaxMessageSize
	opts.CheckOrigin = dialect.AnyOrigin.Check
	d := &Dialect{path: cfg.Path, ws: ws.NewServer(opts), log: deps.Log(Name)}
	d.ws.OnConnection(d.accept)
	d.ws.OnError(func(err error) { d.log.Debug("websocket error", "err", err) })
	return d, nil
}

func (d *Dialect) accept(c *ws.Conn) {
	c.OnMessage(func(t ws.MessageType, data []byte) {
		// An error means the connection is closing (a full queue closes
		// it with 1013): nothing more to do.
		_ = c.Send(t, data)
	})
	if d.log.Enabled(context.Background(), slog.LevelDebug) {
		addr := c.RemoteAddr().String()
		d.log.Debug("connected", "remote", addr)
		c.OnClose(func(code ws.StatusCode, reason string) {
			d.log.Debug("disconnected", "remote", addr, "code", code, "reason", reason)
		})
	}
}

// Name returns "echo".
func (d *Dialect) Name() string { return Name }

// Routes returns the WebSocket endpoint at the configured path.
func (d *Dialect) Routes() []dialect.Route {
	return []dialect.Route{{Pattern: "GET " + d.path, Protocol: dialect.ProtocolWebSocket, Handler: d.ws}}
}

// Stats returns the WebSocket counters.
func (d *Dialect) Stats() ws.Stats { return d.ws.Stats() }

// Shutdown closes every connection with 1001 and waits for them or ctx.
func (d *Dialect) Shutdown(ctx context.Context) error { return d.ws.Shutdown(ctx) }
