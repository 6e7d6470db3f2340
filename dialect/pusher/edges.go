package pusher

import (
	"context"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-rt/switchboard/bus"
)

// Webhooks of state changes (channel_occupied and channel_vacated,
// member_added and member_removed, user_online and user_offline) are sent
// from the hub's edge store (bus.EdgeStore), which decides once for the
// whole cluster when a channel, a member or a user goes up or, after the
// app's webhook_grace_period, down: whichever node sees a change, and
// however nodes race, exactly one sends its webhook. This node tells the
// store only of its own edges (its first or last subscriber of a channel,
// connection of a member, holder of a user), so the hot path of a
// subscription makes no store call unless this node's holding changes and
// the app wants the webhook.

// The kinds of edge keys of an app; the store's space is the app's hub
// prefix and the kind ("pusher/{id}/channel").
const (
	edgeChannel = "channel" // key: the channel name
	edgeMember  = "member"  // key: the channel name, "\n", the user id
	edgeUser    = "user"    // key: the user id
)

// edgeID names one edge key: the store's space and key.
type edgeID struct{ space, key string }

func edgeOf(a *app, kind, key string) edgeID { return edgeID{a.hubPrefix + kind, key} }

// memberKey is the key of a member edge. Channel names cannot hold "\n".
func memberKey(channel, userID string) string { return channel + "\n" + userID }

// edges is this node's side of the edge store: how many holders each
// member and user key has here, what the store last heard from this node
// of each key, and the settles scheduled for keys in their grace. Close
// stops the scheduled settles.
type edges struct {
	d     *Dialect
	store bus.EdgeStore
	// after schedules f in d (time.AfterFunc; tests use their own clock)
	// and returns what cancels it.
	after func(d time.Duration, f func()) (stop func() bool)

	seed   maphash.Seed
	shards [32]edgeShard

	// timers counts the settles scheduled and neither stopped nor
	// finished; closed (under every shard's mu) refuses new ones.
	timers sync.WaitGroup
}

type edgeShard struct {
	mu      sync.Mutex
	keys    map[edgeID]*edgeEntry
	pending map[edgeID]*edgeTimer
	closed  bool
}

// edgeEntry is one key this node holds, has told the store it holds, or
// is about to tell.
type edgeEntry struct {
	refs int // this node's holders of a member or user key; guarded by the shard's mu
	pins int // goroutines using the entry; guarded by the shard's mu

	call sync.Mutex // one store call for the key at a time, so the store hears this node's changes in order
	told bool       // the holding the store last heard from this node; guarded by call
}

type edgeTimer struct{ stop func() bool }

func newEdges(d *Dialect, store bus.EdgeStore) *edges {
	x := &edges{d: d, store: store, seed: maphash.MakeSeed()}
	x.after = func(wait time.Duration, f func()) func() bool { return time.AfterFunc(wait, f).Stop }
	for i := range x.shards {
		x.shards[i].keys = make(map[edgeID]*edgeEntry)
		x.shards[i].pending = make(map[edgeID]*edgeTimer)
	}
	return x
}

func (x *edges) shard(id edgeID) *edgeShard {
	var h maphash.Hash
	h.SetSeed(x.seed)
	_, _ = h.WriteString(id.space)
	_, _ = h.WriteString(id.key)
	return &x.shards[h.Sum64()%uint64(len(x.shards))]
}

// channel tells the store whether this node still has subscribers of
// channel name (hubName in the hub), after the hub reported its first or
// last subscriber here.
func (x *edges) channel(a *app, name, hubName string) {
	a = x.d.current(a)
	x.sync(a, edgeOf(a, edgeChannel, name), a.hookChannels, false, func(*edgeEntry) bool {
		return x.d.hub.SubscriberCount(hubName) > 0
	})
}

// add counts one more holder of a member or user key on this node; the
// first is told to the store if the app wants the key's webhooks.
func (x *edges) add(a *app, kind, key string) { x.count(a, kind, key, 1) }

// remove counts one holder of a member or user key less.
func (x *edges) remove(a *app, kind, key string) { x.count(a, kind, key, -1) }

func (x *edges) count(a *app, kind, key string, delta int) {
	a = x.d.current(a)
	wanted := a.hookMembers
	if kind == edgeUser {
		wanted = a.userEvents
	}
	id := edgeOf(a, kind, key)
	sh := x.shard(id)
	sh.mu.Lock()
	e := sh.keys[id]
	if e == nil {
		e = &edgeEntry{}
		sh.keys[id] = e
	}
	e.refs += delta
	edge := e.refs == 0 || (delta > 0 && e.refs == 1)
	if !edge {
		sh.mu.Unlock()
		return
	}
	sh.mu.Unlock()
	x.sync(a, id, wanted, true, func(e *edgeEntry) bool { return e.refs > 0 })
}

