package pusher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/switchboard-rt/switchboard/hub"
)

// This file is what the operator console sees of the dialect: the apps
// (never their secrets), a channel watched as an ordinary hub subscriber,
// and publishing on an app's behalf.

// AppSummary describes one configured app, without its secret.
type AppSummary struct {
	ID, Key string
	Enabled bool
	// Connections is the app's open connections on this node.
	Connections int64
	// ChannelPrefix is what the hub's names of the app's channels start
	// with; the rest is the Pusher channel name.
	ChannelPrefix string
	// ClientEvents reports whether the app relays client events.
	ClientEvents bool
}

// Apps returns the apps served now, in their order.
func (d *Dialect) Apps() []AppSummary {
	apps := d.apps().list
	out := make([]AppSummary, len(apps))
	for i, a := range apps {
		out[i] = AppSummary{ID: a.id, Key: a.key, Enabled: a.enabled, Connections: a.conns.Load(), ChannelPrefix: a.hubPrefix, ClientEvents: a.clientEvents}
	}
	return out
}

// ErrUnknownApp is returned by Watch and Trigger for an app id that is not
// configured.
var ErrUnknownApp = errors.New("pusher: no app has this id")

// Watch subscribes f to every event on the app's channel, on all nodes,
// from now until stop is called or ctx ends: API events, client events,
// member_added and member_removed, subscription counts, as the channel's
// subscribers get them. The watcher is an ordinary hub subscriber, so it
// counts as one (in subscription_count and the channel list) and keeps an
// empty channel occupied while it watches. f is called from the hub's
// delivery goroutines, one event at a time or concurrently, and must not
// block; when it returns false, the watch ends as a slow subscriber does.
func (d *Dialect) Watch(ctx context.Context, appID, channel string, f func(Event) bool) (stop func(), err error) {
	a := d.apps().byID[appID]
	if a == nil {
		return nil, ErrUnknownApp
	}
	if msg := channelNameProblem(channel); msg != "" {
		return nil, fmt.Errorf("pusher: %s", msg)
	}
	name, id := a.hubChannel(channel), d.hub.NewID()
	sub := hub.SubscriberFunc(func(m *hub.Message) error {
		var e Event
		if err := json.Unmarshal(m.Payload(), &e); err != nil {
			return nil // not an event: nothing to show
		}
		if !f(e) {
			return hub.ErrSlowSubscriber
		}
		return nil
	})
	hctx, cancel := context.WithTimeout(ctx, hubTimeout)
	defer cancel()
	if _, err := d.hub.Subscribe(hctx, name, id, sub); err != nil {
		return nil, fmt.Errorf("pusher: watch %q: %w", channel, err)
	}
	return func() { d.hub.Unsubscribe(name, id) }, nil
}

// Trigger publishes event with data (sent to clients as it is, usually
// JSON text) on the app's channel, as POST /apps/{id}/events would: the
// same checks, limits and delivery, without a signature, for a caller the
// server has already let in (the console). The error says what was wrong
// with the event in the REST API's words.
func (d *Dialect) Trigger(appID, channel, event, data string) error {
	a := d.apps().byID[appID]
	if a == nil {
		return ErrUnknownApp
	}
	if !a.enabled {
		return &TriggerError{Msg: "App is disabled"}
	}
	raw, _ := json.Marshal(data) // a string always marshals
	t, e := (&triggerRequest{Name: event, Channel: channel, Data: raw}).validate(a)
	if e == nil {
		e = d.publishTriggers(a, t)
	}
	if e != nil {
		if e.status >= http.StatusInternalServerError {
			return fmt.Errorf("pusher: %s", e.msg)
		}
		return &TriggerError{Msg: e.msg}
	}
	return nil
}

// TriggerError is an event Trigger refused for its content.
type TriggerError struct{ Msg string }

func (e *TriggerError) Error() string { return "pusher: " + strings.TrimSuffix(e.Msg, ".") }
