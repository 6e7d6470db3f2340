package atmosphere

import "testing"

func TestSessions(t *testing.T) {
	e := newEnv(t, nil)
	hash := e.login("bob", bobPassword)
	c := e.dial("")
	c.subscribe(hash, `[{"type":"state","trackers":[4]}]`)
	var bob SessionSummary
	waitFor(t, "bob's session with its client", func() bool {
		for _, s := range e.d.Sessions() {
			if s.User == "bob" && !s.APIKey {
				bob = s
				return s.Connections == 1
			}
		}
		return false
	})
	if bob.Trackers != 1 || bob.Tag == "" || len(bob.Tag) >= len(hash) || bob.LastUsed.IsZero() {
		t.Errorf("bob's session %+v", bob)
	}
	keys := 0
	for _, s := range e.d.Sessions() {
		if s.APIKey {
			keys++
			if s.User != "alice" || s.Trackers != 2 {
				t.Errorf("API key %+v, want alice's with 2 trackers", s)
			}
		}
	}
	if keys != 1 {
		t.Errorf("%d API keys listed, want 1", keys)
	}
}
