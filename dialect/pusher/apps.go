package pusher

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"github.com/switchboard-rt/switchboard/appstore"
	"github.com/switchboard-rt/switchboard/config"
)

// appSet is one version of the served apps. It never changes once stored:
// SetApps builds a new one and swaps it in, so the handshake and REST paths
// read it with one atomic load and no lock.
type appSet struct {
	list  []*app // in the order given
	byKey map[string]*app
	byID  map[string]*app
}

// newAppSet builds the set of cfgs. An app whose config is the same as in
// prev is kept as it is (its webhook queues with it); a changed one is
// rebuilt with prev's counters, and when its secret changed the old one
// keeps verifying for grace from now.
func newAppSet(cfgs []config.PusherApp, prev *appSet, now time.Time, grace time.Duration) (*appSet, error) {
	s := &appSet{
		byKey: make(map[string]*app, len(cfgs)),
		byID:  make(map[string]*app, len(cfgs)),
	}
	for _, c := range cfgs {
		if s.byID[c.ID] != nil {
			return nil, fmt.Errorf("pusher: two apps have the id %q", c.ID)
		}
		if s.byKey[c.Key] != nil {
			return nil, fmt.Errorf("pusher: two apps have the key %q", c.Key)
		}
		var old *app
		if prev != nil {
			old = prev.byID[c.ID]
		}
		var a *app
		switch {
		case old == nil:
			a = newApp(c, nil)
		case reflect.DeepEqual(old.cfg, c):
			a = old
		default:
			a = newApp(c, old.appCounters)
			switch {
			case !bytes.Equal(old.secret, a.secret) && grace > 0:
				a.withPrevSecret(old.secret, now.Add(grace))
			case bytes.Equal(old.secret, a.secret) && old.prevValid(now):
				a.withPrevSecret(old.prevSecret, old.prevUntil)
			}
		}
		s.byID[a.id], s.byKey[a.key] = a, a
		s.list = append(s.list, a)
	}
	return s, nil
}

// sweepInterval is the ws sweeper's period for the set's timeouts: a quarter
// of the shortest, between 10 ms and 1 s.
func (s *appSet) sweepInterval() time.Duration {
	d := time.Second
	for _, a := range s.list {
		for _, t := range []time.Duration{a.activityTimeout / 4, a.pongTimeout / 4, a.userAuthTimeout / 4} {
			if t > 0 && t < d {
				d = max(t, 10*time.Millisecond)
			}
		}
	}
	return d
}

// apps returns the apps served now.
func (d *Dialect) apps() *appSet { return d.set.Load() }

// current returns the version of a served now, for checks that must see a
// rotated secret on connections accepted before the rotation; a itself
// when the app is gone.
func (d *Dialect) current(a *app) *app {
	if cur := d.apps().byID[a.id]; cur != nil {
		return cur
	}
	return a
}

// defaultApp returns config.DefaultPusherApp, with the warning that it is
// served.
func defaultApp(log *slog.Logger) config.PusherApp {
	def := config.DefaultPusherApp()
	log.Warn("pusher: no apps configured; serving a default app with well-known credentials (docs/pusher.md#apps)",
		"app_id", def.ID, "key", def.Key)
	return def
}

// SetApps serves apps from now on, in place of the apps served so far, and
// returns what changed. The apps must be valid (config.ValidatePusherApp);
// SetApps refuses a list in which two apps share an id or a key, and then
// changes nothing.
//
// New connections and REST calls use the new settings at once. Open
// connections keep the settings they were accepted with, except that
// channel and sign-in signatures are checked with the app's current secret
// (and, for the grace period, its previous one). The connections of an app
// removed or disabled are closed with 4003, which tells pusher-js not to
// reconnect, by the sweeper's next round (within a second). SetApps may be
// called at any time, from any goroutine.
func (d *Dialect) SetApps(apps []config.PusherApp) (appstore.Changes, error) {
	d.setMu.Lock()
	defer d.setMu.Unlock()
	prev := d.apps()
	next, err := newAppSet(apps, prev, time.Now(), d.grace)
	if err != nil {
		return appstore.Changes{}, err
	}
	var ch appstore.Changes
	var closing []*app // removed or disabled: close their connections
	for _, a := range next.list {
		old := prev.byID[a.id]
		switch {
		case old == nil:
			ch.Added = append(ch.Added, a.id)
			d.hooks.attach(a, next.list)
		case old != a:
			ch.Changed = append(ch.Changed, a.id)
			d.hooks.attach(a, next.list)
			if !bytes.Equal(old.secret, a.secret) {
				ch.SecretsRotated = append(ch.SecretsRotated, a.id)
			}
			if old.enabled && !a.enabled {
				ch.Disabled = append(ch.Disabled, a.id)
				closing = append(closing, a)
			}
		}
	}
	for _, a := range prev.list {
		if next.byID[a.id] == nil {
			ch.Removed = append(ch.Removed, a.id)
			closing = append(closing, a)
		}
	}
	d.set.Store(next)
	// After the swap: a handshake that read closes after this finds the
	// new set when accept checks it again (see accept).
	for _, a := range closing {
		if next.byID[a.id] == nil {
			a.closeAll("App was removed")
		} else {
			a.closeAll("App is disabled")
		}
	}
	return ch, nil
}

