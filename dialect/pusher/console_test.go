package pusher

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestWatchAndTrigger: a watch sees what the channel's subscribers get,
// counts as a subscriber while it lasts, and Trigger publishes as the REST
// API does.
func TestWatchAndTrigger(t *testing.T) {
	a := testApp()
	a.EnableClientMessages = true
	e := newEnv(t, a)
	events := make(chan Event, 16)
	stop, err := e.d.Watch(context.Background(), "app1", "presence-room", func(ev Event) bool { events <- ev; return true })
	if err != nil {
		t.Fatal(err)
	}
	next := func() Event {
		select {
		case ev := <-events:
			return ev
		case <-time.After(5 * time.Second):
			t.Fatal("no event within 5s")
			return Event{}
		}
	}
	if n := e.hub.SubscriberCount("pusher/app1/presence-room"); n != 1 {
		t.Errorf("%d subscribers while watched, want 1 (the watch)", n)
	}

	c := e.connect("key1")
	c.join("secret1", "key1", "presence-room", "ann")
	if ev := next(); ev.Event != "pusher_internal:member_added" {
		t.Errorf("watched %+v, want member_added", ev)
	}
	if err := e.d.Trigger("app1", "presence-room", "news", `{"a":1}`); err != nil {
		t.Fatal(err)
	}
	if ev := next(); ev.Event != "news" || ev.DataString() != `{"a":1}` {
		t.Errorf("watched %+v", ev)
	}
	if ev := c.expect("news"); ev.DataString() != `{"a":1}` {
		t.Errorf("the subscriber got %+v", ev)
	}

	var te *TriggerError
	if err := e.d.Trigger("app1", "bad channel", "x", ""); !errors.As(err, &te) {
		t.Errorf("a bad channel: %v, want a TriggerError", err)
	}
	if err := e.d.Trigger("nope", "c", "x", ""); !errors.Is(err, ErrUnknownApp) {
		t.Errorf("an unknown app: %v", err)
	}
	if _, err := e.d.Watch(context.Background(), "app1", "bad channel", func(Event) bool { return true }); err == nil {
		t.Error("watching a bad channel name succeeded")
	}

	stop()
	if n := e.hub.SubscriberCount("pusher/app1/presence-room"); n != 1 {
		t.Errorf("%d subscribers after the watch stopped, want 1 (the client)", n)
	}
}
