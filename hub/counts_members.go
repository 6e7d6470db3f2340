package hub

import (
	"encoding/json"
	"sync"
)

// MemberChange is a presence change that no dialect call on this node
// made: a shared store found it. When a node dies, one surviving node's
// store removes the dead node's members and reports each user who left as
// a MemberChange with Added false; when a node's own members are written
// back after an outage, users who became present again are reported with
// Added true (and users who left meanwhile with Added false). The store
// decides atomically which node reports a change, so each is reported on
// one node only.
type MemberChange struct {
	Channel string
	UserID  string
	// Info is the user's data (Added only; it may be nil).
	Info json.RawMessage
	// Added is true when the user joined, false when the user left.
	Added bool
}

// PresenceWatcher is implemented by a PresenceStore that reports
// MemberChanges (a shared store). The hub calls Watch once, in New, with
// the function the store must call with each batch of changes, from one
// goroutine of the store's, one batch at a time.
type PresenceWatcher interface {
	Watch(f func([]MemberChange))
}

// memberHooks holds the functions registered with OnMemberChange.
type memberHooks struct {
	mu    sync.Mutex
	hooks []func(MemberChange)
}

// OnMemberChange registers f to be called with every MemberChange the
// presence store reports. A dialect with presence channels registers one
// and announces each change as its own member_added or member_removed
// event, with Hub.Publish, for the channels that are its own (it sees
// every dialect's changes). f is called from a background goroutine, one
// change at a time; it may call Publish and other hub methods, and should
// not block for long. With a store that reports nothing (MemoryPresence,
// one node), f is never called.
func (h *Hub) OnMemberChange(f func(MemberChange)) {
	h.members.mu.Lock()
	h.members.hooks = append(h.members.hooks, f)
	h.members.mu.Unlock()
}

// memberChanged passes changes to every registered hook.
func (h *Hub) memberChanged(changes []MemberChange) {
	h.members.mu.Lock()
	hooks := h.members.hooks
	h.members.mu.Unlock()
	for _, c := range changes {
		for _, f := range hooks {
			f(c)
		}
	}
}
