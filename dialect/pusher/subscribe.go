package pusher

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/switchboard-rt/switchboard/hub"
)

// subscribeData is the data of pusher:subscribe.
type subscribeData struct {
	Channel     string          `json:"channel"`
	Auth        string          `json:"auth"`
	ChannelData json.RawMessage `json:"channel_data"`
}

// channelData is a presence subscription's channel_data.
type channelData struct {
	UserID   json.RawMessage `json:"user_id"`
	UserInfo json.RawMessage `json:"user_info"`
}

// subError is a refused subscription: pusher:subscription_error's data.
func subError(typ string, status int, msg string) *subscriptionErrorData {
	return &subscriptionErrorData{Type: typ, Error: msg, Status: status}
}

// subscribe handles pusher:subscribe. Every refusal is a
// pusher:subscription_error on the channel; the connection stays usable.
func (c *conn) subscribe(e Event) {
	var sd subscribeData
	if err := e.DataObject(&sd); err != nil {
		c.sendError(0, "Invalid pusher:subscribe data: want {\"channel\": ...}")
		return
	}
	name := sd.Channel
	if name == "" {
		name = e.Channel
	}
	if rest, ok := strings.CutPrefix(name, prefixUser); ok {
		c.subscribeUserChannel(name, rest)
		return
	}
	if msg := channelNameProblem(name); msg != "" {
		c.refuseSubscription(name, subError("InvalidChannel", 400, msg))
		return
	}
	if userID, ok := c.channels.get(name); ok { // already subscribed: confirm again
		c.succeed(name, userID)
		return
	}
	if len(c.channels) >= c.app.maxConnChannels {
		c.refuseSubscription(name, subError("LimitReached", 4100,
			fmt.Sprintf("Too many channels on this connection: at most %d; unsubscribe from one first", c.app.maxConnChannels)))
		return
	}
	typ := typeOf(name)
	var userID string
	var userInfo json.RawMessage
	if typ.needsAuth() {
		cd := channelDataString(sd.ChannelData)
		if typ.kind != kindPresence {
			cd = ""
		}
		if sd.Auth == "" {
			c.refuseSubscription(name, subError("AuthError", 401, "Subscribing to "+name+" needs an auth signature"))
			return
		}
		if !c.d.current(c.app).checkAuth(sd.Auth, channelAuthMessage(socketID(c.id), name, cd)) {
			c.d.stats.authFailures.Add(1)
			c.refuseSubscription(name, subError("AuthError", 401, "Invalid signature for "+name))
			return
		}
		if typ.kind == kindPresence {
			var err *subscriptionErrorData
			if userID, userInfo, err = c.presenceUser(cd); err != nil {
				c.refuseSubscription(name, err)
				return
			}
		}
	}
	hubName := c.app.hubChannel(name)
	if typ.kind == kindPresence {
		if err := c.checkMemberLimit(hubName, userID); err != nil {
			c.refuseSubscription(name, err)
			return
		}
	}
	ctx, cancel := c.d.hubCtx()
	first, err := c.d.hub.Subscribe(ctx, hubName, c.id, c)
	cancel()
	if err != nil {
		c.d.log.Error("pusher: subscribe failed", "app_id", c.app.id, "channel", name, "err", err)
		c.refuseSubscription(name, subError("ServerError", 500, "Subscription failed on the server; try again"))
		return
	}
	// The set keeps the name as the tail of hubName, which the hub keeps
	// too: one copy of the name per idle connection, not two.
	c.channels.put(hubName[len(hubName)-len(name):], userID)
	c.d.stats.subscriptions.Add(1)
	if first {
		c.d.edges.channel(c.app, name, hubName) // this node's first subscriber
	}
	n := c.countIfNeeded(hubName)
	if typ.kind == kindPresence {
		c.join(name, hubName, userID, userInfo)
	}
	c.succeed(name, userID)
	if typ.cache {
		c.replayCache(name, hubName)
	}
	c.publishSubscriptionCount(name, n)
}

