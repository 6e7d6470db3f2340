package redis

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchboard-rt/switchboard/bus"
)

// Node is one live node of the cluster as Redis knows it.
type Node struct {
	// ID is the node's id (Bus.NodeID of that node).
	ID string
	// LastHeartbeat is when the node last renewed its deadline, by the
	// Redis clock, assuming it has this node's PresenceTTL.
	LastHeartbeat time.Time
	// HeartbeatAge is how long ago that was, by the Redis clock.
	HeartbeatAge time.Duration
	// Connections is the node's open connections under each key of
	// bus.SpaceConnections (such as "pusher/{app_id}"); dialects that do
	// not count connections there are not in it.
	Connections map[string]int
	// Subscriptions is the node's subscriptions, all channels together.
	Subscriptions int
}

// Nodes returns the nodes listed in Redis, this one included once it has
// beaten, sorted by id: each with its last heartbeat and the counts it
// wrote. A node that died stays listed until it is reaped, at most
// PresenceTTL plus one HeartbeatInterval after its last beat.
func (b *Bus) Nodes(ctx context.Context) ([]Node, error) {
	zs, err := b.client.ZRangeWithScores(ctx, b.p+"nodes", 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: list nodes: %w", err)
	}
	now, err := b.client.Time(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: read the clock: %w", err)
	}
	pipe := b.client.Pipeline()
	conns := make([]*goredis.MapStringStringCmd, len(zs))
	subs := make([]*goredis.StringSliceCmd, len(zs))
	for i, z := range zs {
		id, _ := z.Member.(string)
		conns[i] = pipe.HGetAll(ctx, b.p+"n:"+id+":c:"+bus.SpaceConnections)
		subs[i] = pipe.HVals(ctx, b.p+"n:"+id+":c:"+bus.SpaceSubscriptions)
	}
	if _, err := pipe.Exec(ctx); err != nil && err != goredis.Nil {
		return nil, fmt.Errorf("redis: read the nodes' counts: %w", err)
	}
	out := make([]Node, 0, len(zs))
	for i, z := range zs {
		id, _ := z.Member.(string)
		beat := time.UnixMilli(int64(z.Score)).Add(-b.opts.PresenceTTL)
		n := Node{ID: id, LastHeartbeat: beat, HeartbeatAge: max(now.Sub(beat), 0), Connections: map[string]int{}}
		for k, v := range conns[i].Val() {
			if c, err := strconv.Atoi(v); err == nil && c > 0 {
				n.Connections[k] = c
			}
		}
		for _, v := range subs[i].Val() {
			if c, err := strconv.Atoi(v); err == nil && c > 0 {
				n.Subscriptions += c
			}
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// NodeCounts returns node's own counts in space (such as
// bus.SpaceSubscriptions: its subscriptions per channel) for the keys that
// start with prefix, sorted by key: one node's share of what Counts.List
// sums over the cluster.
func (b *Bus) NodeCounts(ctx context.Context, node, space, prefix string) ([]bus.KeyCount, error) {
	key := b.p + "n:" + node + ":c:" + space
	var out []bus.KeyCount
	iter := b.client.HScan(ctx, key, 0, globEscape(prefix)+"*", 1000).Iterator()
	for iter.Next(ctx) {
		field := iter.Val()
		if !iter.Next(ctx) {
			break
		}
		if c, err := strconv.Atoi(iter.Val()); err == nil && c > 0 {
			out = append(out, bus.KeyCount{Key: field, Count: c})
		}
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("redis: counts of node %s: %w", node, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// globEscape escapes the characters Redis's MATCH patterns treat specially.
func globEscape(s string) string {
	var out []byte
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\', '^', '-':
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}
