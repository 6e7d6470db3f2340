package pusher

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestPublicPrivateEncryptedSubscribe(t *testing.T) {
	e := newEnv(t)
	c := e.connect("key1")
	for _, ch := range []string{"news", "private-a", "private-encrypted-a"} {
		ev := c.join("secret1", "key1", ch, "")
		if ev.DataString() != "{}" {
			t.Errorf("%s: subscription_succeeded data %q", ch, ev.DataString())
		}
	}
	if n := e.hub.SubscriberCount("pusher/app1/private-a"); n != 1 {
		t.Errorf("hub has %d subscribers on private-a", n)
	}
	// Subscribing again confirms again and changes nothing.
	c.join("secret1", "key1", "news", "")
	if n := e.hub.SubscriberCount("pusher/app1/news"); n != 1 {
		t.Errorf("hub has %d subscribers on news", n)
	}
	// Unsubscribing has no answer and leaves the hub.
	c.send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]any{"channel": "news"}})
	c.quiet()
	if n := e.hub.SubscriberCount("pusher/app1/news"); n != 0 {
		t.Errorf("hub has %d subscribers on news after unsubscribe", n)
	}
}

// Every refused subscription is a pusher:subscription_error on the channel
// with a type and an HTTP-like status, and the connection stays usable.
func TestSubscriptionErrors(t *testing.T) {
	small := testApp()
	small.MaxPresenceMembers = 1
	small.MaxPresenceMemberSizeKB = 1
	e := newEnv(t, small)
	other := e.connect("key1")
	other.join("secret1", "key1", "presence-full", "someone")

	c := e.connect("key1")
	sig := func(msg string) string { return "key1:" + sign([]byte("secret1"), msg) }
	cd := `{"user_id":"u1"}`
	for _, tt := range []struct {
		name, channel, auth, channelData string
		typ                              string
		status                           int
	}{
		{"invalid channel name", "bad name", "", "", "InvalidChannel", 400},
		{"channel name too long", strings.Repeat("x", 201), "", "", "InvalidChannel", 400},
		{"empty channel", "", "", "", "InvalidChannel", 400},
		{"private without auth", "private-a", "", "", "AuthError", 401},
		{"private with a bad signature", "private-a", "key1:" + strings.Repeat("0", 64), "", "AuthError", 401},
		{"private signed for another socket", "private-a", sig("1.2:private-a"), "", "AuthError", 401},
		{"private signed for another channel", "private-a", sig(c.socketID + ":private-b"), "", "AuthError", 401},
		{"private signed with another key", "private-a", "other:" + sign([]byte("secret1"), c.socketID+":private-a"), "", "AuthError", 401},
		{"private signed with another secret", "private-a", "key1:" + sign([]byte("nope"), c.socketID+":private-a"), "", "AuthError", 401},
		{"auth without a colon", "private-a", "key1", "", "AuthError", 401},
		{"encrypted without auth", "private-encrypted-a", "", "", "AuthError", 401},
		{"presence without auth", "presence-a", "", cd, "AuthError", 401},
		{"presence with channel_data changed", "presence-a", sig(c.socketID + ":presence-a:" + cd), `{"user_id":"u2"}`, "AuthError", 401},
		{"presence without channel_data", "presence-a", sig(c.socketID + ":presence-a"), "", "AuthError", 400},
		{"presence channel_data not JSON", "presence-a", sig(c.socketID + ":presence-a:x"), "x", "AuthError", 400},
		{"presence without user_id", "presence-a", sig(c.socketID + `:presence-a:{"user_info":{}}`), `{"user_info":{}}`, "AuthError", 400},
		{"presence user_info too large", "presence-a", sig(c.socketID + `:presence-a:{"user_id":"u","user_info":"` + strings.Repeat("x", 1100) + `"}`), `{"user_id":"u","user_info":"` + strings.Repeat("x", 1100) + `"}`, "LimitReached", 4100},
		{"presence channel full", "presence-full", sig(c.socketID + ":presence-full:" + cd), cd, "LimitReached", 4100},
		{"another user's channel", "#server-to-user-u1", "", "", "AuthError", 403},
	} {
		t.Run(tt.name, func(t *testing.T) {
			defer c.during(t)()
			c.subscribe(tt.channel, tt.auth, tt.channelData)
			d := c.subscriptionError(tt.channel)
			if d.Type != tt.typ || d.Status != tt.status || d.Error == "" {
				t.Errorf("subscription_error data %+v, want type %s status %d", d, tt.typ, tt.status)
			}
			c.quiet()
		})
	}
	if len(c.channelsOnHub(e)) != 0 {
		t.Errorf("refused subscriptions reached the hub: %v", c.channelsOnHub(e))
	}
	// The connection is still usable.
	c.join("secret1", "key1", "private-a", "")
}

