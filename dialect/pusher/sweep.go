package pusher

import (
	"time"
)

// sweep is the dialect's one background goroutine for all connections: it
// advances the dialect clock, pings connections silent for the app's
// activity_timeout, closes those that did not answer within pong_timeout
// (4201) or did not sign in within user_authentication_timeout (4009). It
// stops when Shutdown closes d.stop.
func (d *Dialect) sweep() {
	defer close(d.done)
	t := time.NewTicker(d.sweepInt)
	defer t.Stop()
	var batch []*conn
	for {
		select {
		case <-d.stop:
			return
		case now := <-t.C:
			n := now.UnixNano()
			d.clock.Store(n)
			batch = d.conns.snapshot(batch[:0])
			for _, c := range batch {
				c.keepAlive(n)
			}
			clear(batch)
		}
	}
}

// keepAlive applies the activity rules to one connection at time now.
func (c *conn) keepAlive(now int64) {
	if c.closing.Load() {
		return
	}
	a := c.app
	if sent := c.pingSent.Load(); sent != 0 {
		if time.Duration(now-sent) >= a.pongTimeout {
			c.d.stats.pongTimeouts.Add(1)
			c.fail(closeErr(CodePongTimeout, "Pong reply not received"))
		}
		return
	}
	if a.userAuthTimeout > 0 && !c.signedIn.Load() && time.Duration(now-c.openedAt) >= a.userAuthTimeout {
		c.fail(closeErr(CodeUnauthorized, "Connection not signed in within %s", a.userAuthTimeout))
		return
	}
	if time.Duration(now-c.lastSeen.Load()) >= a.activityTimeout {
		c.pingSent.Store(now)
		_ = c.ws.SendPrepared(a.pingMsg)
	}
}
