package bus

import (
	"context"
	"encoding/json"
	"hash/maphash"
	"slices"
	"sort"
	"sync"
)

// MemoryPresence is the in-memory PresenceStore of a single node. Its
// methods never fail.
type MemoryPresence struct {
	seed   maphash.Seed
	shards [16]presenceShard
}

var _ PresenceStore = (*MemoryPresence)(nil)

type presenceShard struct {
	mu       sync.Mutex
	channels map[string]map[string]*presentUser // channel, user id
}

type presentUser struct {
	info  json.RawMessage
	conns []SubscriberID // usually one or two
}

// NewMemoryPresence returns an empty in-memory store.
func NewMemoryPresence() *MemoryPresence {
	p := &MemoryPresence{seed: maphash.MakeSeed()}
	for i := range p.shards {
		p.shards[i].channels = make(map[string]map[string]*presentUser)
	}
	return p
}

func (p *MemoryPresence) shard(channel string) *presenceShard {
	return &p.shards[maphash.String(p.seed, channel)%uint64(len(p.shards))]
}

// Add records connection id of userID on channel; see PresenceStore.
func (p *MemoryPresence) Add(_ context.Context, channel, userID string, info json.RawMessage, id SubscriberID) (bool, error) {
	sh := p.shard(channel)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	users := sh.channels[channel]
	if users == nil {
		users = make(map[string]*presentUser)
		sh.channels[channel] = users
	}
	u := users[userID]
	if u == nil {
		users[userID] = &presentUser{info: info, conns: []SubscriberID{id}}
		return true, nil
	}
	if !slices.Contains(u.conns, id) {
		u.conns = append(u.conns, id)
	}
	return false, nil
}

// Remove forgets connection id of userID on channel; see PresenceStore.
func (p *MemoryPresence) Remove(_ context.Context, channel, userID string, id SubscriberID) (bool, error) {
	sh := p.shard(channel)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	users := sh.channels[channel]
	u := users[userID]
	if u == nil {
		return false, nil
	}
	i := slices.Index(u.conns, id)
	if i < 0 {
		return false, nil
	}
	u.conns = slices.Delete(u.conns, i, i+1)
	if len(u.conns) > 0 {
		return false, nil
	}
	delete(users, userID)
	if len(users) == 0 {
		delete(sh.channels, channel)
	}
	return true, nil
}

// Members returns the users present on channel, sorted by user id.
func (p *MemoryPresence) Members(_ context.Context, channel string) ([]Member, error) {
	sh := p.shard(channel)
	sh.mu.Lock()
	users := sh.channels[channel]
	ms := make([]Member, 0, len(users))
	for id, u := range users {
		ms = append(ms, Member{UserID: id, Info: u.info})
	}
	sh.mu.Unlock()
	sort.Slice(ms, func(i, j int) bool { return ms[i].UserID < ms[j].UserID })
	return ms, nil
}
