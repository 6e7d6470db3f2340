package pusher

import (
	"strings"
	"testing"
	"time"
)

// An app with event_prefix "broadcastt" speaks broadcastt: and
// broadcastt_internal: in both directions, and does not understand pusher:.
func TestBroadcasttPrefix(t *testing.T) {
	b := testApp()
	b.ID, b.Key, b.Secret, b.EventPrefix = "bapp", "bkey", "bsecret", "broadcastt"
	e := newEnv(t, testApp(), b)

	c := e.dial("/app/bkey?protocol=7")
	ev := c.expect("broadcastt:connection_established")
	var est struct {
		SocketID string `json:"socket_id"`
	}
	c.data(ev, &est)
	c.socketID = est.SocketID

	c.send(map[string]any{"event": "broadcastt:ping", "data": map[string]any{}})
	c.expect("broadcastt:pong")

	cd := `{"user_id":"u1"}`
	c.send(map[string]any{"event": "broadcastt:subscribe", "data": map[string]any{
		"channel": "presence-a", "auth": "bkey:" + sign([]byte("bsecret"), c.socketID+":presence-a:"+cd), "channel_data": cd,
	}})
	c.expectOn("broadcastt_internal:subscription_succeeded", "presence-a")

	other := e.dial("/app/bkey?protocol=7")
	c.data(other.expect("broadcastt:connection_established"), &est)
	other.socketID = est.SocketID
	cd2 := `{"user_id":"u2"}`
	other.send(map[string]any{"event": "broadcastt:subscribe", "data": map[string]any{
		"channel": "presence-a", "auth": "bkey:" + sign([]byte("bsecret"), other.socketID+":presence-a:"+cd2), "channel_data": cd2,
	}})
	other.expectOn("broadcastt_internal:subscription_succeeded", "presence-a")
	c.expectOn("broadcastt_internal:member_added", "presence-a")

	c.send(map[string]any{"event": "broadcastt:subscribe", "data": map[string]any{"channel": "private-x", "auth": "bkey:bad"}})
	c.expectOn("broadcastt:subscription_error", "private-x")

	c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": "news"}})
	ev = c.expect("broadcastt:error")
	if !strings.Contains(ev.DataString(), "pusher:subscribe") {
		t.Errorf("error %s", ev.DataString())
	}

	// REST publishes reach broadcastt apps unchanged: user events have no prefix.
	status, body := e.restAs("bkey", "bsecret", "POST", "/apps/bapp/events", map[string]any{"name": "hello", "channel": "presence-a", "data": "x"}, nil, time.Now())
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	c.expectOn("hello", "presence-a")

	// Refusals name the app's prefix too.
	off := e.dial("/app/bkey")
	off.expect("broadcastt:error")
	off.closedWith(int(CodeNoProtocol))
}
