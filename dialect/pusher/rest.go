package pusher

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-rt/switchboard/hub"
)

// triggerRequest is the body of POST /events, and one entry of
// POST /batch_events.
type triggerRequest struct {
	Name     string          `json:"name"`
	Data     json.RawMessage `json:"data"`
	Channels []string        `json:"channels"`
	Channel  string          `json:"channel"`
	SocketID string          `json:"socket_id"`
	Info     string          `json:"info"`
}

// trigger is a validated triggerRequest.
type trigger struct {
	name     string
	data     string
	channels []string
	except   hub.SubscriberID
	info     infoAttrs
}

// infoAttrs are the attributes an "info" parameter asks for.
type infoAttrs struct{ userCount, subscriptionCount, cache bool }

func (i infoAttrs) any() bool { return i.userCount || i.subscriptionCount || i.cache }

// channelAttrs is a channel's entry in info answers.
type channelAttrs struct {
	Occupied          *bool      `json:"occupied,omitempty"`
	UserCount         *int       `json:"user_count,omitempty"`
	SubscriptionCount *int       `json:"subscription_count,omitempty"`
	Cache             *cacheInfo `json:"cache,omitempty"`
}

// cacheInfo is a cache channel's last event in GET /channels/{name}.
type cacheInfo struct {
	Event string `json:"event"`
	Data  string `json:"data"`
	TTL   int64  `json:"ttl"`
}

// parseInfo reads an info parameter: a comma-separated list of user_count,
// subscription_count and (where cache is true) cache.
func parseInfo(s string, cache bool) (infoAttrs, *restError) {
	var i infoAttrs
	for f := range strings.SplitSeq(s, ",") {
		switch strings.TrimSpace(f) {
		case "":
		case "user_count":
			i.userCount = true
		case "subscription_count":
			i.subscriptionCount = true
		case "cache":
			if cache {
				i.cache = true
				continue
			}
			fallthrough
		default:
			return i, badRequest("Unknown info attribute %q: use user_count or subscription_count", truncate(f, 40))
		}
	}
	return i, nil
}

// validate checks a trigger against the app's limits.
func (t *triggerRequest) validate(a *app) (*trigger, *restError) {
	out := &trigger{name: t.Name, channels: t.Channels}
	if msg := eventNameProblem(t.Name); msg != "" {
		return nil, badRequest("%s", msg)
	}
	if t.Channel != "" {
		out.channels = append(out.channels, t.Channel)
	}
	switch n := len(out.channels); {
	case n == 0:
		return nil, badRequest("No channels: give channels (a list) or channel")
	case n > a.maxChannels:
		return nil, badRequest("Too many channels: %d, at most %d per event", n, a.maxChannels)
	}
	for _, ch := range out.channels {
		if msg := restChannelProblem(ch); msg != "" {
			return nil, badRequest("%s", msg)
		}
		if typeOf(ch).kind == kindEncrypted && len(out.channels) > 1 {
			return nil, badRequest("An event on an encrypted channel must go to that channel alone")
		}
	}
	out.data = Event{Data: t.Data}.DataString()
	if len(out.data) > a.maxPayload {
		return nil, &restError{http.StatusRequestEntityTooLarge, "Event data is larger than the limit of " + strconv.Itoa(a.maxPayload/1024) + " KB"}
	}
	if t.SocketID != "" {
		id, ok := parseSocketID(t.SocketID)
		if !ok {
			return nil, badRequest("Invalid socket_id %q: want two numbers joined by a dot", truncate(t.SocketID, 40))
		}
		out.except = id
	}
	info, err := parseInfo(t.Info, false)
	if err != nil {
		return nil, err
	}
	if info.userCount {
		for _, ch := range out.channels {
			if typeOf(ch).kind != kindPresence {
				return nil, badRequest("info=user_count is only for presence channels; %q is not one", truncate(ch, 60))
			}
		}
	}
	out.info = info
	return out, nil
}

// publishTriggers publishes each of ts on each of its channels, encoding
// it once per channel. Callers validate every trigger of a request before
// publishing any, so that a request refused for its content publishes
// nothing and can be retried as it is; only the server failing (the hub or
// its bus) can stop a request halfway, and the answer says so.
func (d *Dialect) publishTriggers(a *app, ts ...*trigger) *restError {
	if d.ctx.Err() != nil {
		return &restError{http.StatusServiceUnavailable, "The server is shutting down; try another node or again later"}
	}
	done, total := 0, 0
	for _, t := range ts {
		total += len(t.channels)
	}
	for _, t := range ts {
		for _, ch := range t.channels {
			if err := d.publishEvent(a, ch, encodeEvent(t.name, ch, t.data, ""), t.except); err != nil {
				msg := "Publishing failed on the server; try again"
				if done > 0 {
					msg += fmt.Sprintf(" (%d of the %d messages had been published)", done, total)
				}
				return &restError{http.StatusInternalServerError, msg}
			}
			done++
		}
	}
	return nil
}

