package pusher

import (
	"bytes"
	"encoding/json"

	"github.com/switchboard-rt/switchboard/hub"
)

// signedUser is a connection's signed-in user.
type signedUser struct {
	id        string
	info      json.RawMessage
	watchlist []string
}

// signinData is the data of pusher:signin.
type signinData struct {
	Auth     string `json:"auth"`
	UserData string `json:"user_data"`
}

// userData is the user_data of a sign-in, as the app's server signed it.
type userData struct {
	ID        json.RawMessage `json:"id"`
	UserInfo  json.RawMessage `json:"user_info"`
	Watchlist []string        `json:"watchlist"`
}

// maxWatchlist is the most users one watchlist may name (Pusher's limit).
const maxWatchlist = 100

// terminateMarker is published on a user's channel by terminate_connections.
// It can never be an encoded event, which starts with '{'; userSub
// recognises it and closes the connection instead of sending it.
var terminateMarker = []byte("\x00terminate")

// userSub is a signed-in connection's subscription to its user's channel,
// #server-to-user-{id}: it relays sendToUser events and acts on
// terminate_connections.
type userSub struct{ c *conn }

// Deliver implements hub.Subscriber.
func (u userSub) Deliver(m *hub.Message) error {
	if bytes.Equal(m.Payload(), terminateMarker) {
		u.c.fail(closeErr(CodeUnauthorized, "Connection terminated by the app"))
		return nil
	}
	return u.c.ws.SendPrepared(m.Frame())
}

// signin handles pusher:signin: a valid signature makes the connection its
// user's (for sendToUser, terminate_connections and watchlists); an invalid
// one closes it with 4009, as Pusher does.
func (c *conn) signin(e Event) {
	if !c.app.userAuth {
		c.sendError(0, "User authentication is not enabled for this app (enable_user_authentication)")
		return
	}
	var sd signinData
	if err := e.DataObject(&sd); err != nil {
		c.fail(closeErr(CodeUnauthorized, "Invalid pusher:signin data: want {\"auth\": ..., \"user_data\": ...}"))
		return
	}
	if !c.d.current(c.app).checkAuth(sd.Auth, userAuthMessage(socketID(c.id), sd.UserData)) {
		c.d.stats.authFailures.Add(1)
		c.fail(closeErr(CodeUnauthorized, "Invalid signature for pusher:signin"))
		return
	}
	var ud userData
	if err := json.Unmarshal([]byte(sd.UserData), &ud); err != nil {
		c.fail(closeErr(CodeUnauthorized, "user_data is not a JSON object"))
		return
	}
	id, ok := userIDString(ud.ID)
	if !ok || len(ud.ID) == 0 || ud.ID[0] != '"' {
		c.fail(closeErr(CodeUnauthorized, "user_data has no id string"))
		return
	}
	if len(ud.Watchlist) > maxWatchlist {
		ud.Watchlist = ud.Watchlist[:maxWatchlist]
	}
	c.signout() // a second sign-in replaces the first
	ctx, cancel := c.d.hubCtx()
	_, err := c.d.hub.Subscribe(ctx, c.app.hubChannel(prefixUser+id), c.id, userSub{c})
	cancel()
	if err != nil {
		c.d.log.Error("pusher: sign-in subscribe failed", "app_id", c.app.id, "err", err)
		c.fail(closeErr(CodeReconnect, "Sign-in failed on the server; reconnect"))
		return
	}
	info := ud.UserInfo
	if isNull(info) {
		info = nil
	}
	c.user = &signedUser{id: id, info: info, watchlist: ud.Watchlist}
	c.signedIn.Store(true)
	c.d.edges.add(c.app, edgeUser, id)
	online := c.watchOnline()
	c.send(encodeEventJSON(c.app.ev.signinSuccess, "", struct {
		UserData string `json:"user_data"`
	}{sd.UserData}))
	if len(online) > 0 {
		c.send(watchlistPayload(c.app, "online", online))
	}
}

// subscribeUserChannel answers pusher-js's subscription to the user's own
// #server-to-user- channel, which sign-in already made; any other # channel
// is refused.
func (c *conn) subscribeUserChannel(name, userID string) {
	if c.user == nil || c.user.id != userID {
		c.refuseSubscription(name, subError("AuthError", 403, "Sign in as the user to receive its events"))
		return
	}
	c.send(encodeEvent(c.app.ev.subscriptionSucceeded, name, "{}", ""))
}

// signout undoes a sign-in, when the connection closes or signs in again.
func (c *conn) signout() {
	if c.user == nil {
		return
	}
	c.unwatchOnline()
	c.d.edges.remove(c.app, edgeUser, c.user.id)
	c.d.hub.Unsubscribe(c.app.hubChannel(prefixUser+c.user.id), c.id)
	c.user = nil
	c.signedIn.Store(false)
}

// terminate closes every connection of a user, on every node.
func (d *Dialect) terminate(a *app, userID string) error {
	return d.publish(a, prefixUser+userID, terminateMarker, 0)
}
