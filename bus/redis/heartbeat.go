package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/internal/redisurl"
)

// runHeartbeat beats every HeartbeatInterval, and at once when the link
// comes up, until Close starts (so that no beat renews the deadline Close
// sets to now).
func (b *Bus) runHeartbeat() {
	t := time.NewTicker(b.opts.HeartbeatInterval)
	defer t.Stop()
	var pr prober
	for {
		select {
		case <-t.C:
			if b.url.Kind == redisurl.Sentinel {
				b.probe(&pr)
			}
		case <-b.kick:
		case <-b.closing:
			return
		}
		b.beat()
		b.stats.beats.Add(1)
	}
}

// prober is the heartbeat goroutine's state of probe.
type prober struct {
	gen    uint64 // linkGen when the last probe was published
	missed int    // probes in a row not heard by the next tick
}

// probe checks, on Sentinel, that the link hears the primary. A failover
// that leaves the former primary running (SENTINEL FAILOVER, a partition)
// moves the client's commands to the new primary at once, but may leave
// the pub/sub connection on the former one, which hears nothing published
// on the new one until the sentinels reconfigure it, up to seconds later.
// So each tick publishes a number on this node's control channel through
// the client, and when two in a row have not been heard by the next tick
// on the same link, the link is closed and reconnects to the primary the
// sentinels name: within three heartbeats of the switch.
func (b *Bus) probe(pr *prober) {
	gen := b.linkGen.Load()
	if !b.linkUp.Load() {
		pr.missed = 0
		return
	}
	if sent := b.probeSent.Load(); sent != 0 && pr.gen == gen && b.probeHeard.Load() < sent {
		pr.missed++
	} else {
		pr.missed = 0
	}
	if pr.missed >= 2 {
		pr.missed = 0
		b.log.Warn("redis: the pub/sub connection does not hear the primary (a failover?); reconnecting", "node", b.id)
		b.mu.Lock()
		if b.ps != nil {
			_ = b.ps.Close() // runLink reconnects
		}
		b.mu.Unlock()
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, b.opts.OpTimeout)
	defer cancel()
	n := b.probeSent.Load() + 1
	if err := b.client.Publish(ctx, b.p+"ctl:"+b.id, strconv.FormatUint(n, 10)).Err(); err == nil {
		b.probeSent.Store(n)
		pr.gen = gen
	}
}

// beat renews this node's deadline, writes its state back when Redis may
// have lost or missed it, and reaps dead nodes. It reports the overall
// state: up only after a beat succeeded on a live link.
func (b *Bus) beat() {
	gen := b.linkGen.Load()
	if !b.linkUp.Load() {
		b.synced.Store(false)
		return // runLink reported it
	}
	ctx, cancel := context.WithTimeout(b.ctx, b.opts.OpTimeout)
	defer cancel()
	err := b.renew(ctx)
	// Reaping waits one interval after Start, so that the dialects have
	// registered their hub.OnMemberChange hooks before this node reports
	// a dead node's members (meanwhile the other nodes reap), and
	// PresenceTTL after a reconnection (see up).
	if err == nil && time.Since(b.startedAt) >= b.opts.HeartbeatInterval && time.Now().UnixNano() >= b.reapAt.Load() {
		err = b.reap(ctx)
		if err == nil {
			err = b.edges.sweep(ctx)
		}
	}
	if err != nil && b.cluster != nil {
		b.cluster.ReloadState(b.ctx) // perhaps a primary failed over: learn the new slot map
	}
	if b.ctx.Err() != nil || b.linkGen.Load() != gen {
		return // closed, or the link changed meanwhile: the next beat reports
	}
	b.synced.Store(err == nil)
	b.reportState(err)
}

// renew writes this node's deadline and, when the node was not listed
// (its first beat, or it was reaped while cut off), when the last beat
// failed, or when a write of its state failed meanwhile, writes all of its
// presence entries and counts back. Users whose presence that changes are
// reported to the hub.
func (b *Bus) renew(ctx context.Context) error {
	res, err := scriptHeartbeat.Run(ctx, b.client, b.keys, b.p, b.id, b.opts.PresenceTTL.Milliseconds()).Int64Slice()
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	if len(res) != 2 {
		return fmt.Errorf("heartbeat: unexpected reply %v", res)
	}
	fresh := res[0] == 1
	if !fresh && b.synced.Load() && !b.presence.dirty.Load() && !b.counts.dirty.Load() && !b.edges.dirty.Load() {
		return nil
	}
	changes, err := b.presence.resync(ctx)
	if err != nil {
		return fmt.Errorf("write presence back: %w", err)
	}
	if err := b.counts.resync(ctx); err != nil {
		return fmt.Errorf("write counts back: %w", err)
	}
	flips, err := b.edges.resync(ctx)
	if err != nil {
		return fmt.Errorf("write edge holdings back: %w", err)
	}
	b.stats.resyncs.Add(1)
	b.presence.report(changes)
	b.edges.report(flips)
	return nil
}

// reap removes the nodes whose deadline passed. The reap script lets one
// caller only take each dead node, so each departure is reported by one
// node of the cluster.
func (b *Bus) reap(ctx context.Context) error {
	dead, err := scriptDeadNodes.Run(ctx, b.client, b.keys, b.p).StringSlice()
	if err != nil {
		return fmt.Errorf("list dead nodes: %w", err)
	}
	for _, node := range dead {
		if node == b.id {
			continue // our own deadline passed while we were cut off: renew rewrites it
		}
		flat, err := scriptReap.Run(ctx, b.client, b.keys, b.p, node).StringSlice()
		if err != nil {
			return fmt.Errorf("reap node %s: %w", node, err)
		}
		if len(flat) == 0 || flat[0] != "1" {
			continue // alive again, or another node took it
		}
		b.stats.reapedNodes.Add(1)
		changes := make([]bus.MemberChange, 0, len(flat)/2)
		for i := 1; i+1 < len(flat); i += 2 {
			changes = append(changes, bus.MemberChange{Channel: flat[i], UserID: flat[i+1]})
		}
		b.stats.reapedMembers.Add(uint64(len(changes)))
		b.log.Info("redis: reaped a dead node", "node", b.id, "dead", node, "members_removed", len(changes))
		b.presence.report(changes)
	}
	return nil
}
