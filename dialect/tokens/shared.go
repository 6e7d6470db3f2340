package tokens

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// The tokens registered through the HTTP API are kept in the hub's
// SharedStore, so that every node admits them: one node in memory, a
// cluster in Redis. This node reads its copy (registry.api) on the
// handshake; the store is asked
//
//   - when the copy does not register a token that a handshake, a
//     RegisterToken: frame or registerHttpClient asks for (read-through: a
//     token registered on another node a moment ago is admitted at once),
//     and its "no" is then believed for negativeTTL;
//   - every resyncInterval, for the whole space (All), which brings in the
//     other nodes' changes, unregistrations included, forgets the tokens
//     the store no longer has (an unregistration expires after
//     unregisteredTTL), and writes back what a Redis that restarted empty
//     lost of this node's own registrations (registry.merge);
//   - by registeredTokenList, which answers from the store.
//
// registerToken and unregisterToken write the store first and answer 503
// when it is unavailable (Redis down), changing nothing. Meanwhile this node
// serves from its copy, logging once when the store fails and once when it
// answers again. RegisteredTokensUrl is fetched by every node itself: with
// one config, every node has the same list.
const (
	// registeredSpace is the SharedStore space of the API's tokens: key the
	// token, value "1" (registerToken) or "0" (unregisterToken). A "1"
	// never expires; a "0" expires after unregisteredTTL, unless the token
	// is in the config file or the RegisteredTokensUrl list (its
	// unregistration must then last).
	registeredSpace = "tokens/registered"
	// unregisteredTTL is how long an unregistration of a token no list has
	// is kept in the store: every node's resync sees it many times first.
	unregisteredTTL = 10 * resyncInterval
	// resyncInterval is how often the copy is brought up to date with All:
	// an unregistration on another node reaches this node's handshakes
	// within it.
	resyncInterval = 10 * time.Second
	// resyncRetry is the wait after a failed resync: at start, while the
	// cluster bus connects, and while Redis is down.
	resyncRetry = time.Second
	// negativeTTL is how long the store's "not registered" is believed.
	negativeTTL = time.Second
	// maxNegative bounds the remembered "not registered" answers.
	maxNegative = 10000
	// sharedTimeout bounds one call to the shared store.
	sharedTimeout = 2 * time.Second
	// errorTTL is how long a failed read of one token is remembered: the
	// store is not asked about it again before.
	errorTTL = time.Second
)

// storeValue encodes a registration value for the store.
func storeValue(v bool) []byte {
	if v {
		return []byte("1")
	}
	return []byte("0")
}

// isRegistered reports whether token is registered with the value true:
// from this node's copy, or else from the shared store. Concurrent reads
// of one token are one store call (Dialect.lookups), and a failed read is
// not repeated for errorTTL.
func (d *Dialect) isRegistered(ctx context.Context, token string) bool {
	if d.reg.registered(token) {
		return true
	}
	now := time.Now()
	if d.reg.refusedRecently(token, now) {
		return false
	}
	// The store's answer is applied only if this node's entry for token
	// did not change meanwhile: a concurrent unregisterToken here is newer
	// than a "1" read before it.
	since := d.reg.generation()
	b, found, err := d.lookups.do(ctx, token, now, errorTTL, maxNegative, func(ctx context.Context) ([]byte, bool, error) {
		ctx, cancel := context.WithTimeout(ctx, sharedTimeout) // the dialect's, not the handshake's: others may wait
		defer cancel()
		return d.hub.Shared().Get(ctx, registeredSpace, token)
	})
	if err != nil {
		if !errors.Is(err, errRecentFailure) {
			d.sharedFailed(err)
		}
		return false
	}
	d.sharedOK()
	if !found {
		d.reg.refused(token, now.Add(negativeTTL))
		return false
	}
	v := string(b) == "1"
	if !d.reg.learn(token, v, since) {
		return d.reg.registered(token) // this node's newer value
	}
	if !v {
		d.reg.refused(token, now.Add(negativeTTL))
	}
	return v
}

// storeTTL is the expiry of token's value v in the store.
func (d *Dialect) storeTTL(token string, v bool) time.Duration {
	if v || d.reg.listed(token) {
		return 0
	}
	return unregisteredTTL
}

// setRegistered registers token with value v for every node: in the shared
// store, then in this node's copy. It changes nothing when the store fails.
func (d *Dialect) setRegistered(ctx context.Context, token string, v bool) error {
	ctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	defer cancel()
	if err := d.hub.Shared().Set(ctx, registeredSpace, token, storeValue(v), d.storeTTL(token, v)); err != nil {
		d.sharedFailed(err)
		return err
	}
	d.sharedOK()
	d.reg.set(token, v)
	return nil
}

// resync brings this node's copy up to date with the shared store and
// writes back the tokens the store lost.
func (d *Dialect) resync(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	defer cancel()
	since := d.reg.generation()
	raw, err := d.hub.Shared().All(ctx, registeredSpace)
	if err != nil {
		d.sharedFailed(err)
		return err
	}
	d.sharedOK()
	all := make(map[string]bool, len(raw))
	for t, b := range raw {
		all[t] = string(b) == "1"
	}
	lost := d.reg.merge(all, since)
	if len(lost) == 0 {
		return nil
	}
	d.log.Warn("registered tokens: the shared store lost tokens this node had; writing them back", "tokens", len(lost))
	for t, v := range lost {
		if err := d.hub.Shared().Set(ctx, registeredSpace, t, storeValue(v), d.storeTTL(t, v)); err != nil {
			d.sharedFailed(err)
			return err
		}
	}
	return nil
}

// syncLoop resyncs at once and then every resyncInterval (resyncRetry
// after a failure) until ctx is done.
func (d *Dialect) syncLoop(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		wait := resyncInterval
		if d.resync(ctx) != nil { // logged by sharedFailed
			wait = resyncRetry
		}
		t.Reset(wait)
	}
}

// tokenList answers registeredTokenList: every token with its value, the
// API's as the shared store has them now, or as this node last saw them
// when the store is unavailable.
func (d *Dialect) tokenList(ctx context.Context) map[string]bool {
	_ = d.resync(ctx)
	return d.reg.snapshot()
}

// States of the shared store as this node last found it (Dialect.shared).
const (
	sharedUnknown int32 = iota // no call has succeeded yet: a cluster bus may still be connecting
	sharedUp
	sharedDown
)

// sharedFailed logs the first failed shared store call after a success.
// Failures before the first success are not logged: at start the cluster
// bus connects, and it reports an unreachable Redis itself.
func (d *Dialect) sharedFailed(err error) {
	if d.ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return // shutting down, or the caller went away: says nothing of the store
	}
	if d.shared.Load() == sharedUp && d.shared.CompareAndSwap(sharedUp, sharedDown) {
		d.log.Warn("registered tokens: shared store unavailable; serving from this node's copy until it answers", "err", err)
	}
}

// sharedOK notes a successful shared store call, logging it when the store
// had failed.
func (d *Dialect) sharedOK() {
	switch d.shared.Load() {
	case sharedUnknown:
		d.shared.CompareAndSwap(sharedUnknown, sharedUp)
	case sharedDown:
		if d.shared.CompareAndSwap(sharedDown, sharedUp) {
			d.log.Info("registered tokens: shared store answers again")
		}
	}
}

// unavailable is the API's error for a write the shared store refused.
func unavailable(method string, err error) *apiError {
	return &apiError{http.StatusServiceUnavailable, fmt.Sprintf("%s failed: the registered tokens are shared by every node and their store is unavailable; nothing changed, try again: %v", method, err)}
}
