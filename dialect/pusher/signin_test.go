package pusher

import (
	"reflect"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/config"
)

// signin signs in as the app's server would and waits for signin_success.
func (c *client) signin(secret, key, userData string) {
	c.t.Helper()
	c.send(map[string]any{"event": "pusher:signin", "data": map[string]any{
		"auth": key + ":" + sign([]byte(secret), c.socketID+"::user::"+userData), "user_data": userData,
	}})
	ev := c.expect("pusher:signin_success")
	var d struct {
		UserData string `json:"user_data"`
	}
	c.data(ev, &d)
	if d.UserData != userData {
		c.t.Fatalf("signin_success user_data %q, want %q", d.UserData, userData)
	}
}

// After sign-in, events sent to the user reach all its connections (after
// pusher-js's subscription to #server-to-user-{id}), and
// terminate_connections closes them all with 4009.
func TestSigninSendToUserAndTerminate(t *testing.T) {
	e := newEnv(t)
	a1, a2, bob := e.connect("key1"), e.connect("key1"), e.connect("key1")
	for _, c := range []*client{a1, a2} {
		c.signin("secret1", "key1", `{"id":"alice","user_info":{"name":"Alice"}}`)
		c.join("", "", "#server-to-user-alice", "")
	}
	bob.signin("secret1", "key1", `{"id":"bob"}`)
	bob.subscribe("#server-to-user-alice", "", "")
	bob.expectOn("pusher:subscription_error", "#server-to-user-alice")

	e.trigger(map[string]any{"name": "notice", "channel": "#server-to-user-alice", "data": `{"hi":1}`})
	for _, c := range []*client{a1, a2} {
		if ev := c.expectOn("notice", "#server-to-user-alice"); ev.DataString() != `{"hi":1}` {
			t.Errorf("data %q", ev.DataString())
		}
	}
	bob.quiet()

	status, body := e.rest("POST", "/apps/app1/users/alice/terminate_connections", map[string]any{}, nil)
	if status != 200 || body != "{}" {
		t.Fatalf("terminate: %d %s", status, body)
	}
	a1.closedWith(int(CodeUnauthorized))
	a2.closedWith(int(CodeUnauthorized))
	bob.quiet()
}

// Each bad sign-in is answered with pusher:error 4009 and a close.
func TestSigninErrors(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		name     string
		userData string
		auth     func(sid, ud string) string
	}{
		{"bad signature", `{"id":"u"}`, func(sid, ud string) string { return "key1:00" }},
		{"signed for another socket", `{"id":"u"}`, func(sid, ud string) string { return "key1:" + sign([]byte("secret1"), "1.1::user::"+ud) }},
		{"wrong key", `{"id":"u"}`, func(sid, ud string) string { return "key2:" + sign([]byte("secret1"), sid+"::user::"+ud) }},
		{"no id", `{"user_info":{}}`, func(sid, ud string) string { return "key1:" + sign([]byte("secret1"), sid+"::user::"+ud) }},
		{"numeric id", `{"id":5}`, func(sid, ud string) string { return "key1:" + sign([]byte("secret1"), sid+"::user::"+ud) }},
		{"user_data not JSON", `x`, func(sid, ud string) string { return "key1:" + sign([]byte("secret1"), sid+"::user::"+ud) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := e.with(t)
			c := e.connect("key1")
			c.send(map[string]any{"event": "pusher:signin", "data": map[string]any{"auth": tt.auth(c.socketID, tt.userData), "user_data": tt.userData}})
			ev := c.expect("pusher:error")
			var d errorData
			c.data(ev, &d)
			if d.Code == nil || *d.Code != int(CodeUnauthorized) {
				t.Errorf("error %+v, want 4009", d)
			}
			c.closedWith(int(CodeUnauthorized))
		})
	}
}

func TestSigninDisabled(t *testing.T) {
	a := testApp()
	a.EnableUserAuthentication = false
	e := newEnv(t, a)
	c := e.connect("key1")
	ud := `{"id":"u"}`
	c.send(map[string]any{"event": "pusher:signin", "data": map[string]any{"auth": "key1:" + sign([]byte("secret1"), c.socketID+"::user::"+ud), "user_data": ud}})
	c.expect("pusher:error")
	c.quiet()
}

// With user_authentication_timeout, a connection that does not sign in
// in time is closed with 4009; one that does stays.
func TestUserAuthenticationTimeout(t *testing.T) {
	a := testApp()
	a.UserAuthenticationTimeout = config.Duration(150 * time.Millisecond)
	e := newEnv(t, a)
	signed := e.connect("key1")
	signed.signin("secret1", "key1", `{"id":"u"}`)
	lazy := e.connect("key1")
	lazy.closedWith(int(CodeUnauthorized))
	signed.quiet()
}

// A presence subscription without channel_data uses the signed-in user.
func TestPresenceFromSignin(t *testing.T) {
	e := newEnv(t)
	c := e.connect("key1")
	c.signin("secret1", "key1", `{"id":"u7","user_info":{"n":7}}`)
	c.subscribe("presence-x", "key1:"+sign([]byte("secret1"), c.socketID+":presence-x"), "")
	ev := c.expectOn("pusher_internal:subscription_succeeded", "presence-x")
	var p presenceData
	c.data(ev, &p)
	if !reflect.DeepEqual(p.Presence.IDs, []string{"u7"}) || string(p.Presence.Hash["u7"]) != `{"n":7}` {
		t.Errorf("presence %+v", p)
	}
}

// Watchlists: a signed-in user is told which watched users are online at
// sign-in, and when they come online or go offline (first and last
// connection).
func TestWatchlist(t *testing.T) {
	e := newEnv(t)
	bob1 := e.connect("key1")
	bob1.signin("secret1", "key1", `{"id":"bob"}`)

	alice := e.connect("key1")
	alice.send(map[string]any{"event": "pusher:signin", "data": map[string]any{
		"auth":      "key1:" + sign([]byte("secret1"), alice.socketID+`::user::{"id":"alice","watchlist":["bob","carol"]}`),
		"user_data": `{"id":"alice","watchlist":["bob","carol"]}`,
	}})
	alice.expect("pusher:signin_success")
	want := func(name string, ids ...string) {
		t.Helper()
		ev := alice.expect("pusher_internal:watchlist_events")
		var d struct {
			Events []watchlistEvent `json:"events"`
		}
		alice.data(ev, &d)
		if len(d.Events) != 1 || d.Events[0].Name != name || !reflect.DeepEqual(d.Events[0].UserIDs, ids) {
			t.Errorf("watchlist events %+v, want %s %v", d.Events, name, ids)
		}
	}
	want("online", "bob")

	carol := e.connect("key1")
	carol.signin("secret1", "key1", `{"id":"carol"}`)
	want("online", "carol")

	bob2 := e.connect("key1")
	bob2.signin("secret1", "key1", `{"id":"bob"}`)
	alice.quiet() // bob was online already

	_ = bob1.c.CloseNow()
	alice.quiet() // bob is still online through bob2
	_ = bob2.c.CloseNow()
	want("offline", "bob")
}
