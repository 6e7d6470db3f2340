package pusher

import (
	"time"
)

// clientEvent relays a client- event: only when the app allows them, only
// on private and presence channels (not encrypted ones) the connection is
// subscribed to, within the app's rate and size limits. It goes to every
// other subscriber, never back to the sender; on presence channels it
// carries the sender's user_id. Every refusal, and a publish that fails on
// the server, is answered with pusher:error; the connection stays open.
func (c *conn) clientEvent(e Event) {
	a := c.app
	if !a.clientEvents {
		c.rejectClientEvent(0, "To send client events, enable client messages for the app (enable_client_messages)")
		return
	}
	if msg := eventNameProblem(e.Event); msg != "" {
		c.rejectClientEvent(0, "Client event rejected: "+msg)
		return
	}
	typ := typeOf(e.Channel)
	if typ.kind != kindPrivate && typ.kind != kindPresence {
		c.rejectClientEvent(0, "Client event rejected: only supported on private and presence channels")
		return
	}
	userID, subscribed := c.channels.get(e.Channel)
	if !subscribed {
		c.rejectClientEvent(0, "Client event rejected: not subscribed to "+truncate(e.Channel, 60))
		return
	}
	if sec := time.Now().Unix(); sec != c.evSecond {
		c.evSecond, c.evCount = sec, 0
	}
	c.evCount++
	if int(c.evCount) > a.maxClientEvents {
		c.d.stats.clientEventsRateLimited.Add(1)
		c.rejectClientEvent(CodeClientEventRejected, "Client event rejected due to rate limit")
		return
	}
	data := e.DataString()
	if len(data) > a.maxPayload {
		c.rejectClientEvent(0, "Client event rejected: data is larger than the limit of the app")
		return
	}
	if err := c.d.publishEvent(a, e.Channel, encodeEvent(e.Event, e.Channel, data, userID), c.id); err != nil {
		// Code null, as the other refusals: 4301 means the rate limit, on
		// which clients back off, and this is the server's failure.
		c.rejectClientEvent(0, "Client event not delivered: publishing failed on the server; try again")
		return
	}
	c.d.stats.clientEvents.Add(1)
	c.d.hooks.clientEvent(a, e.Channel, e.Event, data, socketID(c.id), userID)
}

func (c *conn) rejectClientEvent(code Code, msg string) {
	c.d.stats.clientEventsRejected.Add(1)
	c.sendError(code, msg)
}
