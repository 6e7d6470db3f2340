package pusher

import (
	"testing"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/ws"
)

// watchedPresence is a presence store that reports changes found by
// itself, as a shared store does when a node dies.
type watchedPresence struct {
	*bus.MemoryPresence
	report chan func([]hub.MemberChange)
}

func (w *watchedPresence) Watch(f func([]hub.MemberChange)) { w.report <- f }

// Members that leave with a dead node are announced as member_removed and
// offline, and those written back as member_added; other dialects'
// channels are left alone.
func TestMemberChangesFromTheCluster(t *testing.T) {
	store := &watchedPresence{MemoryPresence: bus.NewMemoryPresence(), report: make(chan func([]hub.MemberChange), 1)}
	e := newEnvHub(t, &hub.Options{Backend: bus.Backend{Presence: store}}, ws.Options{})
	report := <-store.report

	c := e.connect("key1")
	c.join("secret1", "key1", "presence-room", "alice")
	c.signin("secret1", "key1", `{"id":"alice","watchlist":["ghost"]}`)

	report([]hub.MemberChange{
		{Channel: "pusher/app1/presence-room", UserID: "ghost", Info: []byte(`{"n":1}`), Added: true},
		{Channel: "pusher/app1/presence-room", UserID: "ghost"},
		{Channel: "pusher/app1/#online-ghost", UserID: "ghost"},
		{Channel: "tokens/presence-room", UserID: "other"},
		{Channel: "pusher/nope/presence-room", UserID: "other"},
	})
	ev := c.expectOn("pusher_internal:member_added", "presence-room")
	var m memberData
	c.data(ev, &m)
	if m.UserID != "ghost" || string(m.UserInfo) != `{"n":1}` {
		t.Errorf("member_added %+v", m)
	}
	ev = c.expectOn("pusher_internal:member_removed", "presence-room")
	c.data(ev, &m)
	if m.UserID != "ghost" {
		t.Errorf("member_removed %+v", m)
	}
	ev = c.expect("pusher_internal:watchlist_events")
	if ev.DataString() != `{"events":[{"name":"offline","user_ids":["ghost"]}]}` {
		t.Errorf("watchlist %s", ev.DataString())
	}
	c.quiet()
}
