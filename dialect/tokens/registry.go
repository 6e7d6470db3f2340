package tokens

import (
	"maps"
	"sync"
)

// registry holds the registered tokens, from three sources. A token's value
// is the one of the highest source that has it: the HTTP API
// (registerToken, unregisterToken) over the last good list from
// RegisteredTokensUrl over the config file. A token none of them has is not
// registered. It is safe for concurrent use.
type registry struct {
	mu     sync.RWMutex
	static map[string]bool // from the config file; never changes
	remote map[string]bool // the last good RegisteredTokensUrl list; replaced whole
	api    map[string]bool // set by the HTTP API
}

func newRegistry(static []string) *registry {
	r := &registry{static: make(map[string]bool, len(static)), api: make(map[string]bool)}
	for _, t := range static {
		r.static[t] = true
	}
	return r
}

// registered reports whether token is registered with the value true.
func (r *registry) registered(token string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if v, ok := r.api[token]; ok {
		return v
	}
	if v, ok := r.remote[token]; ok {
		return v
	}
	return r.static[token]
}

// set records token with value v from the HTTP API.
func (r *registry) set(token string, v bool) {
	r.mu.Lock()
	r.api[token] = v
	r.mu.Unlock()
}

// replaceRemote replaces the RegisteredTokensUrl list with list.
func (r *registry) replaceRemote(list map[string]bool) {
	r.mu.Lock()
	r.remote = list
	r.mu.Unlock()
}

// snapshot returns every known token with its value.
func (r *registry) snapshot() map[string]bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[string]bool, len(r.static)+len(r.remote)+len(r.api))
	maps.Copy(out, r.static)
	maps.Copy(out, r.remote)
	maps.Copy(out, r.api)
	return out
}
