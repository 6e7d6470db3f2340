package ws

import (
	"net/http"
	"time"
)

// Options configures a Server. The zero value is usable: every zero field
// takes the default its comment gives. NewServer copies the options, so the
// caller's struct is never changed.
type Options struct {
	// Addr is the address ListenAndServe listens on ("port" in Node's ws).
	// It is ignored when the Server is mounted with ServeHTTP. Default ":8000".
	Addr string

	// MaxConnections caps concurrent connections ("backlog" in ZJS). A
	// handshake over the cap is answered 503 Service Unavailable with
	// Retry-After: 1. 0 means no cap.
	MaxConnections int

	// AddrLimit, when set, caps the open connections of one client address
	// (see NewAddrLimit); share one among Servers to cap them together. A
	// handshake over it is answered 429 Too Many Requests with
	// Retry-After: 1 and counted in Stats.RefusedPerAddr. nil means no cap.
	AddrLimit *AddrLimit

	// Engine, when set, is the Engine (pollers, writers, keep-alive
	// sweeper) the Server runs on, shared with the other Servers given it;
	// its owner closes it once they have all shut down. nil means one of
	// the Server's own, stopped by Shutdown. The Engine's writers use the
	// SendPath of the Server that starts it (with its first connection),
	// so Servers sharing one should ask for the same.
	Engine *Engine

	// ClientTracking keeps the set of open connections readable with
	// Server.Clients.
	ClientTracking bool

	// MaxPayload is the largest message accepted, in bytes, after fragments
	// are joined and after decompression. A larger message closes the
	// connection with 1009. 0 means 1 MiB; negative means no limit, which
	// lets any client make the server allocate without bound.
	MaxPayload int64

	// Accept decides whether to accept a handshake and which sub-protocol to
	// select from the ones the client offered, in the client's order. It
	// returns ok=false to refuse the handshake with 403 Forbidden; a
	// protocol the client did not offer is a programming error answered with
	// 500. nil accepts every handshake and selects no sub-protocol.
	Accept func(r *http.Request, protocols []string) (protocol string, ok bool)

	// CheckOrigin decides whether a handshake's Origin header is allowed; a
	// refused one is answered 403. nil allows requests with no Origin header
	// and requests whose Origin host equals the Host header.
	CheckOrigin func(r *http.Request) bool

	// PingInterval is how long a connection may stay silent before the server
	// pings it. 0 means 30 s; negative turns server pings off.
	PingInterval time.Duration

	// PongTimeout is how long the server waits for any frame after a ping
	// before it closes the connection with 1001. 0 means 10 s.
	PongTimeout time.Duration

	// ReadTimeout bounds how long a frame may take to arrive once its first
	// byte has: a peer that stalls mid-frame is closed with 1008. 0 means 30 s.
	ReadTimeout time.Duration

	// WriteTimeout bounds one write to the socket; a peer that does not read
	// for that long is dropped. 0 means 10 s.
	WriteTimeout time.Duration

	// SendQueue bounds the messages queued for one connection and not yet
	// written. Send on a full queue returns ErrQueueFull and closes the
	// connection with its overflow code (1013 unless changed). 0 means 256.
	SendQueue int

	// Compression enables permessage-deflate (RFC 7692) negotiation, with no
	// context takeover in either direction so that one compressed copy of a
	// PreparedMessage serves every connection. It costs CPU per message.
	Compression bool

	// MaxPendingPongs bounds the pongs waiting in a connection's send queue.
	// Every ping is answered with a pong of its own payload, in order; a
	// peer that pings faster than it reads finds its pongs past this many
	// replaced, the newest pending one by the latest, so that its pings
	// cannot grow the queue. 0 means 16; at most 16384.
	MaxPendingPongs int

	// KeepRequest keeps the handshake request (headers, URL, remote
	// address) for Conn.Request after OnConnection returns. Off by default:
	// headers are the largest part of an idle connection's memory.
	KeepRequest bool

	// OverflowCode and OverflowReason are sent when a connection's send
	// queue overflows: the protocol's "reconnect later" code. Default 1013
	// "send queue full".
	OverflowCode   StatusCode
	OverflowReason string

	// ShutdownCode and ShutdownReason are sent to every connection by
	// Shutdown. Default 1001 "server shutting down".
	ShutdownCode   StatusCode
	ShutdownReason string

	// SendPath is how queued frames are written to raw-mode sockets: one
	// system call per connection (SendPathSyscall), or each writer's ready
	// connections in one io_uring submission (SendPathUring, SendPathAuto),
	// falling back to system calls where io_uring is unavailable.
	// SendPathDefault means DefaultSendPath.
	SendPath SendPath
}

// Defaults for Options fields left zero.
const (
	DefaultAddr         = ":8000"
	DefaultMaxPayload   = 1 << 20
	DefaultPingInterval = 30 * time.Second
	DefaultPongTimeout  = 10 * time.Second
	DefaultReadTimeout  = 30 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	DefaultSendQueue    = 256
	DefaultPendingPongs = 16
	maxPendingPongs     = 1 << 14 // Conn counts them in an int16
	closeTimeout        = 5 * time.Second
)

func (o Options) withDefaults() Options {
	setDefault(&o.Addr, DefaultAddr)
	setDefault(&o.MaxPayload, DefaultMaxPayload)
	setDefault(&o.PingInterval, DefaultPingInterval)
	setDefault(&o.PongTimeout, DefaultPongTimeout)
	setDefault(&o.ReadTimeout, DefaultReadTimeout)
	setDefault(&o.WriteTimeout, DefaultWriteTimeout)
	setDefault(&o.SendQueue, DefaultSendQueue)
	setDefault(&o.MaxPendingPongs, DefaultPendingPongs)
	o.MaxPendingPongs = min(o.MaxPendingPongs, maxPendingPongs)
	setDefault(&o.OverflowCode, StatusTryAgainLater)
	setDefault(&o.OverflowReason, "send queue full")
	setDefault(&o.ShutdownCode, StatusGoingAway)
	setDefault(&o.ShutdownReason, "server shutting down")
	setDefault(&o.SendPath, defaultSendPath)
	return o
}

func setDefault[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}
