package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/switchboard-rt/switchboard/bus"
)

// Member is one user present on a presence channel; see bus.Member.
type Member = bus.Member

// MemberChange is a presence change a shared store found; see
// bus.MemberChange and OnMemberChange.
type MemberChange = bus.MemberChange

// AddMember makes user userID present on channel through connection id,
// with info (kept as given). added reports that the user joined: the
// dialect then announces it ("member_added"). The hub does not check that
// id is subscribed to channel; the dialect keeps the two in step.
func (h *Hub) AddMember(ctx context.Context, channel, userID string, info json.RawMessage, id SubscriberID) (added bool, err error) {
	added, err = h.presence.Add(ctx, channel, userID, info, id)
	if err != nil {
		return false, fmt.Errorf("hub: add member %q to %q: %w", userID, channel, err)
	}
	return added, nil
}

// RemoveMember removes connection id of user userID from channel's
// presence. removed reports that the user left: it was the user's last
// connection there. A dialect calls it for each presence channel of a
// connection that unsubscribes or closes.
func (h *Hub) RemoveMember(ctx context.Context, channel, userID string, id SubscriberID) (removed bool, err error) {
	removed, err = h.presence.Remove(ctx, channel, userID, id)
	if err != nil {
		return false, fmt.Errorf("hub: remove member %q from %q: %w", userID, channel, err)
	}
	return removed, nil
}

// Members returns the users present on channel, sorted by user id.
func (h *Hub) Members(ctx context.Context, channel string) ([]Member, error) {
	ms, err := h.presence.Members(ctx, channel)
	if err != nil {
		return nil, fmt.Errorf("hub: members of %q: %w", channel, err)
	}
	return ms, nil
}

// hooks holds the functions registered for one kind of change, which a
// store's watcher reports from its own goroutine.
type hooks[C any] struct {
	mu sync.Mutex
	fs []func(C)
}

func (l *hooks[C]) add(f func(C)) {
	l.mu.Lock()
	l.fs = append(l.fs, f)
	l.mu.Unlock()
}

// call passes changes to every registered function, in order.
func (l *hooks[C]) call(changes []C) {
	l.mu.Lock()
	fs := l.fs
	l.mu.Unlock()
	for _, c := range changes {
		for _, f := range fs {
			f(c)
		}
	}
}

// OnMemberChange registers f to be called with every MemberChange the
// presence store reports. A dialect with presence channels registers one
// and announces each change as its own member_added or member_removed
// event, with Hub.Publish, for the channels that are its own (it sees
// every dialect's changes). f is called from a background goroutine, one
// change at a time; it may call Publish and other hub methods, and should
// not block for long. With a store that reports nothing (MemoryPresence,
// one node), f is never called.
func (h *Hub) OnMemberChange(f func(MemberChange)) { h.memberHooks.add(f) }

// EdgeChange is a flip an edge store found itself; see bus.EdgeChange and
// OnEdgeChange.
type EdgeChange = bus.EdgeChange

// OnEdgeChange registers f to be called with every flip the edge store
// (Hub.Edges) finds without a call of this node: keys whose grace ended
// while no node settled them, and keys that a dead node held. Each flip is
// reported on one node of the cluster. f is called from a background
// goroutine, one flip at a time, and sees every dialect's spaces; it may
// call hub methods and should not block for long. With MemoryEdges, f is
// never called.
func (h *Hub) OnEdgeChange(f func(EdgeChange)) { h.edgeHooks.add(f) }
