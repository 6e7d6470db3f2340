package pusher

import (
	"strings"
	"testing"
)

func clientEvent(name, channel string, data any) map[string]any {
	return map[string]any{"event": name, "channel": channel, "data": data}
}

// Client events reach every other subscriber, never the sender; on
// presence channels they carry the sender's user_id.
func TestClientEventDelivery(t *testing.T) {
	e := newEnv(t)
	sender, other := e.connect("key1"), e.connect("key1")
	for _, c := range []*client{sender, other} {
		c.join("secret1", "key1", "private-chat", "")
	}
	sender.join("secret1", "key1", "presence-room", "alice")
	other.join("secret1", "key1", "presence-room", "bob")
	sender.expectOn("pusher_internal:member_added", "presence-room")

	sender.send(clientEvent("client-typing", "private-chat", map[string]any{"who": "alice"}))
	ev := other.expectOn("client-typing", "private-chat")
	if ev.DataString() != `{"who":"alice"}` || ev.UserID != "" {
		t.Errorf("private client event %+v (data %s)", ev, ev.DataString())
	}
	sender.send(clientEvent("client-wave", "presence-room", "hi"))
	ev = other.expectOn("client-wave", "presence-room")
	if ev.DataString() != "hi" || ev.UserID != "alice" {
		t.Errorf("presence client event %+v (data %s)", ev, ev.DataString())
	}
	sender.quiet() // nothing came back to the sender
}

// Each rule for client events, answered with pusher:error (code null) and
// nothing relayed; the connection stays open.
func TestClientEventRules(t *testing.T) {
	off := testApp()
	off.ID, off.Key, off.EnableClientMessages = "app2", "key2", false
	e := newEnv(t, testApp(), off)
	c, other := e.connect("key1"), e.connect("key1")
	for _, cl := range []*client{c, other} {
		for _, ch := range []string{"news", "private-encrypted-x", "private-a"} {
			cl.join("secret1", "key1", ch, "")
		}
	}
	other.join("secret1", "key1", "private-b", "")
	for _, tt := range []struct {
		name  string
		event map[string]any
	}{
		{"public channel", clientEvent("client-x", "news", "d")},
		{"encrypted channel", clientEvent("client-x", "private-encrypted-x", "d")},
		{"not subscribed", clientEvent("client-x", "private-b", "d")},
		{"event name too long", clientEvent("client-"+strings.Repeat("x", 200), "private-a", "d")},
		{"data too large", clientEvent("client-x", "private-a", strings.Repeat("x", 10*1024+1))},
		{"no channel", clientEvent("client-x", "", "d")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			defer c.during(t)()
			c.send(tt.event)
			ev := c.expect("pusher:error")
			var d errorData
			c.data(ev, &d)
			if d.Code != nil || !strings.Contains(d.Message, "rejected") {
				t.Errorf("error %+v", d)
			}
		})
	}
	other.quiet() // nothing was relayed

	c2 := e.connect("key2")
	c2.send(clientEvent("client-x", "private-a", "d"))
	ev := c2.expect("pusher:error")
	var d errorData
	c2.data(ev, &d)
	if d.Code != nil || !strings.Contains(d.Message, "enable") {
		t.Errorf("disabled client events: %+v", d)
	}
}

// Over max_client_events_per_second, a client event is refused with 4301
// and the connection stays open.
func TestClientEventRateLimit(t *testing.T) {
	e := newEnv(t) // 10 per second
	c, other := e.connect("key1"), e.connect("key1")
	c.join("secret1", "key1", "private-a", "")
	other.join("secret1", "key1", "private-a", "")
	// 21 events within at most two clock seconds: at least one is over.
	const sent = 21
	for range sent {
		c.send(clientEvent("client-x", "private-a", "d"))
	}
	limited := 0
	for _, ev := range c.untilPong() {
		var d errorData
		c.data(ev, &d)
		if ev.Event != "pusher:error" || d.Code == nil || *d.Code != int(CodeClientEventRejected) {
			t.Fatalf("got %s %+v, want pusher:error 4301", ev.Event, d)
		}
		limited++
	}
	if limited == 0 || limited > sent-10 {
		t.Errorf("%d of %d events rate-limited", limited, sent)
	}
	if got := len(other.untilPong()); got != sent-limited {
		t.Errorf("other got %d events, want %d", got, sent-limited)
	}
	c.join("secret1", "key1", "private-b", "") // still open
}

// A client event the server fails to publish is answered with pusher:error
// (code null, saying it was not delivered), is not counted as relayed nor
// sent to webhooks, and the connection stays usable.
func TestClientEventPublishFails(t *testing.T) {
	hs := newHookServer(t, 0)
	e := newFailingEnv(t, hookApp(hs.srv.URL, "client_event"))
	c, other := e.connect("key1"), e.connect("key1")
	for _, cl := range []*client{c, other} {
		cl.join("secret1", "key1", "private-broken", "")
		cl.join("secret1", "key1", "private-ok", "")
	}
	c.send(clientEvent("client-x", "private-broken", "d"))
	ev := c.expect("pusher:error")
	var d errorData
	c.data(ev, &d)
	if d.Code != nil || !strings.Contains(d.Message, "not delivered") {
		t.Errorf("error %+v, want code null and a message saying it was not delivered", d)
	}
	c.send(clientEvent("client-y", "private-ok", "d"))
	other.expectOn("client-y", "private-ok") // and nothing before it
	c.quiet()
	if got := hs.events(t, 1); len(got) != 1 || got[0]["event"] != "client-y" {
		t.Errorf("webhooks %v, want only client-y", got)
	}
	if relayed, rejected := e.d.stats.clientEvents.Load(), e.d.stats.clientEventsRejected.Load(); relayed != 1 || rejected != 1 {
		t.Errorf("%d relayed, %d rejected; want 1 and 1", relayed, rejected)
	}
	if !strings.Contains(e.logs.String(), "publish failed") {
		t.Errorf("the failure is not logged:\n%s", e.logs.String())
	}
}
