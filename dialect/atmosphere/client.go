package atmosphere

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/ws"
)

// This file is one logical client of the event-subscription API, whatever
// its transport: it reads actions, answers them and receives events. A
// WebSocket connection is one client; a long-polling session is another.

// outlet is a client's transport: where its messages go.
type outlet interface {
	// send queues a message that is ready for the wire (framed for
	// trackMessageLength when the client asked for it). It never blocks. It
	// returns ws.ErrQueueFull when the client is too slow (the transport
	// then ends it) and another error when it has ended.
	send(m *hub.Message) error
	// sendBurst queues the current data a subscribe sends at once. A
	// long-polling session lets such a burst exceed its queue bound, so
	// that a subscription to many trackers does not end it.
	sendBurst(ms []*hub.Message) error
	// close ends the transport with a WebSocket close code.
	close(code ws.StatusCode, reason string)
}

// client is one connection of the API. Its subscription state is guarded by
// mu, which is also held while it writes, so that frames go out in the order
// the protocol needs (a response before the events it causes).
//
// Lock order: client.mu, then the hub's locks, auth.mu, the batcher's mu
// and a long-polling session's mu. Nothing holding one of those takes a
// client.mu.
type client struct {
	d         *Dialect
	id        hub.SubscriberID
	out       outlet
	trackSize bool
	heartbeat time.Duration // server-to-client heartbeat period; 0 for none
	idleLimit time.Duration // close a silent WebSocket after this; 0 for never
	lastIn    atomic.Int64  // unix nanoseconds of the last thing received
	lastOut   atomic.Int64  // unix nanoseconds of the last thing sent
	// subscribed is set once a subscribe action has succeeded: a
	// long-polling session that never subscribes expires sooner.
	subscribed atomic.Bool

	mu     sync.Mutex
	closed bool
	rate   bucket
	subs   *subState // nil until the first subscribe
}

func (d *Dialect) newClient(out outlet, p params) *client {
	c := &client{d: d, id: d.hub.NewID(), out: out, trackSize: p.trackSize,
		heartbeat: p.heartbeatPeriod(d.cfg.Heartbeat.Std())}
	now := d.now().UnixNano()
	c.lastIn.Store(now)
	c.lastOut.Store(now)
	return c
}

// sendLocked sends a ready message. c.mu is held.
func (c *client) sendLocked(m *hub.Message) error {
	c.lastOut.Store(c.d.now().UnixNano())
	return c.out.send(m)
}

// sendOwnLocked sends a message meant for this client only.
func (c *client) sendOwnLocked(payload []byte) error {
	return c.sendLocked(hub.NewMessage(frame(payload, c.trackSize)))
}

// handle processes one message from the client: the heartbeat, or an
// action. Every action gets exactly one response or error frame, and
// application errors never end the connection.
func (c *client) handle(msg []byte) {
	now := c.d.now()
	c.lastIn.Store(now.UnixNano())
	if len(msg) <= 8 && string(bytes.TrimSpace(msg)) == heartbeatPadding {
		return
	}
	a, name, ok := c.admit(msg, now)
	if !ok {
		return
	}
	// The session may be looked up in the shared store, so not under c.mu,
	// which deliveries to this client take.
	s := c.d.session(a.hash, now)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if s == nil {
		c.errorLocked(name, apiErr(CodeSessionNotFound, a.errData()))
		return
	}
	if a.invalid != nil {
		c.errorLocked(name, a.invalid)
		return
	}
	if a.name == actionSubscribe {
		c.subscribeLocked(a, s, now)
	} else {
		c.unsubscribeLocked(a, s)
	}
}

// admit checks an action's size, the client's rate limit and the action's
// format, answering what fails; ok is false when the action stops there.
func (c *client) admit(msg []byte, now time.Time) (a *action, name string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, "", false
	}
	if len(msg) > c.d.cfg.MaxRequestSize {
		c.errorLocked("", apiErr(CodeTooLarge, nil))
		return nil, "", false
	}
	if !c.rate.allow(now, c.d.cfg.MaxActionsPerSecond, time.Second) {
		c.errorLocked("", apiErr(CodeTooManyRequests, nil))
		return nil, "", false
	}
	a, name, e := parseAction(msg)
	if e != nil {
		c.errorLocked(name, e)
		return nil, "", false
	}
	return a, name, true
}

func (c *client) errorLocked(action string, e *Error) {
	_ = c.sendOwnLocked(errorFrame(action, e))
}

// endSession tells c that s ended: if c has subscriptions made with s, it
// gets the logout event and they are dropped; the connection stays.
func (c *client) endSession(s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.subs == nil || c.subs.owners[s] == 0 {
		return
	}
	_ = c.sendOwnLocked(logoutEvent)
	c.dropLocked(func(owner *session, _ int64) bool { return owner == s })
}

// revoke drops c's subscriptions to ids made with s, whose user lost those
// trackers.
func (c *client) revoke(s *session, ids []int64) {
	gone := idSet(ids)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.subs == nil {
		return
	}
	c.dropLocked(func(owner *session, id int64) bool {
		_, g := gone[id]
		return owner == s && g
	})
}

// dropAll ends every subscription of c, for the client's close notice.
func (c *client) dropAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed && c.subs != nil {
		c.dropLocked(func(*session, int64) bool { return true })
	}
}

// close ends c: its subscriptions are dropped and nothing more is sent. It
// is called once its transport has ended.
func (c *client) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	subs := c.subs
	c.subs = nil
	c.mu.Unlock()
	if subs == nil {
		return
	}
	for key := range subs.chans {
		c.d.hub.Unsubscribe(channelName(key.kind, key.id), c.id)
	}
	for s := range subs.owners {
		c.d.auth.unregister(s, c)
	}
}

// keepAlive applies the WebSocket keep-alive rules at now: it closes a
// client silent for longer than it may be (1001, "no heartbeat") and sends
// the heartbeat to one the server has sent nothing for its period. It is
// the connection's ws OnTick hook (accept), run by the ws server's sweeper.
func (c *client) keepAlive(now time.Time) {
	if c.idle(now) {
		c.out.close(ws.StatusGoingAway, "no heartbeat")
		return
	}
	c.heartbeatDue(now)
}

// heartbeatDue sends the heartbeat if c has sent nothing for its period.
func (c *client) heartbeatDue(now time.Time) {
	if c.heartbeat <= 0 || now.Sub(time.Unix(0, c.lastOut.Load())) < c.heartbeat {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		_ = c.sendOwnLocked([]byte(heartbeatPadding))
	}
}

// idle reports whether c has been silent for longer than it may be.
func (c *client) idle(now time.Time) bool {
	return c.idleLimit > 0 && now.Sub(time.Unix(0, c.lastIn.Load())) >= c.idleLimit
}

// subscribeHub subscribes c to channel with sub.
func (c *client) subscribeHub(channel string, sub hub.Subscriber) error {
	ctx, cancel := context.WithTimeout(context.Background(), hubTimeout)
	defer cancel()
	_, err := c.d.hub.Subscribe(ctx, channel, c.id, sub)
	return err
}

// hubTimeout bounds a hub subscription, which may wait for the bus.
const hubTimeout = 5 * time.Second
