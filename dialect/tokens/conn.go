package tokens

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/ws"
)

// hubTimeout bounds one hub call made for a connection (a subscribe or a
// publish), which only waits when a bus to other nodes is slow.
const hubTimeout = 5 * time.Second

// Error replies, sent as JSON strings like every frame (see Encode).
const (
	errUnregistered   = "error. unregistered token"
	errUnknownService = "error. unknown service message: send recipients|payload, RegisterToken:<token> or Echo:<text>"
	errTooMany        = "error. too many recipients: at most 1000 per message"
	errNoRecipients   = "error. no recipients: send recipients|payload, e.g. abc1,group/|Hello"
	errInternal       = "error. internal error, try again"
)

// client is one connection and the token it holds. It is the hub
// Subscriber of every channel of its token.
type client struct {
	conn  *ws.Conn
	id    hub.SubscriberID
	token atomic.Pointer[string] // changed only by the connection's hooks
}

// Deliver queues a routed message; see hub.Subscriber.
func (c *client) Deliver(m *hub.Message) error { return c.conn.SendPrepared(m.Frame()) }

// channelsOf returns the hub channels a holder of token subscribes to.
func channelsOf(token string) []string {
	groups := groupsOf(token)
	out := make([]string, 0, 1+len(groups))
	out = append(out, TokenChannelPrefix+token)
	for _, g := range groups {
		out = append(out, GroupChannelPrefix+g)
	}
	return out
}

// accept sets up a connection admitted by serveWS.
func (d *Dialect) accept(conn *ws.Conn) {
	c := &client{conn: conn, id: d.hub.NewID()}
	token := handshakeToken(conn.Request())
	if err := d.subscribe(c.id, c, channelsOf(token), nil); err != nil {
		d.log.Error("subscribe failed; closing the connection", "remote", conn.RemoteAddr().String(), "err", err)
		_ = conn.Close(ws.StatusInternalError, "internal error")
		return
	}
	c.token.Store(&token)
	d.mu.Lock()
	d.conns[c] = struct{}{}
	d.mu.Unlock()
	conn.OnMessage(func(t ws.MessageType, data []byte) { d.receive(c, t, data) })
	conn.OnClose(func(ws.StatusCode, string) { d.leave(c) })
}

// subscribe subscribes s, as id, to channels not in skip, undoing them all
// on an error.
func (d *Dialect) subscribe(id hub.SubscriberID, s hub.Subscriber, channels, skip []string) error {
	ctx, cancel := context.WithTimeout(d.ctx, hubTimeout)
	defer cancel()
	for i, ch := range channels {
		if slices.Contains(skip, ch) {
			continue
		}
		if _, err := d.hub.Subscribe(ctx, ch, id, s); err != nil {
			d.unsubscribe(id, channels[:i], skip)
			return err
		}
	}
	return nil
}

// unsubscribe unsubscribes id from channels not in keep.
func (d *Dialect) unsubscribe(id hub.SubscriberID, channels, keep []string) {
	for _, ch := range channels {
		if !slices.Contains(keep, ch) {
			d.hub.Unsubscribe(ch, id)
		}
	}
}

// leave forgets a closed connection.
func (d *Dialect) leave(c *client) {
	d.mu.Lock()
	delete(d.conns, c)
	d.mu.Unlock()
	d.unsubscribe(c.id, channelsOf(*c.token.Load()), nil)
}

// receive handles one client frame.
func (d *Dialect) receive(c *client, t ws.MessageType, data []byte) {
	if t == ws.Binary && !utf8.Valid(data) {
		// Binary frames are read as text, as the original broker did.
		_ = c.conn.Close(ws.StatusInvalidFramePayload, "invalid UTF-8")
		return
	}
	m := ParseMessage(string(data))
	switch m.Kind {
	case KindRegisterToken:
		d.changeToken(c, m.Payload)
	case KindEcho:
		d.reply(c, m.Payload)
	case KindRoute:
		r := ParseRecipients(m.Recipients)
		if r.Len() == 0 {
			d.reply(c, errNoRecipients)
			return
		}
		if r.Len() > MaxRecipients {
			d.reply(c, errTooMany)
			return
		}
		ctx, cancel := context.WithTimeout(d.ctx, hubTimeout)
		defer cancel()
		if err := d.route(ctx, r, m.Payload); err != nil && d.ctx.Err() == nil {
			d.log.Warn("route failed", "remote", c.conn.RemoteAddr().String(), "err", err)
			d.reply(c, errInternal)
		}
	default:
		d.reply(c, errUnknownService)
	}
}

// changeToken makes c hold token, or replies with an error and keeps the
// old one.
func (d *Dialect) changeToken(c *client, token string) {
	if p := tokenProblem(token); p != "" {
		d.reply(c, "error. "+p)
		return
	}
	if !d.admits(token) {
		d.reply(c, errUnregistered)
		return
	}
	old := *c.token.Load()
	if old == token {
		return
	}
	oldChans, newChans := channelsOf(old), channelsOf(token)
	if err := d.subscribe(c.id, c, newChans, oldChans); err != nil {
		d.log.Warn("subscribe failed; the connection keeps its token", "remote", c.conn.RemoteAddr().String(), "err", err)
		d.reply(c, errInternal)
		return
	}
	c.token.Store(&token)
	d.unsubscribe(c.id, oldChans, newChans)
}

// reply sends text to c alone.
func (d *Dialect) reply(c *client, text string) {
	// An error means the connection is closing: nothing more to do.
	_ = c.conn.Send(ws.Text, Encode(text))
}

// route publishes payload, encoded once, to every recipient's channel. The
// recipients are reduced (ParseRecipients), so no connection gets it twice.
func (d *Dialect) route(ctx context.Context, r Recipients, payload string) error {
	if r.Len() == 0 {
		return nil
	}
	b := Encode(payload)
	for _, t := range r.Tokens {
		if err := d.hub.Publish(ctx, TokenChannelPrefix+t, b, hub.NoID); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	for _, g := range r.Groups {
		if err := d.hub.Publish(ctx, GroupChannelPrefix+g, b, hub.NoID); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	return nil
}