// channelsOnHub lists the app1 channels with subscribers.
func (c *client) channelsOnHub(e *env) []string {
	var out []string
	for _, ch := range e.hub.Channels("pusher/app1/") {
		if ch.Name != "pusher/app1/presence-full" {
			out = append(out, ch.Name)
		}
	}
	return out
}

// A user with two connections is one member: member_added comes once, when
// the first connection joins, and member_removed once, when the last
// leaves; other members see user_id and user_info.
func TestPresenceTwoConnectionsOneUser(t *testing.T) {
	e := newEnv(t)
	const ch = "presence-room"
	watcher := e.connect("key1")
	ev := watcher.join("secret1", "key1", ch, "w")
	var p presenceData
	watcher.data(ev, &p)
	if p.Presence.Count != 1 || !reflect.DeepEqual(p.Presence.IDs, []string{"w"}) {
		t.Fatalf("first member sees %+v", p)
	}

	a1 := e.connect("key1")
	a1.join("secret1", "key1", ch, "alice")
	ev = watcher.expectOn("pusher_internal:member_added", ch)
	var m memberData
	watcher.data(ev, &m)
	if m.UserID != "alice" || string(m.UserInfo) != `{"name":"alice name"}` {
		t.Errorf("member_added %+v", m)
	}

	a2 := e.connect("key1")
	ev = a2.join("secret1", "key1", ch, "alice")
	a2.data(ev, &p)
	if p.Presence.Count != 2 || !reflect.DeepEqual(p.Presence.IDs, []string{"alice", "w"}) ||
		string(p.Presence.Hash["alice"]) != `{"name":"alice name"}` {
		t.Errorf("second connection of alice sees %+v", p)
	}
	watcher.quiet() // no second member_added
	a1.quiet()      // the joining user is not told about itself

	a1.send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]any{"channel": ch}})
	a1.quiet()
	watcher.quiet() // alice is still present through a2

	status, body := e.rest("GET", "/apps/app1/channels/"+ch+"/users", nil, nil)
	if status != 200 || body != `{"users":[{"id":"alice"},{"id":"w"}]}` {
		t.Errorf("users: %d %s", status, body)
	}

	_ = a2.c.CloseNow() // the last connection of alice goes
	ev = watcher.expectOn("pusher_internal:member_removed", ch)
	watcher.data(ev, &m)
	if m.UserID != "alice" {
		t.Errorf("member_removed %+v", m)
	}
}

// Laravel signs presence channel_data with integer user ids.
func TestPresenceNumericUserID(t *testing.T) {
	e := newEnv(t)
	c := e.connect("key1")
	cd := `{"user_id":42,"user_info":{"name":"Taylor"}}`
	c.subscribe("presence-chat", "key1:"+sign([]byte("secret1"), c.socketID+":presence-chat:"+cd), cd)
	ev := c.expectOn("pusher_internal:subscription_succeeded", "presence-chat")
	var p presenceData
	c.data(ev, &p)
	if !reflect.DeepEqual(p.Presence.IDs, []string{"42"}) || string(p.Presence.Hash["42"]) != `{"name":"Taylor"}` {
		t.Errorf("presence %+v", p)
	}
}

// Subscribe data may come as a JSON string instead of an object.
func TestSubscribeDataAsString(t *testing.T) {
	e := newEnv(t)
	c := e.connect("key1")
	c.send(map[string]any{"event": "pusher:subscribe", "data": `{"channel":"news"}`})
	c.expectOn("pusher_internal:subscription_succeeded", "news")
}

func TestSubscriptionCount(t *testing.T) {
	a := testApp()
	a.EnableSubscriptionCount = true
	e := newEnv(t, a)
	c1 := e.connect("key1")
	c1.join("secret1", "key1", "news", "")
	want := func(c *client, n int) {
		t.Helper()
		ev := c.expectOn("pusher_internal:subscription_count", "news")
		var d struct {
			Count int `json:"subscription_count"`
		}
		c.data(ev, &d)
		if d.Count != n {
			t.Errorf("subscription_count %d, want %d", d.Count, n)
		}
	}
	want(c1, 1)
	c2 := e.connect("key1")
	c2.join("secret1", "key1", "news", "")
	want(c1, 2)
	want(c2, 2)
	_ = c2.c.CloseNow()
	want(c1, 1)
}

// Many channels on one connection: each is left when it closes.
func TestCloseLeavesEveryChannel(t *testing.T) {
	e := newEnv(t)
	c := e.connect("key1")
	for i := range 20 {
		c.join("secret1", "key1", fmt.Sprintf("ch-%d", i), "")
	}
	c.join("secret1", "key1", "presence-x", "u")
	_ = c.c.CloseNow()
	waitUntil(t, func() bool { return len(e.hub.Channels("pusher/")) == 0 })
	ms, _ := e.hub.Members(context.Background(), "pusher/app1/presence-x")
	if len(ms) != 0 {
		t.Errorf("members left: %v", ms)
	}
}

