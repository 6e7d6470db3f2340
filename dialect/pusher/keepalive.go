package pusher

import (
	"time"
)

// keepAlive applies the activity rules to one connection at time now: it
// pings a connection silent for the app's activity_timeout, closes one that
// did not answer within pong_timeout (4201) or did not sign in within
// user_authentication_timeout (4009). It is the connection's ws OnTick hook,
// run by the ws server's sweeper, at least every quarter of the shortest of
// those timeouts (New sets the tick interval).
func (c *conn) keepAlive(now int64) {
	if c.closing.Load() {
		return
	}
	a := c.app
	if a.closes.Load() != c.closes { // the app was removed or disabled
		c.fail(closeErr(CodeAppDisabled, "%s", *a.closeMsg.Load()))
		return
	}
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
