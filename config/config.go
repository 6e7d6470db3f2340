package config

import (
	"fmt"
	"net"
	"strconv"
	"time"
)

// Config is the whole server configuration. Default returns a working one;
// Parse and Load overlay a file on it. A Config is a plain value: read it from
// any number of goroutines, but do not change it while others read it.
type Config struct {
	// Host is the interface to listen on ("localhost"; "" or "0.0.0.0" for all).
	Host string `json:"host"`
	// Port is the TCP port for HTTP, WebSocket and every API (8000).
	Port int `json:"port"`
	// TLS serves HTTPS and WSS when both files are set (off).
	TLS TLS `json:"tls"`
	// ShutdownTimeout bounds a graceful shutdown before connections are cut (10s).
	ShutdownTimeout Duration `json:"shutdown_timeout"`
	// HTTP holds the timeouts of the HTTP server under every endpoint.
	HTTP HTTP `json:"http"`
	// Limits caps what one client may ask of the server (all off).
	Limits Limits `json:"limits"`
	// WebSocket holds limits and timers shared by every WebSocket endpoint.
	WebSocket WebSocket `json:"websocket"`
	// Echo is the echo endpoint, useful for checks and benchmarks.
	Echo Echo `json:"echo"`
	// Metrics is the Prometheus endpoint.
	Metrics Metrics `json:"metrics"`
	// Pprof serves Go profiling under /debug/pprof (off).
	Pprof Pprof `json:"pprof"`
	// Admin guards the admin surfaces: the console and the admin API.
	Admin Admin `json:"admin"`
	// Console is the operator console in the browser (on, loopback only
	// unless admin.token is set).
	Console Console `json:"console"`
	// Log sets the level and format of the server's logs.
	Log Log `json:"log"`
	// Tokens is the token-broker dialect (/ws and its form API).
	Tokens Tokens `json:"tokens"`
	// Pusher is the Pusher Channels dialect (/app/{key} and /apps/{id}/...).
	Pusher Pusher `json:"pusher"`
	// Atmosphere is the Navixy-style event subscription dialect
	// (/event/subscription, user/auth and its publisher API).
	Atmosphere Atmosphere `json:"atmosphere"`
	// Cluster joins nodes through Redis (off: one node).
	Cluster Cluster `json:"cluster"`

	keys      map[string]string // key path -> the spelling the file used, for messages
	warnings  []Warning
	admission Admission // which rule set tokens.allow_unregistered_clients
}

// Default returns a new Config with every key at its default. It is valid.
func Default() *Config {
	return &Config{
		Host:            "localhost",
		Port:            8000,
		ShutdownTimeout: Duration(10 * time.Second),
		HTTP:            HTTP{ReadHeaderTimeout: Duration(10 * time.Second), IdleTimeout: Duration(2 * time.Minute)},
		WebSocket: WebSocket{
			MaxPayload:   1 << 20,
			SendQueue:    256,
			PingInterval: Duration(30 * time.Second),
			PongTimeout:  Duration(10 * time.Second),
			WriteTimeout: Duration(10 * time.Second),
			ReadTimeout:  Duration(30 * time.Second),

			MaxPendingPongs: 16,
		},
		Echo:    Echo{Enabled: true, Path: "/echo", MaxMessageSize: 1 << 20},
		Metrics: Metrics{Enabled: true, Path: "/metrics"},
		Console: Console{Enabled: true, Path: "/console"},
		Log:     Log{Level: "info", Format: "text"},
		Tokens: Tokens{
			Enabled:                  true,
			Path:                     "/ws",
			APIPath:                  "/",
			Origin:                   "*",
			ResponseHeaders:          "*",
			AllowUnregisteredClients: true,
		},
		Pusher:     defaultPusher(),
		Atmosphere: defaultAtmosphere(),
		Cluster:    defaultCluster(),
		admission:  defaultAdmission,
	}
}

// Addr returns the listen address, host:port, as net.Listen expects it.
func (c *Config) Addr() string {
	return net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
}

// Warnings returns what Parse or Load accepted but the operator should know,
// such as a legacy key that is not supported. Log each one.
func (c *Config) Warnings() []Warning {
	return c.warnings
}

// Warning is something accepted in a file that deserves the operator's attention.
type Warning struct {
	Key string // the key as the file spells it
	Msg string // what happens and what to do
}

// String returns "key: message".
func (w Warning) String() string { return w.Key + ": " + w.Msg }

// Error is one problem in a configuration: a syntax error at a line and
// column, or a bad value of a key (or of an environment variable).
// Functions of this package return one Error per problem, joined with
// errors.Join.
type Error struct {
	File   string // the name given to Parse or Load; empty for Validate and ApplyEnv
	Line   int    // 1-based line of a syntax error or an unknown key; 0 otherwise
	Column int    // 1-based byte column of a syntax error or an unknown key; 0 otherwise
	Key    string // key path such as "websocket.max_payload", or a variable name; empty for syntax errors
	Msg    string // what is wrong and how to fix it
}

// Error returns "file:line:col: msg" (syntax), "file:line:col: key: msg"
// (unknown key), "file: key: msg" or "key: msg".
func (e *Error) Error() string {
	s := ""
	if e.File != "" {
		s = e.File
		if e.Line > 0 {
			s += fmt.Sprintf(":%d:%d", e.Line, e.Column)
		}
		s += ": "
	}
	if e.Key != "" {
		s += e.Key + ": "
	}
	return s + e.Msg
}
