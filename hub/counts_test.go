package hub

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/switchboard-rt/switchboard/bus"
)

// With one node, the cluster answers are the node's.
func TestClusterCountsOneNode(t *testing.T) {
	h := newHub(t, nil)
	ctx := context.Background()
	ids := []SubscriberID{h.NewID(), h.NewID(), h.NewID()}
	for _, id := range ids[:2] {
		if _, err := h.Subscribe(ctx, "app/a", id, &nopSub{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.Subscribe(ctx, "app/b", ids[2], &nopSub{}); err != nil {
		t.Fatal(err)
	}
	// Re-subscribing an id replaces it: no new count.
	if _, err := h.Subscribe(ctx, "app/a", ids[0], &nopSub{}); err != nil {
		t.Fatal(err)
	}
	check := func(step string) {
		t.Helper()
		for _, ch := range []string{"app/a", "app/b", "none"} {
			n, err := h.ClusterSubscriberCount(ctx, ch)
			if err != nil || n != h.SubscriberCount(ch) {
				t.Errorf("%s: ClusterSubscriberCount(%q) = %d, %v; SubscriberCount %d", step, ch, n, err, h.SubscriberCount(ch))
			}
		}
		got, err := h.ClusterChannels(ctx, "app/")
		if want := h.Channels("app/"); err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: ClusterChannels = %+v, %v; Channels %+v", step, got, err, want)
		}
	}
	check("subscribed")
	h.Unsubscribe("app/a", ids[0])
	h.Unsubscribe("app/b", ids[2])
	check("unsubscribed")
	if got, _ := h.ClusterChannels(ctx, ""); len(got) != 1 {
		t.Errorf("ClusterChannels(\"\") = %+v, want app/a only", got)
	}

	h.AddConnections("pusher/1", 1)
	h.AddConnections("pusher/1", 1)
	h.AddConnections("pusher/2", 1)
	h.AddConnections("pusher/2", -1)
	if n, _ := h.ConnectionCount(ctx, "pusher/1"); n != 2 {
		t.Errorf("ConnectionCount = %d, want 2", n)
	}
	if kcs, _ := h.ConnectionCounts(ctx, "pusher/"); !slices.Equal(kcs, []KeyCount{{Key: "pusher/1", Count: 2}}) {
		t.Errorf("ConnectionCounts = %+v", kcs)
	}
}

// watchingPresence is a MemoryPresence that reports changes, as a shared
// store does.
type watchingPresence struct {
	*bus.MemoryPresence
	f func([]MemberChange)
}

func (w *watchingPresence) Watch(f func([]MemberChange)) { w.f = f }

func TestOnMemberChange(t *testing.T) {
	p := &watchingPresence{MemoryPresence: bus.NewMemoryPresence()}
	h := newHub(t, &Options{Backend: bus.Backend{Presence: p}})
	if p.f == nil {
		t.Fatal("New did not call Watch")
	}
	var got []MemberChange
	h.OnMemberChange(func(c MemberChange) { got = append(got, c) })
	h.OnMemberChange(func(c MemberChange) { got = append(got, c) })
	p.f([]MemberChange{{Channel: "p", UserID: "u", Info: json.RawMessage(`1`), Added: true}, {Channel: "p", UserID: "v"}})
	if len(got) != 4 || got[0].UserID != "u" || got[1].UserID != "u" || got[2].UserID != "v" || got[3].Added {
		t.Errorf("hooks got %+v", got)
	}
}
