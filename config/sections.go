package config

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/switchboard-rt/switchboard/internal/secret"
)

// TLS is the "tls" section. With both files set the server speaks HTTPS and
// WSS on its one port; with neither, plain HTTP. Relative paths are relative
// to the working directory.
type TLS struct {
	// CertFile is the PEM certificate chain (legacy key Crtfile).
	CertFile string `json:"cert_file"`
	// KeyFile is the PEM private key (legacy key Keyfile).
	KeyFile string `json:"key_file"`
}

// Enabled reports whether TLS is configured.
func (t TLS) Enabled() bool { return t.CertFile != "" && t.KeyFile != "" }

func (t *TLS) validate(ck *checker, path string) {
	cert, key := path+".cert_file", path+".key_file"
	switch {
	case t.CertFile == "" && t.KeyFile == "":
		return
	case t.CertFile == "":
		ck.errorf(cert, "missing: %s is set, so set %s too (or remove both)", ck.name(key), ck.name(cert))
	case t.KeyFile == "":
		ck.errorf(key, "missing: %s is set, so set %s too (or remove both)", ck.name(cert), ck.name(key))
	}
	ck.file(cert, t.CertFile)
	ck.file(key, t.KeyFile)
}

// HTTP is the "http" section: timeouts of the HTTP server that carries every
// endpoint, WebSocket handshakes included.
type HTTP struct {
	// ReadHeaderTimeout is the time a client has to send a request's
	// headers, a WebSocket handshake's included (10s).
	ReadHeaderTimeout Duration `json:"read_header_timeout"`
	// IdleTimeout closes a keep-alive connection that waits this long for
	// its next request (2m).
	IdleTimeout Duration `json:"idle_timeout"`
}

func (h *HTTP) validate(ck *checker, path string) {
	ck.positiveDuration(path+".read_header_timeout", h.ReadHeaderTimeout)
	ck.positiveDuration(path+".idle_timeout", h.IdleTimeout)
}

// Limits is the "limits" section: rates one client may not exceed, each
// answered 429 Too Many Requests with Retry-After. Every limit is off (0) by
// default: behind a reverse proxy or a NAT every client has the same
// address, and an app's publishing backend is the operator's own code, so a
// default limit would refuse legitimate peers. docs/configuration.md gives
// values to start from.
type Limits struct {
	// HandshakesPerIP is the WebSocket handshakes per second one client
	// address may make, on every WebSocket endpoint together (0: no limit).
	HandshakesPerIP int `json:"handshakes_per_ip"`
	// ConnectionsPerIP caps the WebSocket connections one client address
	// holds open, on every WebSocket endpoint together (0: no limit).
	ConnectionsPerIP int `json:"connections_per_ip"`
	// APIRequests is the HTTP API requests per second per app (Pusher REST),
	// per API key sent in a header, or else per client address: the REST,
	// form and publisher APIs (0: no limit).
	APIRequests int `json:"api_requests"`
}

func (l *Limits) validate(ck *checker, path string) {
	for _, k := range []struct {
		key string
		n   int
	}{{"handshakes_per_ip", l.HandshakesPerIP}, {"api_requests", l.APIRequests}} {
		if k.n < 0 {
			ck.errorf(path+"."+k.key, "%d is negative; use 0 for no limit or a number per second", k.n)
		}
	}
	if l.ConnectionsPerIP < 0 {
		ck.errorf(path+".connections_per_ip", "%d is negative; use 0 for no limit or a number of connections", l.ConnectionsPerIP)
	}
}

// WebSocket is the "websocket" section: limits and timers shared by every
// WebSocket endpoint, whatever its dialect.
type WebSocket struct {
	// MaxPayload is the largest message accepted, in bytes (1 MiB); larger closes the connection.
	MaxPayload int64 `json:"max_payload"`
	// SendQueue is the number of messages queued per connection (256); a
	// connection that stays over it is closed as a slow consumer.
	SendQueue int `json:"send_queue"`
	// MaxConnections caps open WebSocket connections (0: unlimited).
	MaxConnections int `json:"max_connections"`
	// PingInterval is how often an idle connection is pinged (30s; 0: never).
	PingInterval Duration `json:"ping_interval"`
	// PongTimeout is how long to wait for the pong before closing (10s).
	PongTimeout Duration `json:"pong_timeout"`
	// WriteTimeout bounds one write to the socket (10s).
	WriteTimeout Duration `json:"write_timeout"`
	// ReadTimeout is the time allowed to finish a partly received frame (30s).
	ReadTimeout Duration `json:"read_timeout"`
	// Compression offers permessage-deflate (false: it costs memory per connection).
	Compression bool `json:"compression"`
	// MaxPendingPongs is how many pongs, one per ping, may wait to be
	// written to one connection (16); past that the newest is replaced.
	MaxPendingPongs int `json:"max_pending_pongs"`
	// SendPath is how queued frames reach the sockets: "syscall" (one
	// send or writev per connection), "uring" (each writer's ready
	// connections in one io_uring submission; where io_uring cannot be set
	// up, a warning and "syscall"), "auto" (io_uring where it can be set
	// up, else "syscall"). Unset: the ws package's default, "syscall".
	SendPath string `json:"send_path"`
}

