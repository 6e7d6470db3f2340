package redis

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/switchboard-rt/switchboard/bus"
)

// Presence is the bus.PresenceStore shared by the nodes of a cluster. Each
// connection's entry is written to Redis with the node's id, and Lua
// scripts decide atomically whether a user joined (its first connection
// on any node) or left (its last), so member_added and member_removed are
// announced once per user across the cluster.
//
// Presence also keeps this node's own entries in memory. While Redis is
// down, Add and Remove decide from them alone (a user joined if this node
// had no other connection of the user) and Members lists this node's
// members only; when Redis is back, the heartbeat writes the entries back
// and reports, through Watch, the users whose presence that changed for the
// cluster. A dead node's entries are reaped by a survivor and reported the
// same way. Add, Remove and Members never fail for want of Redis.
type Presence struct {
	b *Bus

	// sync is held for reading by Add and Remove, from their local change
	// to their Redis write, and for writing by resync, so that a resync's
	// snapshot and its write see the same entries.
	sync  sync.RWMutex
	mu    sync.Mutex                                // guards local
	local map[string]map[bus.SubscriberID]localUser // channel -> conn -> user
	dirty atomic.Bool                               // a write failed or was skipped: resync
	watch atomic.Pointer[func([]bus.MemberChange)]
}

type localUser struct {
	id   string
	info json.RawMessage
}

func newPresence(b *Bus) *Presence {
	return &Presence{b: b, local: make(map[string]map[bus.SubscriberID]localUser)}
}

// Watch registers f to receive the member changes found by reaping dead
// nodes and by writing this node's entries back; see bus.PresenceWatcher.
func (p *Presence) Watch(f func([]bus.MemberChange)) { p.watch.Store(&f) }

// report passes changes to the watcher, if any.
func (p *Presence) report(changes []bus.MemberChange) {
	if f := p.watch.Load(); f != nil && len(changes) > 0 {
		(*f)(changes)
	}
}

// Add records connection id of userID on channel; added reports that the
// user joined the cluster. See bus.PresenceStore.
func (p *Presence) Add(ctx context.Context, channel, userID string, info json.RawMessage, id bus.SubscriberID) (bool, error) {
	p.sync.RLock()
	defer p.sync.RUnlock()
	recorded, joinedHere := p.addLocal(channel, userID, info, id)
	if !recorded {
		return false, nil
	}
	if !p.b.linkUp.Load() {
		p.dirty.Store(true)
		return joinedHere, nil
	}
	n, err := scriptAdd.Run(ctx, p.b.client, p.b.keys, p.b.p, p.b.id, idString(id), channel, userID, string(info)).Int()
	if err != nil {
		p.failed()
		return joinedHere, nil
	}
	return n == 1, nil
}

// Remove forgets connection id of userID on channel; removed reports that
// the user left the cluster. See bus.PresenceStore.
func (p *Presence) Remove(ctx context.Context, channel, userID string, id bus.SubscriberID) (bool, error) {
	p.sync.RLock()
	defer p.sync.RUnlock()
	recorded, leftHere := p.removeLocal(channel, userID, id)
	if !recorded {
		return false, nil
	}
	if !p.b.linkUp.Load() {
		p.dirty.Store(true)
		return leftHere, nil
	}
	n, err := scriptRemove.Run(ctx, p.b.client, p.b.keys, p.b.p, p.b.id, idString(id), channel, userID).Int()
	if err != nil {
		p.failed()
		return leftHere, nil
	}
	return n == 1, nil
}

// failed marks the entries for a resync and asks for one now: if Redis is
// really gone, that heartbeat fails and the node reports not ready.
func (p *Presence) failed() {
	p.dirty.Store(true)
	p.b.stats.writeErrors.Add(1)
	p.b.kickHeartbeat()
}

// Members returns the users present on channel on any node, sorted by user
// id; while Redis is down, the users present through this node.
func (p *Presence) Members(ctx context.Context, channel string) ([]bus.Member, error) {
	if p.b.linkUp.Load() {
		m, err := p.b.client.HGetAll(ctx, p.b.p+"pm:"+channel).Result()
		if err == nil {
			out := make([]bus.Member, 0, len(m))
			for u, info := range m {
				out = append(out, bus.Member{UserID: u, Info: rawInfo(info)})
			}
			sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
			return out, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return p.localMembers(channel), nil
}

// addLocal records the entry in memory. recorded is false when id was
// already recorded on channel; joinedHere reports that this node had no
// other connection of userID there.
func (p *Presence) addLocal(channel, userID string, info json.RawMessage, id bus.SubscriberID) (recorded, joinedHere bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	conns := p.local[channel]
	if conns == nil {
		conns = make(map[bus.SubscriberID]localUser)
		p.local[channel] = conns
	}
	if _, ok := conns[id]; ok {
		return false, false
	}
	joinedHere = true
	for _, u := range conns {
		if u.id == userID {
			joinedHere = false
			break
		}
	}
	conns[id] = localUser{userID, info}
	return true, joinedHere
}

// removeLocal forgets the entry. recorded is false when id was not
// recorded on channel for userID; leftHere reports that it was this node's
// last connection of userID there.
func (p *Presence) removeLocal(channel, userID string, id bus.SubscriberID) (recorded, leftHere bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	conns := p.local[channel]
	if u, ok := conns[id]; !ok || u.id != userID {
		return false, false
	}
	delete(conns, id)
	if len(conns) == 0 {
		delete(p.local, channel)
		return true, true
	}
	for _, u := range conns {
		if u.id == userID {
			return true, false
		}
	}
	return true, true
}

// localMembers lists the users present on channel through this node.
func (p *Presence) localMembers(channel string) []bus.Member {
	p.mu.Lock()
	conns := p.local[channel]
	ids := make([]bus.SubscriberID, 0, len(conns))
	for id := range conns {
		ids = append(ids, id)
	}
	slices.Sort(ids) // the oldest connection first: its info is the user's
	seen := make(map[string]bool, len(conns))
	out := make([]bus.Member, 0, len(conns))
	for _, id := range ids {
		if u := conns[id]; !seen[u.id] {
			seen[u.id] = true
			out = append(out, bus.Member{UserID: u.id, Info: u.info})
		}
	}
	p.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
	return out
}

// resync makes this node's entries in Redis exactly its entries in
// memory, atomically, and returns the resulting member changes of the
// cluster.
func (p *Presence) resync(ctx context.Context) ([]bus.MemberChange, error) {
	p.sync.Lock()
	defer p.sync.Unlock()
	p.dirty.Store(false)
	p.mu.Lock()
	args := []any{p.b.p, p.b.id, 0}
	n := 0
	for ch, conns := range p.local {
		for id, u := range conns {
			args = append(args, idString(id), ch, u.id, string(u.info))
			n++
		}
	}
	p.mu.Unlock()
	args[2] = n
	flat, err := scriptSyncPresence.Run(ctx, p.b.client, p.b.keys, args...).StringSlice()
	if err != nil {
		p.dirty.Store(true)
		return nil, err
	}
	changes := make([]bus.MemberChange, 0, len(flat)/4)
	for i := 0; i+3 < len(flat); i += 4 {
		c := bus.MemberChange{Channel: flat[i+1], UserID: flat[i+2], Added: flat[i] == "+"}
		if c.Added {
			c.Info = rawInfo(flat[i+3])
		}
		changes = append(changes, c)
	}
	return changes, nil
}

func idString(id bus.SubscriberID) string { return strconv.FormatUint(uint64(id), 10) }

// rawInfo returns a stored info, nil for none.
func rawInfo(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}
