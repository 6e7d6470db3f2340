package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchboard-rt/switchboard/bus"
)

// The link is the node's pub/sub connection: one on one Redis (or the
// Sentinel set's primary), one per primary on a Redis Cluster (a
// shardLink, see shards.go), up or down together. runLink owns it: it
// connects, subscribes every channel of local interest, reads until the
// connection fails, and starts again after a back-off. Subscribe and
// Unsubscribe write to the current connection (go-redis lets one goroutine
// write while another reads); the acknowledgements are read by runLink.

// subscribeBatch is the most channels one SUBSCRIBE names when the link
// re-subscribes everything.
const subscribeBatch = 512

// pubsub is the link's connection: a *goredis.PubSub on one server (or
// Sentinel's primary), a *shardLink on a Redis Cluster. Subscribe and
// Unsubscribe send without waiting for the acknowledgements, which the
// link's reader takes; Close makes the reader return.
type pubsub interface {
	Subscribe(ctx context.Context, channels ...string) error
	Unsubscribe(ctx context.Context, channels ...string) error
	Close() error
}

// runLink keeps the link up until Close.
func (b *Bus) runLink() {
	backoff := b.opts.ReconnectMin
	for b.ctx.Err() == nil {
		b.stats.attempts.Add(1)
		var ps pubsub
		var err error
		if b.cluster != nil {
			ps, err = b.connectShards()
		} else {
			ps, err = b.connect()
		}
		if err != nil {
			b.linkDown(err)
			// Full jitter keeps a restarted Redis from a thundering herd.
			if !b.sleep(backoff/2 + rand.N(backoff/2+1)) {
				return
			}
			backoff = min(2*backoff, b.opts.ReconnectMax)
			continue
		}
		backoff = b.opts.ReconnectMin
		b.stats.connects.Add(1)
		if sl, ok := ps.(*shardLink); ok {
			err = b.readShards(sl)
		} else {
			err = b.read(ps.(*goredis.PubSub), nil)
		}
		b.detach(ps)
		b.linkDown(err)
	}
}

// connect opens a pub/sub connection, subscribes this node's control
// channel and waits for the acknowledgement, then attaches the connection:
// every channel of local interest is subscribed on it, and a PING after
// them is awaited, so that when the link reports up every subscription is
// in effect.
func (b *Bus) connect() (*goredis.PubSub, error) {
	ctx, cancel := context.WithTimeout(b.ctx, b.opts.OpTimeout)
	defer cancel()
	ps := b.client.Subscribe(ctx) // no channel: nothing sent yet
	ctl := b.p + "ctl:" + b.id
	if err := ps.Subscribe(ctx, ctl); err != nil {
		_ = ps.Close()
		return nil, err
	}
	m, err := ps.ReceiveTimeout(ctx, b.opts.OpTimeout)
	if err != nil {
		_ = ps.Close()
		return nil, err
	}
	if s, ok := m.(*goredis.Subscription); !ok || s.Channel != ctl {
		_ = ps.Close()
		return nil, fmt.Errorf("redis: unexpected first pub/sub reply %v", m)
	}
	if err := b.attach(ctx, ps); err != nil {
		b.detach(ps)
		return nil, err
	}
	b.up()
	return ps, nil
}

// up marks the link up once every subscription is in effect. After a
// reconnection the node reaps no one for PresenceTTL: when Redis itself
// was away (a failover keeps the data, deadlines included), every live
// node gets that long to come back and renew its deadline before it can
// be taken for dead.
func (b *Bus) up() {
	if b.everUp.Swap(true) {
		b.reapAt.Store(time.Now().Add(b.opts.PresenceTTL).UnixNano())
	}
	b.synced.Store(false)
	b.linkGen.Add(1)
	b.linkUp.Store(true)
	b.kickHeartbeat() // write this node's state back, then report up
}

// attach makes ps the link, subscribes every channel of local interest on
// it and reads up to the reply of a PING sent after them.
func (b *Bus) attach(ctx context.Context, ps *goredis.PubSub) error {
	b.mu.Lock()
	if b.ctx.Err() != nil {
		b.mu.Unlock()
		return bus.ErrClosed
	}
	b.ps = ps // from here, Subscribe writes to ps and waits for its ack
	chans := make([]string, 0, len(b.subs))
	for c := range b.subs {
		chans = append(chans, b.mp+c)
	}
	for batch := range slices.Chunk(chans, subscribeBatch) {
		if err := ps.Subscribe(ctx, batch...); err != nil {
			b.mu.Unlock()
			return err
		}
		for _, rc := range batch {
			b.waiters[rc] = append(b.waiters[rc], nil) // an ack no one waits for
		}
	}
	b.mu.Unlock()
	return b.readToPong(ctx, ps, nil)
}

// readToPong sends PING on ps and reads up to its reply, taking the
// messages and acknowledgements before it. sl is the Redis Cluster link
// ps belongs to, nil on one server.
func (b *Bus) readToPong(ctx context.Context, ps *goredis.PubSub, sl *shardLink) error {
	if err := ps.Ping(ctx); err != nil {
		return err
	}
	for {
		m, err := ps.ReceiveTimeout(ctx, b.opts.OpTimeout)
		if err != nil {
			return err
		}
		switch m := m.(type) {
		case *goredis.Pong:
			return nil
		case *goredis.Message:
			b.dispatch(m)
		case *goredis.Subscription:
			if err := b.subscription(m, sl); err != nil {
				return err
			}
		}
	}
}

