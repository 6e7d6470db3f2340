package tokens

import (
	"maps"
	"sync"
	"time"
)

// registry holds the registered tokens, from three sources. A token's value
// is the one of the highest source that has it: the HTTP API
// (registerToken, unregisterToken) over the last good list from
// RegisteredTokensUrl over the config file. A token none of them has is not
// registered. It is safe for concurrent use.
//
// The API's tokens live in the hub's SharedStore (shared.go), so that every
// node sees them; api is this node's copy of them, which the handshake
// reads. It learns of other nodes' changes when it asks the store about a
// token it does not register (remembering a "no" for negativeTTL) and at
// every resync.
type registry struct {
	mu     sync.RWMutex
	static map[string]bool      // from the config file; never changes
	remote map[string]bool      // the last good RegisteredTokensUrl list; replaced whole
	api    map[string]apiValue  // the shared store's tokens, as this node last saw them
	gen    uint64               // counts the changes of api
	neg    map[string]time.Time // tokens the store did not register, and until when to believe it
}

// apiValue is one token set through the API, and the registry's gen when
// this node learnt it. own is set when this node's own API call set it and
// the store has not since told another value: only such tokens are written
// back to a store that lost them (see merge).
type apiValue struct {
	v   bool
	own bool
	gen uint64
}

func newRegistry(static []string) *registry {
	r := &registry{static: make(map[string]bool, len(static)), api: make(map[string]apiValue), neg: make(map[string]time.Time)}
	for _, t := range static {
		r.static[t] = true
	}
	return r
}

// registered reports whether token is registered with the value true, as
// far as this node knows.
func (r *registry) registered(token string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if v, ok := r.api[token]; ok {
		return v.v
	}
	if v, ok := r.remote[token]; ok {
		return v
	}
	return r.static[token]
}

// set records token with value v from this node's API call.
func (r *registry) set(token string, v bool) {
	r.mu.Lock()
	r.gen++
	r.api[token] = apiValue{v: v, own: true, gen: r.gen}
	delete(r.neg, token)
	r.mu.Unlock()
}

// learn records token with value v as the shared store answered it, read
// after generation() returned since. It changes nothing, and returns
// false, when this node's entry for token changed since (a local
// registerToken or unregisterToken, or a resync, may be newer than the
// answer).
func (r *registry) learn(token string, v bool, since uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur, ok := r.api[token]
	if ok && cur.gen > since {
		return false
	}
	if ok && cur.v == v {
		return true
	}
	r.gen++
	r.api[token] = apiValue{v: v, gen: r.gen}
	delete(r.neg, token)
	return true
}

// listed reports whether the config file or the RegisteredTokensUrl list
// has token: its unregistration must then be kept (an "0" that expired
// would register it again).
func (r *registry) listed(token string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, inStatic := r.static[token]
	_, inRemote := r.remote[token]
	return inStatic || inRemote
}

// generation returns the current gen, to pass to merge.
func (r *registry) generation() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.gen
}

// merge applies all, the shared store's tokens read after generation()
// returned since: every token takes the store's value, except those set on
// this node since (the store's answer may predate them). A token this node
// had before since and the store lacks is either lost (a Redis that
// restarted empty) or gone (an unregistration that expired): merge returns
// those to write back, with their values, and forgets the others. Written
// back are the registrations this node's own API call made and the store
// has not changed since (another node's are written back by that node),
// and the unregistrations of tokens of the config file or
// RegisteredTokensUrl (stored without expiry, so missing means lost). An
// unregistration that expired is never resurrected.
func (r *registry) merge(all map[string]bool, since uint64) (lost map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for t, v := range all {
		if cur, ok := r.api[t]; ok && (cur.gen > since || cur.v == v) {
			continue
		}
		r.gen++
		r.api[t] = apiValue{v: v, gen: r.gen}
		delete(r.neg, t)
	}
	for t, cur := range r.api {
		if _, ok := all[t]; ok || cur.gen > since {
			continue
		}
		_, inStatic := r.static[t]
		_, inRemote := r.remote[t]
		if (cur.own && cur.v) || (!cur.v && (inStatic || inRemote)) {
			if lost == nil {
				lost = make(map[string]bool)
			}
			lost[t] = cur.v
			continue
		}
		r.gen++
		delete(r.api, t)
	}
	return lost
}

// refusedRecently reports whether the shared store was asked about token
// less than negativeTTL before now and did not register it.
func (r *registry) refusedRecently(token string, now time.Time) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	until, ok := r.neg[token]
	return ok && now.Before(until)
}

// refused remembers until then that the store does not register token. The
// memory is bounded: when it holds maxNegative tokens it is emptied.
func (r *registry) refused(token string, until time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.neg) >= maxNegative {
		clear(r.neg)
	}
	r.neg[token] = until
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
	for t, v := range r.api {
		out[t] = v.v
	}
	return out
}