func TestPresenceLimitAllowsKnownUser(t *testing.T) {
	a := testApp()
	a.MaxPresenceMembers = 1
	e := newEnv(t, a)
	e.connect("key1").join("secret1", "key1", "presence-one", "u")
	e.connect("key1").join("secret1", "key1", "presence-one", "u") // same user: not a new member
}

// max_channels_per_connection: a subscription over it is refused with
// LimitReached 4100, before the signature is checked and before the hub or
// webhooks hear of it; the connection stays usable: its channels are
// confirmed again, the user's own channel does not count, and leaving a
// channel makes room for another.
func TestChannelsPerConnectionLimit(t *testing.T) {
	hs := newHookServer(t, 0)
	a := hookApp(hs.srv.URL, "channel_occupied", "channel_vacated")
	a.MaxChannelsPerConnection = 3
	e := newEnv(t, a)
	c := e.connect("key1")
	for _, ch := range []string{"a", "private-b", "presence-c"} {
		c.join("secret1", "key1", ch, "u1")
	}
	sig := func(msg string) string { return "key1:" + sign([]byte("secret1"), msg) }
	cd := `{"user_id":"u1"}`
	for _, tt := range []struct{ name, channel, auth, channelData string }{
		{"public", "d", "", ""},
		{"private", "private-d", sig(c.socketID + ":private-d"), ""},
		{"private with a bad signature", "private-e", "key1:" + strings.Repeat("0", 64), ""},
		{"presence", "presence-d", sig(c.socketID + ":presence-d:" + cd), cd},
		{"encrypted", "private-encrypted-d", sig(c.socketID + ":private-encrypted-d"), ""},
		{"cache", "cache-d", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			defer c.during(t)()
			c.subscribe(tt.channel, tt.auth, tt.channelData)
			d := c.subscriptionError(tt.channel)
			if d.Type != "LimitReached" || d.Status != 4100 || !strings.Contains(d.Error, "at most 3") {
				t.Errorf("subscription_error data %+v, want LimitReached 4100 naming the limit", d)
			}
			c.quiet()
		})
	}
	if errs := e.d.stats.subscriptionErrors.Load(); errs != 6 {
		t.Errorf("%d subscription errors counted, want 6", errs)
	}
	onHub := func() []string {
		var out []string
		for _, ch := range e.hub.Channels("pusher/app1/") {
			if !strings.HasPrefix(ch.Name, "pusher/app1/#") {
				out = append(out, strings.TrimPrefix(ch.Name, "pusher/app1/"))
			}
		}
		slices.Sort(out)
		return out
	}
	if got := onHub(); !slices.Equal(got, []string{"a", "presence-c", "private-b"}) {
		t.Errorf("channels on the hub %v", got)
	}

	// Still usable: a channel it has is confirmed again, and the signed-in
	// user's own channel is not one of the three.
	c.join("secret1", "key1", "a", "")
	c.signin("secret1", "key1", `{"id":"u1"}`)
	c.join("secret1", "key1", "#server-to-user-u1", "")
	// Leaving one makes room for one.
	c.send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]any{"channel": "a"}})
	c.join("secret1", "key1", "d", "")
	c.subscribe("e", "", "")
	c.expectOn("pusher:subscription_error", "e")
	// The limit is per connection.
	e.connect("key1").join("secret1", "key1", "e", "")

	// Webhooks heard of the subscriptions that were made, in order, and of
	// no refused one.
	var got []string
	for _, ev := range hs.events(t, 6) {
		got = append(got, ev["name"].(string)+" "+ev["channel"].(string))
	}
	want := []string{"channel_occupied a", "channel_occupied private-b", "channel_occupied presence-c",
		"channel_vacated a", "channel_occupied d", "channel_occupied e"}
	if !slices.Equal(got, want) {
		t.Errorf("webhooks\n got %v\nwant %v", got, want)
	}
}

// The default limit is 100 channels.
func TestChannelsPerConnectionDefault(t *testing.T) {
	e := newEnv(t)
	c := e.connect("key1")
	for i := range 100 {
		c.join("secret1", "key1", fmt.Sprintf("ch-%d", i), "")
	}
	c.subscribe("ch-100", "", "")
	d := c.subscriptionError("ch-100")
	if d.Type != "LimitReached" || d.Status != 4100 || !strings.Contains(d.Error, "at most 100") {
		t.Errorf("subscription_error data %+v", d)
	}
}