// attrs returns the info attributes of a trigger's channels.
func (d *Dialect) attrs(r *http.Request, a *app, t *trigger) map[string]channelAttrs {
	out := make(map[string]channelAttrs, len(t.channels))
	for _, ch := range t.channels {
		out[ch] = d.channelAttrs(r, a, ch, t.info)
	}
	return out
}

// channelAttrs returns the attributes info asks for of one channel.
func (d *Dialect) channelAttrs(r *http.Request, a *app, ch string, info infoAttrs) channelAttrs {
	var c channelAttrs
	hubName := a.hubChannel(ch)
	if info.subscriptionCount {
		n := d.subscriberCount(r.Context(), hubName)
		c.SubscriptionCount = &n
	}
	if info.userCount {
		ms, err := d.hub.Members(r.Context(), hubName)
		if err != nil {
			d.log.Error("pusher: presence members failed", "app_id", a.id, "channel", ch, "err", err)
		}
		n := len(ms)
		c.UserCount = &n
	}
	if info.cache {
		e, ok, err := d.cache.get(r.Context(), hubName)
		if err != nil {
			d.log.Error("pusher: reading a cache channel's event failed", "app_id", a.id, "channel", ch, "err", err)
		}
		if ok {
			var ev Event
			_ = json.Unmarshal(e.payload, &ev)
			c.Cache = &cacheInfo{Event: ev.Event, Data: ev.DataString(), TTL: int64(time.Until(e.expires) / time.Second)}
		}
	}
	return c
}

// postEvents serves POST /apps/{id}/events.
func (d *Dialect) postEvents(r *http.Request, a *app, body []byte) (any, *restError) {
	var req triggerRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, badRequest("Body is not a JSON event {name, data, channels}: %v", err)
	}
	t, e := req.validate(a) // every channel, before publishing to any
	if e != nil {
		return nil, e
	}
	if e := d.publishTriggers(a, t); e != nil {
		return nil, e
	}
	if !t.info.any() {
		return struct{}{}, nil
	}
	return map[string]any{"channels": d.attrs(r, a, t)}, nil
}

