package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"sync"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchboard-rt/switchboard/bus"
)

// On a Redis Cluster the link is a shardLink: one pub/sub connection per
// primary, on which the channels of that primary's slots are subscribed
// with SSUBSCRIBE (a hub channel's Redis channel lives on the shard that
// owns its slot, and SPUBLISH sends it there only). connectShards reads
// the slot map (CLUSTER SHARDS), opens a connection to each primary,
// subscribes every channel of local interest on its shard and waits, as on
// one server, for a PING sent after them. readShards runs one reader per
// primary; the first to fail (a primary died, or the cluster unsubscribed a
// channel because its slot moved) ends the link, and runLink starts it
// again on the new slot map: so a failover or a resharding costs what an
// outage costs, for at most the time the cluster takes to settle.

// shardLink is the link on a Redis Cluster.
type shardLink struct {
	shards []*shard
	ranges []slotRange // sorted by first slot; the whole 0..16383

	mu    sync.Mutex
	unsub map[string]int // Redis channel -> SUNSUBSCRIBEs sent and not yet acknowledged

	closeOnce sync.Once
}

// shard is one primary's pub/sub connection.
type shard struct {
	addr   string
	client *goredis.Client
	ps     *goredis.PubSub
}

// slotRange is a range of slots and the shard that serves it.
type slotRange struct {
	first, last int
	shard       *shard
}

var _ pubsub = (*shardLink)(nil)

// errSlotUnserved is the error of a channel whose slot no known primary
// serves: the slot map changed, and the link starts again.
var errSlotUnserved = errors.New("redis: no primary serves the channel's slot")

// connectShards opens the link on a Redis Cluster, as connect does on one
// server.
func (b *Bus) connectShards() (*shardLink, error) {
	ctx, cancel := context.WithTimeout(b.ctx, b.opts.OpTimeout)
	defer cancel()
	// The client's own slot map, used by SPUBLISH and the scripts, is
	// reloaded in the background: a failover was likely the reason to be
	// here.
	b.cluster.ReloadState(ctx)
	shards, err := b.cluster.ClusterShards(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: cluster shards: %w", err)
	}
	sl, err := newShardLink(shards, b.url.TLS, func(addr string) *goredis.Client {
		return goredis.NewClient(b.opts.shardOptions(b.url, addr))
	})
	if err != nil {
		return nil, err
	}
	if err := b.attachShards(ctx, sl); err != nil {
		b.detach(sl)
		return nil, err
	}
	b.up()
	return sl, nil
}

// newShardLink makes the shards of a slot map (CLUSTER SHARDS), one per
// healthy primary, without connecting: each connects on its first
// command. With tls, a node's TLS port is dialled.
func newShardLink(shards []goredis.ClusterShard, tls bool, newClient func(addr string) *goredis.Client) (*shardLink, error) {
	sl := &shardLink{unsub: make(map[string]int)}
	for _, s := range shards {
		addr := primaryAddr(s.Nodes, tls)
		if addr == "" {
			continue // no healthy primary: the coverage check below fails
		}
		c := newClient(addr)
		sh := &shard{addr: addr, client: c, ps: c.Subscribe(context.Background())} // no channel: nothing sent yet
		sl.shards = append(sl.shards, sh)
		for _, r := range s.Slots {
			sl.ranges = append(sl.ranges, slotRange{int(r.Start), int(r.End), sh})
		}
	}
	sort.Slice(sl.ranges, func(i, j int) bool { return sl.ranges[i].first < sl.ranges[j].first })
	next := 0
	for _, r := range sl.ranges {
		if r.first != next {
			break
		}
		next = r.last + 1
	}
	if next != slotCount {
		_ = sl.Close()
		return nil, fmt.Errorf("redis: the cluster serves slots 0 to %d only; waiting for it to cover all %d", next-1, slotCount)
	}
	return sl, nil
}

