package ws

import (
	"errors"
	"time"

	"github.com/gobwas/ws"
)

// This file is the server's one sweeper: the coarse clock, keep-alive
// pings, the pong, read and write timeouts, and each connection's OnTick.

// sweepConns advances the server clock to now, pings connections that have
// been silent for PingInterval, closes those that did not answer within
// PongTimeout, and runs each connection's OnTick. The Engine's sweeper
// calls it every sweepInterval: one goroutine for all connections (of
// every Server on the Engine) instead of a timer each, and for the
// dialect's keep-alive rules too.
func (s *Server) sweepConns(now int64) {
	s.clock.Store(now)
	s.swept = s.snapshot(s.swept[:0])
	for _, c := range s.swept {
		s.keepAlive(c, now)
		if c.onTick != nil && !c.closing() {
			c.onTick(now)
		}
	}
	clear(s.swept)
}

// sweepInterval is a second, or less when the keep-alive settings are
// shorter, so that a timeout is noticed within a quarter of itself, or
// when SetTickInterval asked for less.
func (s *Server) sweepInterval() time.Duration {
	d := time.Second
	if s.tickEvery > 0 && s.tickEvery < d {
		d = s.tickEvery
	}
	for _, v := range []time.Duration{s.opts.PingInterval / 4, s.opts.PongTimeout / 4, s.opts.ReadTimeout / 4, s.opts.WriteTimeout / 4} {
		if v > 0 && v < d {
			d = v
		}
	}
	return max(d, 10*time.Millisecond)
}

func (s *Server) keepAlive(c *Conn, now int64) {
	if t := c.writeStalled.Load(); t != 0 && time.Duration(now-t) >= s.opts.WriteTimeout {
		c.Terminate() // the peer has read nothing for WriteTimeout, not even our Close
		return
	}
	if c.closing() {
		return // bounded by the close timer or the write stall above
	}
	if t := c.readStalled.Load(); t != 0 && time.Duration(now-t) >= s.opts.ReadTimeout {
		c.fail(StatusPolicyViolation, "frame not completed in time", errors.New("ws: read: frame not completed in time"))
		return
	}
	if s.opts.PingInterval < 0 {
		return
	}
	if sent := c.pingSentAt.Load(); sent != 0 {
		if time.Duration(now-sent) >= s.opts.PongTimeout {
			c.fail(StatusGoingAway, "pong timeout", nil)
		}
		return
	}
	if time.Duration(now-c.lastActivity.Load()) >= s.opts.PingInterval {
		c.pingSentAt.Store(now)
		_ = c.enqueue(encodeFrame(ws.OpPing, nil, false), true)
	}
}
