package hub

import (
	"context"
	"encoding/json"
	"fmt"
)

// Member is one user present on a presence channel.
type Member struct {
	UserID string
	// Info is the user's data, as given with the user's first connection
	// to the channel; the hub neither parses nor copies it.
	Info json.RawMessage
}

// PresenceStore holds the members of presence channels: per channel, the
// users present, each with the connections (subscriber ids) that made them
// present. A user is a member while at least one of its connections is.
// MemoryPresence serves one node; a store shared by many nodes (Redis) must
// decide added and removed atomically across them and must forget the
// connections of a node that died. All methods are safe for concurrent use.
type PresenceStore interface {
	// Add records connection id of user userID on channel. added reports
	// that it is the user's first connection there: the user joined. Adding
	// a connection already recorded changes nothing.
	Add(ctx context.Context, channel, userID string, info json.RawMessage, id SubscriberID) (added bool, err error)
	// Remove forgets connection id of user userID on channel. removed
	// reports that it was the user's last connection there: the user left.
	Remove(ctx context.Context, channel, userID string, id SubscriberID) (removed bool, err error)
	// Members returns the users present on channel, sorted by user id.
	Members(ctx context.Context, channel string) ([]Member, error)
}

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