// SetStoreError tells the dialect whether its app store can be read: err
// while it cannot, nil once it can again. While it cannot, a connection to
// an unknown key is refused as always (4001) and logged as possibly an app
// added during the outage.
func (d *Dialect) SetStoreError(err error) {
	if err == nil {
		d.storeErr.Store(nil)
		return
	}
	d.storeErr.Store(&err)
}

// unknownDuringOutage logs a connection to an unknown key refused while
// the app store cannot be read: at most one line a second (d.unknown.every),
// with the number refused since the last.
func (d *Dialect) unknownDuringOutage(key string, storeErr error) {
	n := d.unknown.count.Add(1)
	now, last := time.Now().UnixNano(), d.unknown.lastLog.Load()
	if time.Duration(now-last) < d.unknown.every || !d.unknown.lastLog.CompareAndSwap(last, now) {
		return
	}
	d.unknown.count.Add(-n)
	d.log.Warn("pusher: unknown app key refused while the app store cannot be read; if the app was added during the outage it is served once the store is back",
		"key", truncate(key, 40), "refused", n, "store_err", storeErr)
}

// AppConfigs returns the settings of the apps served now, in their order.
func (d *Dialect) AppConfigs() []config.PusherApp {
	set := d.apps()
	out := make([]config.PusherApp, len(set.list))
	for i, a := range set.list {
		out[i] = a.cfg
	}
	return out
}

// AppStats are an app's live counts.
type AppStats struct {
	// Connections is the app's open connections on every node (this
	// node's when the cluster's count cannot be read).
	Connections int `json:"connections"`
	// NodeConnections is its open connections on this node.
	NodeConnections int64 `json:"node_connections"`
	// Channels is the number of its occupied channels on every node.
	Channels int `json:"channels"`
	// WebhookEventsDropped is the webhook events this node dropped, by
	// reason.
	WebhookEventsDropped map[string]uint64 `json:"webhook_events_dropped"`
	// PreviousSecretUntil is when the previous secret stops verifying, if
	// one still does.
	PreviousSecretUntil *time.Time `json:"previous_secret_until,omitempty"`
}

// AppStats returns the live counts of the app with id, or false when no
// app with that id is served.
func (d *Dialect) AppStats(ctx context.Context, id string) (AppStats, bool) {
	a := d.apps().byID[id]
	if a == nil {
		return AppStats{}, false
	}
	st := AppStats{NodeConnections: a.conns.Load(), WebhookEventsDropped: map[string]uint64{}}
	st.Connections = int(st.NodeConnections)
	hctx, cancel := context.WithTimeout(ctx, hubTimeout)
	if n, err := d.hub.ConnectionCount(hctx, a.connKey); err == nil {
		st.Connections = n
	}
	cancel()
	for _, c := range d.occupiedChannels(ctx, a.hubPrefix) {
		if !strings.HasPrefix(strings.TrimPrefix(c.Name, a.hubPrefix), "#") {
			st.Channels++
		}
	}
	for r := range numDropReasons {
		st.WebhookEventsDropped[r.String()] = a.hookDrops[r].Load()
	}
	if a.prevValid(time.Now()) {
		until := a.prevUntil
		st.PreviousSecretUntil = &until
	}
	return st, true
}