// channelDataString returns channel_data as the string that was signed.
func channelDataString(raw json.RawMessage) string {
	return Event{Data: raw}.DataString()
}

// presenceUser reads a presence subscription's user: from channel_data or,
// without one, from the connection's sign-in.
func (c *conn) presenceUser(cd string) (string, json.RawMessage, *subscriptionErrorData) {
	if cd == "" {
		if c.user != nil {
			return c.user.id, c.user.info, nil
		}
		return "", nil, subError("AuthError", 400, "Presence channels need channel_data with a user_id, or a signed-in user")
	}
	var d channelData
	if err := json.Unmarshal([]byte(cd), &d); err != nil {
		return "", nil, subError("AuthError", 400, "channel_data is not a JSON object")
	}
	id, ok := userIDString(d.UserID)
	if !ok {
		return "", nil, subError("AuthError", 400, "channel_data has no user_id (a string or a number)")
	}
	if isNull(d.UserInfo) {
		d.UserInfo = nil
	}
	if len(d.UserInfo) > c.app.maxMemberSize {
		return "", nil, subError("LimitReached", 4100, "user_info is larger than the limit of the app")
	}
	return id, d.UserInfo, nil
}

// checkMemberLimit refuses a new user on a full presence channel.
func (c *conn) checkMemberLimit(hubName, userID string) *subscriptionErrorData {
	ctx, cancel := c.d.hubCtx()
	members, err := c.d.hub.Members(ctx, hubName)
	cancel()
	if err != nil || len(members) < c.app.maxMembers {
		return nil
	}
	for _, m := range members {
		if m.UserID == userID {
			return nil
		}
	}
	return subError("LimitReached", 4100, "The presence channel is full")
}

// join makes the connection's user present; the user's first connection
// announces it to the channel (but not to itself). The member and the user
// count one more holder on this node for the webhooks (edges.go).
func (c *conn) join(name, hubName, userID string, info json.RawMessage) {
	c.d.edges.add(c.app, edgeMember, memberKey(name, userID))
	c.d.edges.add(c.app, edgeUser, userID)
	ctx, cancel := c.d.hubCtx()
	added, err := c.d.hub.AddMember(ctx, hubName, userID, info, c.id)
	cancel()
	if err != nil {
		c.d.log.Error("pusher: presence add failed", "app_id", c.app.id, "channel", name, "err", err)
		return
	}
	if added {
		c.d.announceMember(c.app, name, userID, info, true, c.id)
	}
}

// announceMember publishes member_added (with info) or member_removed on a
// presence channel, to every subscriber but except, at once. Its webhook
// comes from the edge store, after the grace period for member_removed.
func (d *Dialect) announceMember(a *app, name, userID string, info json.RawMessage, added bool, except hub.SubscriberID) {
	ev := a.ev.memberRemoved
	if added {
		ev = a.ev.memberAdded
	} else {
		info = nil
	}
	_ = d.publish(a, name, encodeEventJSON(ev, name, memberData{UserID: userID, UserInfo: info}), except)
}

// succeed sends subscription_succeeded: for presence channels with the
// members, the connection's own user among them.
func (c *conn) succeed(name, userID string) {
	ev := c.app.ev.subscriptionSucceeded
	if typeOf(name).kind != kindPresence {
		c.send(encodeEvent(ev, name, "{}", ""))
		return
	}
	ctx, cancel := c.d.hubCtx()
	members, err := c.d.hub.Members(ctx, c.app.hubChannel(name))
	cancel()
	if err != nil {
		c.d.log.Error("pusher: presence members failed", "app_id", c.app.id, "channel", name, "err", err)
	}
	c.send(encodeEventJSON(ev, name, presenceOf(members, userID)))
}

