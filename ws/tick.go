package ws

import (
	"time"
)

// This file is the server's per-connection tick: the one sweeper of a
// Server (see sweep) also runs the keep-alive rules of the protocol on top,
// so that a dialect with timeouts of its own (Pusher's activity and pong
// timeouts, Atmosphere's heartbeats) needs no sweeper, ticker or
// connection registry of its own.

// OnTick sets the function the server's sweeper calls for this connection
// on every sweep, after the server's own keep-alive checks, while the
// connection is open and not closing, with the sweep's time (Server.Now).
// Set it inside OnConnection, like the other hooks. f runs on the sweeper's
// goroutine, one connection after another: it must not block, and should
// only compare times and queue frames or start a close. Unlike the other
// hooks it is not ordered with them: a call that began just before the
// connection closed may overlap OnClose.
func (c *Conn) OnTick(f func(now int64)) { c.onTick = f }

// SetTickInterval makes the sweeper run at least every d, for dialects
// whose OnTick rules need a finer grain than the server's own keep-alive
// settings (the sweeper runs every second, or every quarter of the
// shortest of PingInterval, PongTimeout, ReadTimeout and WriteTimeout, and
// never more often than every 10 ms). Call it before the first connection.
func (s *Server) SetTickInterval(d time.Duration) {
	if d > 0 {
		s.tickEvery = d
	}
}

// Now returns the server's coarse clock in unix nanoseconds: the time of
// the sweeper's last sweep, as connections stamp their activity with. It
// advances once per sweep, so reading it costs no system call.
func (s *Server) Now() int64 { return s.clock.Load() }
