package atmosphere

import "strings"

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
