package pusher

import (
	"strings"
	"sync/atomic"

	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/ws"
)

// conn is the dialect's state of one connection. It is small on purpose:
// an idle connection costs this struct and the closures of its hooks, no
// goroutine and no timer (the ws server's sweeper calls keepAlive, which
// watches lastSeen and pingSent).
//
// The fields below the atomics belong to the connection's hooks, which ws
// calls one at a time (OnMessage, then OnClose last), so they need no lock.
// Other goroutines (the ws sweeper, the hub's fan-out) touch only the atomics
// and the *ws.Conn, whose methods are safe for concurrent use.
type conn struct {
	d   *Dialect
	app *app
	ws  *ws.Conn
	id  hub.SubscriberID // the socket id is socketID(id), made when needed: 32 bytes less per idle connection

	lastSeen atomic.Int64 // ws server clock at the last message received
	pingSent atomic.Int64 // ws server clock when pusher:ping went out; 0 if none is due
	openedAt int64
	signedIn atomic.Bool
	closing  atomic.Bool // a close was started by this side
	closes   uint32      // app.closes at accept: the sweeper closes the connection once it moves
	evCount  int32       // client events in evSecond (here, beside closes: 8 bytes for both)

	channels channelSet  // subscribed channels, with the presence user id on each
	user     *signedUser // after pusher:signin
	evSecond int64       // the second client events are being counted in
}

// newConn starts serving wc for a; closes is a.closes as accept read it.
func newConn(d *Dialect, a *app, wc *ws.Conn, id hub.SubscriberID, closes uint32) *conn {
	c := &conn{d: d, app: a, ws: wc, id: id, closes: closes}
	now := d.ws.Now()
	c.lastSeen.Store(now)
	c.openedAt = now
	wc.OnMessage(c.onMessage)
	wc.OnClose(c.onClose)
	wc.OnTick(c.keepAlive)
	return c
}

// Deliver queues a message fanned out by the hub; it is the hub.Subscriber
// of every channel the connection is subscribed to.
func (c *conn) Deliver(m *hub.Message) error { return c.ws.SendPrepared(m.Frame()) }

// send queues one message to the client. A full queue closes the
// connection with 4100 (ws does it); other errors mean it is closing.
func (c *conn) send(b []byte) { _ = c.ws.Send(ws.Text, b) }

// sendError sends pusher:error without closing; code 0 sends "code": null.
func (c *conn) sendError(code Code, msg string) {
	d := errorData{Message: msg}
	if code != 0 {
		n := int(code)
		d.Code = &n
	}
	c.send(encodeEventJSON(c.app.ev.error, "", d))
}

// fail sends pusher:error with e's code and closes the connection with it.
// It may be called from any goroutine.
func (c *conn) fail(e *Error) {
	if c.closing.Swap(true) {
		return
	}
	c.d.stats.closedByServer.Add(1)
	refuse(c.ws, &c.app.ev, e)
}

// onMessage handles one message from the client.
func (c *conn) onMessage(t ws.MessageType, data []byte) {
	c.lastSeen.Store(c.d.ws.Now())
	c.pingSent.Store(0) // any message shows the client is alive
	if t != ws.Text {
		c.sendError(0, "Binary messages are not supported; send JSON text")
		return
	}
	e, err := DecodeEvent(data)
	if err != nil {
		c.sendError(0, "Invalid message: "+err.Error())
		return
	}
	ev := &c.app.ev
	switch e.Event {
	case ev.ping:
		_ = c.ws.SendPrepared(c.app.pongMsg)
	case ev.pong:
	case ev.subscribe:
		c.subscribe(e)
	case ev.unsubscribe:
		c.unsubscribe(e)
	case ev.signin:
		c.signin(e)
	default:
		if strings.HasPrefix(e.Event, clientPrefix) {
			c.clientEvent(e)
			return
		}
		c.sendError(0, "Unsupported event received: "+truncate(e.Event, 60))
	}
}

// onClose leaves every channel and forgets the connection.
func (c *conn) onClose(code ws.StatusCode, reason string) {
	for len(c.channels) > 0 {
		c.leave(c.channels[len(c.channels)-1].name)
	}
	c.signout()
	c.d.countOut(c.app)
	c.d.stats.connections.Add(-1)
}
