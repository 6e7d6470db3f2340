package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/gobwas/ws"
)

// Names the generator gives to what it subscribes to. A Pusher subscriber
// of channel c joins "bench-c"; a token-broker subscriber of channel c
// registers token "bc/i", so the group "bc/" reaches every one of them.
func pusherChannel(c int) string { return "bench-" + strconv.Itoa(c) }
func tokenGroup(c int) string    { return "b" + strconv.Itoa(c) + "/" }
func token(c, i int) string      { return tokenGroup(c) + strconv.Itoa(i) }

// Pusher frames the generator looks for, JSON-quoted so that a channel or
// payload that merely contains the words does not match.
var (
	pusherEstablished = []byte(`"pusher:connection_established"`)
	pusherSucceeded   = []byte(`"pusher_internal:subscription_succeeded"`)
	pusherPing        = []byte(`"pusher:ping"`)
	pusherErr         = []byte(`"pusher:error"`)
	pusherSubErr      = []byte(`"pusher:subscription_error"`)
	pusherPong        = []byte(`{"event":"pusher:pong","data":{}}`)
	tokensEcho        = []byte("Echo:sbm-ready")
	tokensEchoReply   = []byte(`"sbm-ready"`)
)

// open opens connection i: on channel c it subscribes (Pusher) or registers
// a token (token broker), and returns once the server confirmed it; on the
// echo protocol it only connects.
func (r *runner) open(ctx context.Context, i, c int) (*conn, error) {
	o := &r.o
	ctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	switch o.Protocol {
	case ProtocolPusher:
		cn, err := r.d.dial(ctx, o.wsURL("/app/"+url.PathEscape(o.AppKey)+"?protocol=7&client=js&version=8.6.0&flash=false"))
		if err != nil {
			return nil, err
		}
		deadline, _ := ctx.Deadline()
		if err := cn.pusherSubscribe(pusherChannel(c), deadline); err != nil {
			cn.close()
			return nil, err
		}
		return cn, nil
	case ProtocolTokens:
		cn, err := r.d.dial(ctx, o.wsURL("/ws?RegisterToken="+url.QueryEscape(token(c, i))))
		if err != nil {
			return nil, err
		}
		deadline, _ := ctx.Deadline()
		if err := cn.tokensReady(deadline); err != nil {
			cn.close()
			return nil, err
		}
		return cn, nil
	default:
		return r.d.dial(ctx, o.wsURL("/echo"))
	}
}

// pusherSubscribe waits for pusher:connection_established, subscribes to
// channel and waits for pusher_internal:subscription_succeeded.
func (c *conn) pusherSubscribe(channel string, deadline time.Time) error {
	if err := c.nc.SetReadDeadline(deadline); err != nil {
		return err
	}
	if err := c.pusherAwait(pusherEstablished); err != nil {
		return fmt.Errorf("waiting for pusher:connection_established: %w", err)
	}
	sub := `{"event":"pusher:subscribe","data":{"channel":` + strconv.Quote(channel) + `}}`
	if err := c.writeFrame(ws.OpText, []byte(sub)); err != nil {
		return fmt.Errorf("subscribe to %s: %w", channel, err)
	}
	if err := c.pusherAwait(pusherSucceeded); err != nil {
		return fmt.Errorf("subscribe to %s: %w", channel, err)
	}
	return c.nc.SetReadDeadline(time.Time{})
}

// tokensReady makes sure the server has registered the connection's token:
// the token broker sends no reply to a handshake, but it answers
// "Echo:<text>" only once the connection is set up, token included.
func (c *conn) tokensReady(deadline time.Time) error {
	if err := c.nc.SetReadDeadline(deadline); err != nil {
		return err
	}
	if err := c.writeFrame(ws.OpText, tokensEcho); err != nil {
		return fmt.Errorf("send Echo: %w", err)
	}
	for {
		_, p, err := c.readMessage()
		if err != nil {
			return fmt.Errorf("waiting for the answer to Echo: %w", err)
		}
		if bytes.Contains(p, tokensEchoReply) {
			return c.nc.SetReadDeadline(time.Time{})
		}
	}
}

// pusherAwait reads until a frame containing event arrives.
func (c *conn) pusherAwait(event []byte) error {
	for {
		_, p, err := c.readMessage()
		if err != nil {
			return err
		}
		if bytes.Contains(p, event) {
			return nil
		}
		if err := c.pusherControl(p); err != nil {
			return err
		}
	}
}

// pusherControl handles a Pusher frame that is not a benchmark message:
// pings are answered, errors returned.
func (c *conn) pusherControl(p []byte) error {
	switch {
	case bytes.Contains(p, pusherPing):
		return c.writeFrame(ws.OpText, pusherPong)
	case bytes.Contains(p, pusherErr), bytes.Contains(p, pusherSubErr):
		return fmt.Errorf("server sent %s", clip(p))
	}
	return nil
}

// clip returns a short printable excerpt of b for error messages.
func clip(b []byte) string {
	const n = 200
	if len(b) > n {
		return strconv.Quote(string(b[:n])) + "..."
	}
	return strconv.Quote(string(b))
}
