package hub

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
)

func TestPresence(t *testing.T) {
	type step struct {
		op      string // "add", "remove"
		channel string
		user    string
		id      SubscriberID
		want    bool // added or removed
	}
	tests := []struct {
		name        string
		steps       []step
		wantMembers map[string][]string
	}{
		{
			name:        "join and leave",
			steps:       []step{{"add", "p", "u1", 1, true}, {"remove", "p", "u1", 1, true}},
			wantMembers: map[string][]string{"p": {}},
		},
		{
			name: "two connections of one user are one member",
			steps: []step{
				{"add", "p", "u1", 1, true}, {"add", "p", "u1", 2, false},
				{"remove", "p", "u1", 1, false}, {"remove", "p", "u1", 2, true},
			},
			wantMembers: map[string][]string{"p": {}},
		},
		{
			name: "second connection still present",
			steps: []step{
				{"add", "p", "u1", 1, true}, {"add", "p", "u1", 2, false}, {"remove", "p", "u1", 2, false},
			},
			wantMembers: map[string][]string{"p": {"u1"}},
		},
		{
			name:        "adding a connection twice",
			steps:       []step{{"add", "p", "u1", 1, true}, {"add", "p", "u1", 1, false}, {"remove", "p", "u1", 1, true}},
			wantMembers: map[string][]string{"p": {}},
		},
		{
			name:        "removing what is not there",
			steps:       []step{{"add", "p", "u1", 1, true}, {"remove", "p", "u1", 2, false}, {"remove", "p", "u2", 1, false}, {"remove", "q", "u1", 1, false}},
			wantMembers: map[string][]string{"p": {"u1"}},
		},
		{
			name: "users and channels",
			steps: []step{
				{"add", "p", "u2", 1, true}, {"add", "p", "u1", 2, true}, {"add", "q", "u1", 2, true},
			},
			wantMembers: map[string][]string{"p": {"u1", "u2"}, "q": {"u1"}},
		},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHub(t, nil)
			for i, s := range tt.steps {
				var got bool
				var err error
				if s.op == "add" {
					got, err = h.AddMember(ctx, s.channel, s.user, json.RawMessage(`{"name":"`+s.user+`"}`), s.id)
				} else {
					got, err = h.RemoveMember(ctx, s.channel, s.user, s.id)
				}
				if err != nil || got != s.want {
					t.Fatalf("step %d %s(%q, %q, %d) = %v, %v; want %v", i, s.op, s.channel, s.user, s.id, got, err, s.want)
				}
			}
			for ch, want := range tt.wantMembers {
				ms, err := h.Members(ctx, ch)
				if err != nil {
					t.Fatal(err)
				}
				got := []string{}
				for _, m := range ms {
					got = append(got, m.UserID)
					if string(m.Info) != `{"name":"`+m.UserID+`"}` {
						t.Errorf("member %q info %s", m.UserID, m.Info)
					}
				}
				if !slices.Equal(got, want) {
					t.Errorf("Members(%q) = %q, want %q", ch, got, want)
				}
			}
		})
	}
}

// The first connection's info stays: "member_added" was announced with it.
func TestPresenceKeepsFirstInfo(t *testing.T) {
	ctx := context.Background()
	h := newHub(t, nil)
	h.AddMember(ctx, "p", "u", json.RawMessage(`1`), 1)
	h.AddMember(ctx, "p", "u", json.RawMessage(`2`), 2)
	ms, _ := h.Members(ctx, "p")
	if len(ms) != 1 || string(ms[0].Info) != "1" {
		t.Errorf("Members = %+v", ms)
	}
}

// Connections of one user joining and leaving at once: the user joins and
// leaves as often, and is gone at the end.
func TestPresenceConcurrent(t *testing.T) {
	const conns, rounds = 8, 200
	ctx := context.Background()
	h := newHub(t, nil)
	var mu sync.Mutex
	joins, leaves := 0, 0
	var wg sync.WaitGroup
	for c := range conns {
		wg.Go(func() {
			for range rounds {
				added, err1 := h.AddMember(ctx, "presence-x", "u", nil, SubscriberID(c+1))
				removed, err2 := h.RemoveMember(ctx, "presence-x", "u", SubscriberID(c+1))
				if err1 != nil || err2 != nil {
					t.Error(err1, err2)
					return
				}
				mu.Lock()
				if added {
					joins++
				}
				if removed {
					leaves++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	ms, _ := h.Members(ctx, "presence-x")
	if joins == 0 || joins != leaves || len(ms) != 0 {
		t.Errorf("%d joins, %d leaves, %d members left", joins, leaves, len(ms))
	}
}