// subscription takes an acknowledgement, or on a Redis Cluster an
// unsubscription the node did not ask for: the slot moved (resharding or a
// failover), so the link starts again on the new slot map.
func (b *Bus) subscription(m *goredis.Subscription, sl *shardLink) error {
	switch m.Kind {
	case "subscribe", "ssubscribe":
		b.acked(m.Channel)
	case "sunsubscribe":
		if sl != nil && !sl.unsubscribed(m.Channel) {
			return fmt.Errorf("redis: the cluster unsubscribed %q: its slot moved", m.Channel)
		}
	}
	return nil
}

// read receives until the connection fails or the bus closes. A quiet
// connection is pinged every HeartbeatInterval; no reply within the next
// interval counts as a failure. sl is the Redis Cluster link ps belongs
// to, nil on one server.
func (b *Bus) read(ps *goredis.PubSub, sl *shardLink) error {
	pinged := false
	for {
		m, err := ps.ReceiveTimeout(b.ctx, b.opts.HeartbeatInterval)
		if err != nil {
			if b.ctx.Err() != nil {
				return bus.ErrClosed
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return err
			}
			if pinged {
				return errors.New("redis: no reply to PING on the pub/sub connection")
			}
			ctx, cancel := context.WithTimeout(b.ctx, b.opts.OpTimeout)
			err = ps.Ping(ctx)
			cancel()
			if err != nil {
				return err
			}
			pinged = true
			continue
		}
		pinged = false
		switch m := m.(type) {
		case *goredis.Message:
			b.dispatch(m)
		case *goredis.Subscription:
			if err := b.subscription(m, sl); err != nil {
				return err
			}
		}
	}
}

// detach forgets a failed connection and releases every Subscribe waiting
// on it: their channels are subscribed again on the next connection.
func (b *Bus) detach(ps pubsub) {
	b.mu.Lock()
	if b.ps == ps {
		b.ps = nil
	}
	b.linkUp.Store(false)
	b.linkGen.Add(1)
	for rc, ws := range b.waiters {
		for _, w := range ws {
			if w != nil {
				close(w)
			}
		}
		delete(b.waiters, rc)
	}
	b.mu.Unlock()
	_ = ps.Close()
}

// linkDown records a failed connection attempt or a lost connection.
func (b *Bus) linkDown(err error) {
	if b.ctx.Err() != nil {
		return
	}
	b.synced.Store(false)
	b.reportState(err)
}

// acked takes the acknowledgement of one SUBSCRIBE of rc. Redis answers
// the commands of one connection in order, so it belongs to the oldest
// SUBSCRIBE of rc still unanswered: the first entry of rc's waiters (nil
// when no one waits for it).
func (b *Bus) acked(rc string) {
	b.mu.Lock()
	ws := b.waiters[rc]
	if len(ws) == 0 {
		b.mu.Unlock()
		return
	}
	w := ws[0]
	if len(ws) == 1 {
		delete(b.waiters, rc)
	} else {
		b.waiters[rc] = ws[1:]
	}
	b.mu.Unlock()
	if w != nil {
		close(w)
	}
}

// Subscribe records local interest in channel and, while connected,
// subscribes it on Redis and waits for the acknowledgement (or ctx). While
// Redis is down it returns nil at once: the channel is subscribed when the
// connection is back, and until then it gets local publishes only.
func (b *Bus) Subscribe(ctx context.Context, channel string) error {
	if b.closed.Load() {
		return bus.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	rc := b.mp + channel
	w := make(chan struct{})
	b.mu.Lock()
	b.subs[channel] = struct{}{}
	ps := b.ps
	if ps != nil {
		b.waiters[rc] = append(b.waiters[rc], w)
	}
	b.mu.Unlock()
	if ps == nil {
		return nil
	}
	if err := ps.Subscribe(ctx, rc); err != nil {
		// Whether the command went out is unknown, and so is whether an
		// acknowledgement will come: start the connection again, which
		// subscribes every channel of local interest, this one too.
		_ = ps.Close()
		return ctx.Err()
	}
	select {
	case <-w:
		return nil
	case <-ctx.Done():
		b.dropWaiter(rc, w)
		return ctx.Err()
	case <-b.closing:
		return bus.ErrClosed
	}
}

// dropWaiter stops waiting for rc's acknowledgement: w's entry stays, as
// nil, for the acknowledgement still to come.
func (b *Bus) dropWaiter(rc string, w chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if i := slices.Index(b.waiters[rc], w); i >= 0 {
		b.waiters[rc][i] = nil
	}
}

// Unsubscribe forgets local interest in channel and, while connected,
// sends UNSUBSCRIBE without waiting for the acknowledgement: messages
// already on their way still arrive, and the hub drops them.
func (b *Bus) Unsubscribe(ctx context.Context, channel string) error {
	if b.closed.Load() {
		return bus.ErrClosed
	}
	b.mu.Lock()
	delete(b.subs, channel)
	ps := b.ps
	b.mu.Unlock()
	if ps != nil {
		_ = ps.Unsubscribe(ctx, b.mp+channel) // a broken link forgets it anyway
	}
	return nil
}

// subscribed returns the channels of local interest, sorted (for tests).
func (b *Bus) subscribed() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Sorted(maps.Keys(b.subs))
}

// clientLogs forwards go-redis's own log lines (dial failures, one per
// reconnect attempt) to slog.Default at debug level, so that an outage is
// logged once, by the bus.
type clientLogs struct{}

func (clientLogs) Printf(ctx context.Context, format string, v ...any) {
	if l := slog.Default(); l.Enabled(ctx, slog.LevelDebug) {
		l.Debug("redis client: " + fmt.Sprintf(format, v...))
	}
}

var silenceLogsOnce sync.Once

// silenceClientLogs installs clientLogs as go-redis's logger, once per
// process: go-redis has one global logger.
func silenceClientLogs() {
	silenceLogsOnce.Do(func() { goredis.SetLogger(clientLogs{}) })
}