// presenceOf builds a presence channel's subscription data. self is added
// if the store does not list it yet (it always should).
func presenceOf(members []hub.Member, self string) presenceData {
	var p presenceData
	p.Presence.IDs = make([]string, 0, len(members)+1)
	p.Presence.Hash = make(map[string]json.RawMessage, len(members)+1)
	for _, m := range members {
		p.Presence.IDs = append(p.Presence.IDs, m.UserID)
		p.Presence.Hash[m.UserID] = rawOrNull(m.Info)
	}
	if _, ok := p.Presence.Hash[self]; !ok && self != "" {
		p.Presence.IDs = append(p.Presence.IDs, self)
		p.Presence.Hash[self] = rawOrNull(nil)
	}
	p.Presence.Count = len(p.Presence.IDs)
	return p
}

func rawOrNull(r json.RawMessage) json.RawMessage {
	if len(r) == 0 {
		return json.RawMessage("null")
	}
	return r
}

// refuseSubscription sends pusher:subscription_error.
func (c *conn) refuseSubscription(name string, e *subscriptionErrorData) {
	c.d.stats.subscriptionErrors.Add(1)
	c.send(encodeEventJSON(c.app.ev.subscriptionError, name, e))
}

// unsubscribe handles pusher:unsubscribe; it has no reply.
func (c *conn) unsubscribe(e Event) {
	var sd subscribeData
	if err := e.DataObject(&sd); err != nil {
		return
	}
	name := sd.Channel
	if name == "" {
		name = e.Channel
	}
	if _, ok := c.channels.get(name); ok {
		c.leave(name)
	}
}

// leave unsubscribes from a channel: the user's last connection on a
// presence channel announces its departure at once; the webhooks of the
// member, the user and the channel come from the edge store.
func (c *conn) leave(name string) {
	userID, _ := c.channels.remove(name)
	hubName := c.app.hubChannel(name)
	if userID != "" {
		ctx, cancel := c.d.hubCtx()
		removed, err := c.d.hub.RemoveMember(ctx, hubName, userID, c.id)
		cancel()
		if err != nil {
			c.d.log.Error("pusher: presence remove failed", "app_id", c.app.id, "channel", name, "err", err)
		}
		if removed {
			c.d.announceMember(c.app, name, userID, nil, false, c.id)
		}
		c.d.edges.remove(c.app, edgeMember, memberKey(name, userID))
		c.d.edges.remove(c.app, edgeUser, userID)
	}
	if c.d.hub.Unsubscribe(hubName, c.id) {
		c.d.edges.channel(c.app, name, hubName) // this node's last subscriber
	}
	c.publishSubscriptionCount(name, c.countIfNeeded(hubName))
}

// countIfNeeded reads the cluster's subscriptions to a channel when the
// app asks for subscription counts; otherwise it returns 0.
func (c *conn) countIfNeeded(hubName string) int {
	if !c.app.subscriptionCount {
		return 0
	}
	return c.d.subscriberCount(c.d.ctx, hubName)
}

// publishSubscriptionCount tells a channel's n subscribers their number, if
// the app asks for it (pusher-js emits pusher:subscription_count).
func (c *conn) publishSubscriptionCount(name string, n int) {
	if !c.app.subscriptionCount {
		return
	}
	c.d.hooks.subscriptionCount(c.app, name, n)
	if n == 0 {
		return
	}
	c.d.publish(c.app, name, encodeEventJSON(c.app.ev.subscriptionCount, name, struct {
		Count int `json:"subscription_count"`
	}{n}), hub.NoID)
}

// replayCache sends a cache channel's last event, or pusher:cache_miss.
func (c *conn) replayCache(name, hubName string) {
	ctx, cancel := c.d.hubCtx()
	e, ok, err := c.d.cache.get(ctx, hubName)
	cancel()
	if err != nil {
		c.d.log.Error("pusher: reading a cache channel's event failed", "app_id", c.app.id, "channel", name, "err", err)
	}
	if ok {
		c.send(e.payload)
		return
	}
	c.send(encodeEvent(c.app.ev.cacheMiss, name, "{}", ""))
	c.d.hooks.cacheMiss(c.app, name)
}