// attachShards makes sl the link, subscribes every channel of local
// interest on its shard, and reads every shard up to the reply of a PING
// sent after them.
func (b *Bus) attachShards(ctx context.Context, sl *shardLink) error {
	b.mu.Lock()
	if b.ctx.Err() != nil {
		b.mu.Unlock()
		return bus.ErrClosed
	}
	b.ps = sl
	chans := make([]string, 0, len(b.subs))
	for c := range b.subs {
		chans = append(chans, b.mp+c)
	}
	if err := sl.Subscribe(ctx, chans...); err != nil {
		b.mu.Unlock()
		return err
	}
	for _, rc := range chans {
		b.waiters[rc] = append(b.waiters[rc], nil) // an ack no one waits for
	}
	b.mu.Unlock()
	for _, sh := range sl.shards {
		if err := b.readToPong(ctx, sh.ps, sl); err != nil {
			return fmt.Errorf("redis: primary %s: %w", sh.addr, err)
		}
	}
	return nil
}

// readShards reads every shard until one fails or the bus closes; then it
// closes them all and returns the first error.
func (b *Bus) readShards(sl *shardLink) error {
	errs := make(chan error, len(sl.shards))
	var wg sync.WaitGroup
	for _, sh := range sl.shards {
		wg.Go(func() {
			err := b.read(sh.ps, sl)
			if !errors.Is(err, bus.ErrClosed) {
				err = fmt.Errorf("primary %s: %w", sh.addr, err)
			}
			errs <- err
		})
	}
	err := <-errs
	_ = sl.Close()
	wg.Wait()
	return err
}

// primaryAddr returns the address of the healthy primary among nodes, or
// "".
func primaryAddr(nodes []goredis.Node, tls bool) string {
	for _, n := range nodes {
		if n.Role != "master" || n.Health != "online" {
			continue
		}
		host := n.Endpoint
		if host == "" || host == "?" {
			host = n.IP
		}
		port := n.Port
		if tls && n.TLSPort != 0 {
			port = n.TLSPort
		}
		if host == "" || port == 0 {
			return ""
		}
		return net.JoinHostPort(host, strconv.FormatInt(port, 10))
	}
	return ""
}

// shardOf returns the shard serving slot, or nil.
func (sl *shardLink) shardOf(slot int) *shard {
	i := sort.Search(len(sl.ranges), func(i int) bool { return sl.ranges[i].last >= slot })
	if i == len(sl.ranges) || sl.ranges[i].first > slot {
		return nil
	}
	return sl.ranges[i].shard
}

// bySlot groups channels by slot, in the order of their first appearance:
// one SSUBSCRIBE names channels of one slot only.
func bySlot(channels []string) [][]string {
	index := make(map[int]int)
	var out [][]string
	for _, c := range channels {
		s := keySlot(c)
		i, ok := index[s]
		if !ok {
			i = len(out)
			index[s] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], c)
	}
	return out
}

// Subscribe sends SSUBSCRIBE for channels to their shards.
func (sl *shardLink) Subscribe(ctx context.Context, channels ...string) error {
	for _, group := range bySlot(channels) {
		sh := sl.shardOf(keySlot(group[0]))
		if sh == nil {
			return errSlotUnserved
		}
		for batch := range slices.Chunk(group, subscribeBatch) {
			if err := sh.ps.SSubscribe(ctx, batch...); err != nil {
				return err
			}
		}
	}
	return nil
}

// Unsubscribe sends SUNSUBSCRIBE for channels to their shards, and
// remembers them, so that the acknowledgements are not taken for a slot
// that moved.
func (sl *shardLink) Unsubscribe(ctx context.Context, channels ...string) error {
	for _, group := range bySlot(channels) {
		sh := sl.shardOf(keySlot(group[0]))
		if sh == nil {
			return errSlotUnserved
		}
		sl.mu.Lock()
		for _, c := range group {
			sl.unsub[c]++
		}
		sl.mu.Unlock()
		if err := sh.ps.SUnsubscribe(ctx, group...); err != nil {
			return err
		}
	}
	return nil
}

// unsubscribed takes the acknowledgement of a SUNSUBSCRIBE of rc; false
// means the node sent none: the cluster unsubscribed rc itself.
func (sl *shardLink) unsubscribed(rc string) bool {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	n := sl.unsub[rc]
	switch {
	case n == 0:
		return false
	case n == 1:
		delete(sl.unsub, rc)
	default:
		sl.unsub[rc] = n - 1
	}
	return true
}

// Close closes every shard's connection and client; the readers return.
func (sl *shardLink) Close() error {
	sl.closeOnce.Do(func() {
		for _, sh := range sl.shards {
			_ = sh.ps.Close()
			_ = sh.client.Close()
		}
	})
	return nil
}
