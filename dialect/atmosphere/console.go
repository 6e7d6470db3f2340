package atmosphere

import (
	"slices"
	"strings"
	"time"
)

// TrackerChannelKind is one kind of hub channel the dialect keeps per
// tracker: subscribers to a tracker's events of that kind share it.
type TrackerChannelKind struct {
	// Name is the kind, such as "state".
	Name string
	// Prefix is what the hub's names of such channels start with; the
	// tracker id follows.
	Prefix string
}

// TrackerChannelKinds lists the kinds of per-tracker hub channels, for
// tools that list channels (the console).
func TrackerChannelKinds() []TrackerChannelKind {
	out := make([]TrackerChannelKind, len(chanPrefixes))
	for k, p := range chanPrefixes {
		out[k] = TrackerChannelKind{Name: strings.TrimSuffix(strings.TrimPrefix(p, "atmo:"), ":"), Prefix: p}
	}
	return out
}

// SessionSummary is one user/auth session or API key known on this node,
// without its hash or key.
type SessionSummary struct {
	// Tag is a short, non-secret prefix of the session's hash, as in logs.
	Tag string
	// User is the login the session acts for.
	User string
	// APIKey reports an API key rather than a user/auth session.
	APIKey bool
	// LastUsed is its last use known on this node (zero for an API key
	// never used here).
	LastUsed time.Time
	// Connections counts this node's clients with subscriptions made with it.
	Connections int
	// Trackers is how many trackers it may subscribe to.
	Trackers int
}

// Sessions returns the sessions and API keys this node knows, most
// recently used first, for tools that list them (the console).
func (d *Dialect) Sessions() []SessionSummary {
	a := d.auth
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]SessionSummary, 0, len(a.sessions)+len(a.keys))
	add := func(s *session) {
		if s.ended {
			return
		}
		n := len(s.user.trackers)
		if s.apiKey && s.scope != nil {
			n = len(s.scope)
		}
		out = append(out, SessionSummary{Tag: s.tag, User: s.user.login, APIKey: s.apiKey, LastUsed: s.lastUsed, Connections: len(s.clients), Trackers: n})
	}
	for _, s := range a.sessions {
		add(s)
	}
	for _, s := range a.keys {
		add(s)
	}
	slices.SortFunc(out, func(x, y SessionSummary) int {
		if c := y.LastUsed.Compare(x.LastUsed); c != 0 {
			return c
		}
		return strings.Compare(x.Tag, y.Tag)
	})
	return out
}