// sync tells the store this node's holding of id, as held reads it (under
// the shard's mu) once the key's previous call is done, when it differs
// from what the store last heard and the app wants the key (or the store
// was told it is held, which must be undone whatever the app now wants),
// and acts on the answer. keep creates the entry if missing.
func (x *edges) sync(a *app, id edgeID, wanted, keep bool, held func(*edgeEntry) bool) {
	sh := x.shard(id)
	sh.mu.Lock()
	e := sh.keys[id]
	if e == nil {
		if !wanted && !keep {
			sh.mu.Unlock()
			return
		}
		e = &edgeEntry{}
		sh.keys[id] = e
	}
	e.pins++
	sh.mu.Unlock()

	e.call.Lock()
	sh.mu.Lock()
	now := held(e)
	sh.mu.Unlock()
	if now != e.told && (wanted || e.told) {
		ctx, cancel := x.d.hubCtx()
		st, err := x.store.Hold(ctx, id.space, id.key, now, a.hookGrace)
		cancel()
		e.told = now // a shared store that failed writes it back when it can
		if err != nil {
			x.d.stats.edgeErrors.Add(1)
			x.d.log.Warn("pusher: webhook state store unavailable; its changes are reported when it is back",
				"app_id", a.id, "kind", kindOf(id.space), "err", err)
		} else {
			x.settled(id, st)
		}
	}
	e.call.Unlock()

	sh.mu.Lock()
	e.pins--
	if e.pins == 0 && e.refs <= 0 && !e.told {
		delete(sh.keys, id)
	}
	sh.mu.Unlock()
}

// settled reports the flip of a store call and schedules the settle of a
// key in its grace.
func (x *edges) settled(id edgeID, st bus.Settled) {
	if st.Edge != bus.EdgeNone {
		x.report(id, st.Edge)
	}
	if st.Wait > 0 {
		x.schedule(id, st.Wait)
	}
}

// schedule settles id after wait, replacing a settle already scheduled.
func (x *edges) schedule(id edgeID, wait time.Duration) {
	sh := x.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return // a shared store's sweep settles it
	}
	if old := sh.pending[id]; old != nil && old.stop() {
		x.timers.Done()
	}
	t := &edgeTimer{}
	x.timers.Add(1)
	t.stop = x.after(wait, func() { x.fire(id, t) })
	sh.pending[id] = t
}

// fire runs a scheduled settle.
func (x *edges) fire(id edgeID, t *edgeTimer) {
	defer x.timers.Done()
	sh := x.shard(id)
	sh.mu.Lock()
	if sh.pending[id] == t {
		delete(sh.pending, id)
	}
	sh.mu.Unlock()
	if x.d.ctx.Err() != nil {
		return
	}
	ctx, cancel := x.d.hubCtx()
	st, err := x.store.Settle(ctx, id.space, id.key)
	cancel()
	if err != nil {
		x.d.stats.edgeErrors.Add(1)
		x.d.log.Warn("pusher: webhook state store unavailable; its changes are reported when it is back", "kind", kindOf(id.space), "err", err)
		return
	}
	x.settled(id, st)
}

// close stops the scheduled settles and waits for those running. With a
// shared store, another node's sweep settles the keys this node left in
// their grace; with an in-memory one, their down webhooks are not sent.
func (x *edges) close() {
	for i := range x.shards {
		sh := &x.shards[i]
		sh.mu.Lock()
		sh.closed = true
		for id, t := range sh.pending {
			if t.stop() {
				x.timers.Done()
			}
			delete(sh.pending, id)
		}
		sh.mu.Unlock()
	}
	x.timers.Wait()
}

// changed handles a flip the store found itself (a sweep, a dead node's
// keys, a write-back): the hub's OnEdgeChange.
func (x *edges) changed(c bus.EdgeChange) {
	if x.d.ctx.Err() != nil || !strings.HasPrefix(c.Space, "pusher/") {
		return // shut down, or another dialect's
	}
	x.report(edgeID{c.Space, c.Key}, c.Edge)
}

// report sends the webhook of a flip, with the app's current version.
func (x *edges) report(id edgeID, edge bus.Edge) {
	rest, ok := strings.CutPrefix(id.space, "pusher/")
	if !ok {
		return
	}
	appID, kind, _ := strings.Cut(rest, "/")
	a := x.d.apps().byID[appID]
	if a == nil {
		return // the app was removed
	}
	up := edge == bus.EdgeUp
	h := x.d.hooks
	switch kind {
	case edgeChannel:
		if up {
			h.channelOccupied(a, id.key)
		} else {
			h.channelVacated(a, id.key)
		}
	case edgeMember:
		channel, user, _ := strings.Cut(id.key, "\n")
		name := "member_removed"
		if up {
			name = "member_added"
		}
		h.member(a, name, channel, user)
	case edgeUser:
		name := "user_offline"
		if up {
			name = "user_online"
		}
		h.user(a, name, id.key)
	}
}

// kindOf returns the kind of an edge space, for logs.
func kindOf(space string) string {
	return space[strings.LastIndexByte(space, '/')+1:]
}

// onlineUsers returns up to limit users of a reported online, after after.
func (x *edges) onlineUsers(ctx context.Context, a *app, after string, limit int) ([]string, error) {
	return x.store.Reported(ctx, a.hubPrefix+edgeUser, after, limit)
}
