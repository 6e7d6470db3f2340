package pusher

import (
	"github.com/switchboard-rt/switchboard/hub"
)

// Watchlists: a signed-in user's user_data may list other users' ids; the
// connection is told when they come online (their first signed-in
// connection, on any node) and go offline (their last one closes). The hub
// does the work: a user is online while it is a presence member of its
// "#online-{id}" channel, and watchers subscribe to "#watchers-{id}", where
// the online and offline events are published. Neither channel can be
// subscribed to by clients or is listed by the REST API ('#' is not a
// channel-name character).
const (
	prefixOnline   = "#online-"
	prefixWatchers = "#watchers-"
)

// watchlistEvent is one entry of watchlist_events.
type watchlistEvent struct {
	Name    string   `json:"name"`
	UserIDs []string `json:"user_ids"`
}

// watchlistPayload encodes watchlist_events with one event.
func watchlistPayload(a *app, name string, ids []string) []byte {
	return encodeEventJSON(a.ev.watchlistEvents, "", struct {
		Events []watchlistEvent `json:"events"`
	}{[]watchlistEvent{{name, ids}}})
}

// announceOnline tells the watchers of a user that it came online (its
// first signed-in connection) or went offline (its last one closed).
func (d *Dialect) announceOnline(a *app, userID string, online bool) {
	state := "offline"
	if online {
		state = "online"
	}
	_ = d.publish(a, prefixWatchers+userID, watchlistPayload(a, state, []string{userID}), hub.NoID)
}

// watchOnline runs on sign-in: it marks the user online, subscribes to the
// users of its watchlist and returns which of them are online now.
func (c *conn) watchOnline() (online []string) {
	u := c.user
	ctx, cancel := c.d.hubCtx()
	defer cancel()
	added, err := c.d.hub.AddMember(ctx, c.app.hubChannel(prefixOnline+u.id), u.id, nil, c.id)
	if err != nil {
		c.d.log.Error("pusher: watchlist online failed", "app_id", c.app.id, "err", err)
	} else if added {
		c.d.announceOnline(c.app, u.id, true)
	}
	for _, w := range u.watchlist {
		if _, err := c.d.hub.Subscribe(ctx, c.app.hubChannel(prefixWatchers+w), c.id, c); err != nil {
			c.d.log.Error("pusher: watchlist subscribe failed", "app_id", c.app.id, "err", err)
			continue
		}
		if ms, err := c.d.hub.Members(ctx, c.app.hubChannel(prefixOnline+w)); err == nil && len(ms) > 0 {
			online = append(online, w)
		}
	}
	return online
}

// unwatchOnline undoes watchOnline when the connection signs out.
func (c *conn) unwatchOnline() {
	u := c.user
	for _, w := range u.watchlist {
		c.d.hub.Unsubscribe(c.app.hubChannel(prefixWatchers+w), c.id)
	}
	ctx, cancel := c.d.hubCtx()
	defer cancel()
	removed, err := c.d.hub.RemoveMember(ctx, c.app.hubChannel(prefixOnline+u.id), u.id, c.id)
	if err == nil && removed {
		c.d.announceOnline(c.app, u.id, false)
	}
}