func (w *WebSocket) validate(ck *checker, path string) {
	ck.positive(path+".max_payload", w.MaxPayload, "bytes, e.g. 1048576 for 1 MiB")
	ck.positive(path+".send_queue", int64(w.SendQueue), "messages, e.g. 256")
	if w.MaxConnections < 0 {
		ck.errorf(path+".max_connections", "%d is negative; use 0 for unlimited or a positive limit", w.MaxConnections)
	}
	if w.PingInterval < 0 {
		ck.errorf(path+".ping_interval", "%s is negative; use 0 to turn pings off or e.g. \"30s\"", w.PingInterval)
	}
	ck.positiveDuration(path+".pong_timeout", w.PongTimeout)
	ck.positiveDuration(path+".write_timeout", w.WriteTimeout)
	ck.positiveDuration(path+".read_timeout", w.ReadTimeout)
	if w.MaxPendingPongs < 1 || w.MaxPendingPongs > 16384 {
		ck.errorf(path+".max_pending_pongs", "%d is out of range; use 1 to 16384, e.g. 16", w.MaxPendingPongs)
	}
	if msg := sendPathProblem(w.SendPath); msg != "" {
		ck.errorf(path+".send_path", "%s", msg)
	}
}

// sendPathProblem says what is wrong with a websocket.send_path value, or "".
func sendPathProblem(p string) string {
	switch p {
	case "", "syscall", "uring", "auto":
		return ""
	}
	return fmt.Sprintf("%q is not a send path; use \"syscall\", \"uring\" or \"auto\"", p)
}

// Echo is the "echo" section: a WebSocket endpoint that sends every message
// back, for health checks and benchmarks.
type Echo struct {
	// Enabled serves the endpoint (true).
	Enabled bool `json:"enabled"`
	// Path is where it is served ("/echo").
	Path string `json:"path"`
	// MaxMessageSize is the largest message echoed, in bytes (1 MiB).
	MaxMessageSize int64 `json:"max_message_size"`
}

func (e *Echo) validate(ck *checker, path string) {
	ck.urlPath(path+".path", e.Path, e.Enabled)
	ck.positive(path+".max_message_size", e.MaxMessageSize, "bytes, e.g. 1048576 for 1 MiB")
}

// Metrics is the "metrics" section: Prometheus text exposition.
type Metrics struct {
	// Enabled serves the endpoint (true).
	Enabled bool `json:"enabled"`
	// Path is where it is served ("/metrics").
	Path string `json:"path"`
}

func (m *Metrics) validate(ck *checker, path string) {
	ck.urlPath(path+".path", m.Path, m.Enabled)
}

// PprofPath is where Go's profiling handlers are served when Pprof is enabled.
const PprofPath = "/debug/pprof/"

// Pprof is the "pprof" section: Go's profiling handlers under PprofPath.
// They reveal internals, so they are off by default.
type Pprof struct {
	// Enabled serves the profiling handlers (false).
	Enabled bool `json:"enabled"`
}

func (p *Pprof) validate(ck *checker, path string) {
	if p.Enabled {
		ck.route(path+".enabled", PprofPath)
	}
}

// Admin is the "admin" section: who may use the admin surfaces (the console
// and the admin API).
type Admin struct {
	// Token opens the admin surfaces to other hosts: the token itself, or
	// "sha256:" and the 64 hex digits of its SHA-256. Callers send it as
	// "Authorization: Bearer TOKEN" or as the password of HTTP Basic
	// credentials. Empty lets loopback clients only in (""). It is a
	// secret: never log it.
	Token string `json:"token"`
}

func (a *Admin) validate(ck *checker, path string) {
	if _, err := secret.Parse(a.Token); err != nil {
		ck.errorf(path+".token", "%v", errors.Unwrap(err))
	}
}

// Console is the "console" section: the operator console, a live dashboard
// and debug console in the browser. The admin section says who may open it.
type Console struct {
	// Enabled serves the console (true).
	Enabled bool `json:"enabled"`
	// Path is where it is served ("/console"); its API is under Path/api/.
	Path string `json:"path"`
}

func (c *Console) validate(ck *checker, path string) {
	if c.Enabled && c.Path == "/" {
		ck.errorf(path+".path", "the console needs a path of its own, such as \"/console\", not \"/\"")
		return
	}
	ck.urlPath(path+".path", c.Path, c.Enabled)
}

// Log is the "log" section.
type Log struct {
	// Level is the least severe level written: debug, info, warn or error ("info").
	Level string `json:"level"`
	// Format is text (key=value) or json, one record a line ("text").
	Format string `json:"format"`
}

var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
}

// SlogLevel returns Level as a slog.Level (info when Level is not valid).
func (l Log) SlogLevel() slog.Level {
	return logLevels[strings.ToLower(l.Level)] // the zero Level is info
}

// JSON reports whether Format asks for JSON records.
func (l Log) JSON() bool { return strings.EqualFold(l.Format, "json") }

func (l *Log) validate(ck *checker, path string) {
	if _, ok := logLevels[strings.ToLower(l.Level)]; !ok {
		ck.errorf(path+".level", "%q is not one of debug, info, warn, error%s", l.Level, commaHint(l.Level))
	}
	if f := strings.ToLower(l.Format); f != "text" && f != "json" {
		ck.errorf(path+".format", "%q is not one of text, json%s", l.Format, commaHint(l.Format))
	}
}
