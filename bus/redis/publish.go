package redis

import (
	"context"
	"time"

	"github.com/switchboard-rt/switchboard/bus"
)

// writeBatch is the most publishes sent to Redis in one pipeline.
const writeBatch = 256

// Publish queues msg for the other nodes, then hands it to this node's
// Handler on the calling goroutine, and returns when the Handler has
// returned. It waits for room in the queue (Options.PublishQueue) and
// returns ctx's error if ctx ends first, or bus.ErrClosed; then msg was
// delivered nowhere. While Redis is down, msg is delivered locally only and
// counted in Stats.Dropped.
func (b *Bus) Publish(ctx context.Context, msg bus.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.closed.Load() {
		return bus.ErrClosed
	}
	h := b.handler.Load()
	if h == nil {
		return bus.ErrNotStarted
	}
	if b.linkUp.Load() {
		select {
		case b.pubq <- msg:
		default:
			select {
			case b.pubq <- msg:
			case <-ctx.Done():
				return ctx.Err()
			case <-b.closing:
				return bus.ErrClosed
			}
		}
	} else {
		b.stats.dropped.Add(1)
	}
	(*h)(msg)
	return nil
}

// runWriter sends the queued publishes to Redis, in order, as pipelines of
// up to writeBatch, until Close; then it sends what is left, if Redis is
// up, for at most closeFlushTimeout. One goroutine, and each pipeline
// finished before the next starts: so Redis gets the publishes of this
// node in queue order, which is publish order.
func (b *Bus) runWriter() {
	batch := make([]bus.Message, 0, writeBatch)
	var deadline time.Time // set once closing
	for {
		select {
		case m := <-b.pubq:
			batch = append(batch, m)
		case <-b.closing:
			if deadline.IsZero() {
				deadline = time.Now().Add(closeFlushTimeout)
			}
			select {
			case m := <-b.pubq:
				batch = append(batch, m)
			default:
				return // drained
			}
		}
	fill:
		for len(batch) < writeBatch {
			select {
			case m := <-b.pubq:
				batch = append(batch, m)
			default:
				break fill
			}
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			b.stats.dropped.Add(uint64(len(batch)))
		} else {
			b.send(batch)
		}
		clear(batch)
		batch = batch[:0]
	}
}

// send publishes batch to Redis in one pipeline; what cannot be sent is
// dropped and counted.
func (b *Bus) send(batch []bus.Message) {
	if !b.linkUp.Load() {
		b.stats.dropped.Add(uint64(len(batch)))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.opts.OpTimeout)
	defer cancel()
	pipe := b.client.Pipeline()
	for _, m := range batch {
		if b.cluster != nil {
			pipe.SPublish(ctx, b.mp+m.Channel, encodeEnvelope(b.id, m)) // to the channel's shard only
		} else {
			pipe.Publish(ctx, b.mp+m.Channel, encodeEnvelope(b.id, m))
		}
	}
	cmds, err := pipe.Exec(ctx)
	if err == nil {
		b.stats.published.Add(uint64(len(batch)))
		return
	}
	var sent uint64
	for _, c := range cmds {
		if c.Err() == nil {
			sent++
		}
	}
	b.stats.published.Add(sent)
	b.stats.dropped.Add(uint64(len(batch)) - sent)
}