// postBatchEvents serves POST /apps/{id}/batch_events: every event is
// checked before any is sent.
func (d *Dialect) postBatchEvents(r *http.Request, a *app, body []byte) (any, *restError) {
	var req struct {
		Batch []triggerRequest `json:"batch"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, badRequest("Body is not a JSON batch {\"batch\": [...]}: %v", err)
	}
	switch n := len(req.Batch); {
	case n == 0:
		return nil, badRequest("Empty batch")
	case n > a.maxBatch:
		return nil, badRequest("Batch too large: %d events, at most %d", n, a.maxBatch)
	}
	ts := make([]*trigger, len(req.Batch))
	withInfo := false
	for i := range req.Batch {
		t, e := req.Batch[i].validate(a)
		if e != nil {
			e.msg = "batch[" + strconv.Itoa(i) + "]: " + e.msg
			return nil, e
		}
		ts[i], withInfo = t, withInfo || t.info.any()
	}
	if e := d.publishTriggers(a, ts...); e != nil {
		return nil, e
	}
	if !withInfo {
		return struct{}{}, nil
	}
	out := make([]channelAttrs, len(ts))
	for i, t := range ts {
		out[i] = d.channelAttrs(r, a, t.channels[0], t.info)
	}
	return map[string]any{"batch": out}, nil
}

// getChannels serves GET /apps/{id}/channels: the occupied channels.
func (d *Dialect) getChannels(r *http.Request, a *app, _ []byte) (any, *restError) {
	q := r.URL.Query()
	prefix := q.Get("filter_by_prefix")
	info, e := parseInfo(q.Get("info"), false)
	if e != nil {
		return nil, e
	}
	if info.subscriptionCount {
		return nil, badRequest("info=subscription_count is not available for the channel list; ask GET /channels/{name}")
	}
	if info.userCount && !strings.HasPrefix(prefix, prefixPresence) {
		return nil, badRequest("info=user_count needs filter_by_prefix=presence-")
	}
	out := map[string]channelAttrs{}
	for _, c := range d.occupiedChannels(r.Context(), a.hubChannel(prefix)) {
		name := strings.TrimPrefix(c.Name, a.hubPrefix)
		if strings.HasPrefix(name, "#") {
			continue // internal channels: user, online and watcher channels
		}
		out[name] = d.channelAttrs(r, a, name, info)
	}
	return map[string]any{"channels": out}, nil
}

// getChannel serves GET /apps/{id}/channels/{name}.
func (d *Dialect) getChannel(r *http.Request, a *app, _ []byte) (any, *restError) {
	name := r.PathValue("channel_name")
	if msg := channelNameProblem(name); msg != "" {
		return nil, badRequest("%s", msg)
	}
	info, e := parseInfo(r.URL.Query().Get("info"), true)
	if e != nil {
		return nil, e
	}
	if info.userCount && typeOf(name).kind != kindPresence {
		return nil, badRequest("info=user_count is only for presence channels")
	}
	if info.cache && !typeOf(name).cache {
		return nil, badRequest("info=cache is only for cache channels")
	}
	occupied := d.subscriberCount(r.Context(), a.hubChannel(name)) > 0
	var c channelAttrs
	if occupied {
		c = d.channelAttrs(r, a, name, info)
	} else if info.cache {
		c = d.channelAttrs(r, a, name, infoAttrs{cache: true})
	}
	c.Occupied = &occupied
	return c, nil
}

// getUsers serves GET /apps/{id}/channels/{name}/users.
func (d *Dialect) getUsers(r *http.Request, a *app, _ []byte) (any, *restError) {
	name := r.PathValue("channel_name")
	if msg := channelNameProblem(name); msg != "" {
		return nil, badRequest("%s", msg)
	}
	if typeOf(name).kind != kindPresence {
		return nil, badRequest("Users are only listed for presence channels; %q is not one", truncate(name, 60))
	}
	ms, err := d.hub.Members(r.Context(), a.hubChannel(name))
	if err != nil {
		return nil, &restError{http.StatusInternalServerError, "Reading the members failed on the server; try again"}
	}
	type user struct {
		ID string `json:"id"`
	}
	users := make([]user, len(ms))
	for i, m := range ms {
		users[i] = user{m.UserID}
	}
	return map[string]any{"users": users}, nil
}

// terminateConnections serves POST /apps/{id}/users/{user_id}/terminate_connections.
func (d *Dialect) terminateConnections(r *http.Request, a *app, _ []byte) (any, *restError) {
	id := r.PathValue("user_id")
	if id == "" {
		return nil, badRequest("Missing user id")
	}
	if err := d.terminate(a, id); err != nil {
		return nil, &restError{http.StatusInternalServerError, "Terminating failed on the server; try again"}
	}
	return struct{}{}, nil
}

// Pages of GET /apps/{id}/users.
const (
	onlineUsersPage    = 100  // users per page without limit
	maxOnlineUsersPage = 1000 // the largest limit
)

// getOnlineUsers serves GET /apps/{id}/users, Switchboard's extension: the
// users online in the whole cluster, as user_online and user_offline last
// reported them, sorted by id, a page at a time. A full page carries
// next_cursor, which the next call passes as cursor.
func (d *Dialect) getOnlineUsers(r *http.Request, a *app, _ []byte) (any, *restError) {
	if !d.current(a).userEvents {
		return nil, badRequest("Online users are not tracked for this app: set enable_user_online_events")
	}
	q := r.URL.Query()
	limit := onlineUsersPage
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxOnlineUsersPage {
			return nil, badRequest("limit %q is not a number from 1 to %d", truncate(s, 20), maxOnlineUsersPage)
		}
		limit = n
	}
	ids, err := d.edges.onlineUsers(r.Context(), a, q.Get("cursor"), limit)
	if err != nil {
		d.log.Error("pusher: reading the online users failed", "app_id", a.id, "err", err)
		return nil, &restError{http.StatusInternalServerError, "Reading the online users failed on the server; try again"}
	}
	type user struct {
		ID string `json:"id"`
	}
	out := struct {
		Users      []user `json:"users"`
		NextCursor string `json:"next_cursor,omitempty"`
	}{Users: make([]user, len(ids))}
	for i, id := range ids {
		out.Users[i] = user{id}
	}
	if len(ids) == limit {
		out.NextCursor = ids[len(ids)-1]
	}
	return out, nil
}
