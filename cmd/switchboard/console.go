package main

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/switchboard-rt/switchboard/bus"
	redisbus "github.com/switchboard-rt/switchboard/bus/redis"
	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/console"
	"github.com/switchboard-rt/switchboard/dialect"
	"github.com/switchboard-rt/switchboard/dialect/atmosphere"
	"github.com/switchboard-rt/switchboard/dialect/pusher"
	"github.com/switchboard-rt/switchboard/dialect/tokens"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/internal/adminauth"
	"github.com/switchboard-rt/switchboard/server"
)

// mountConsole builds the operator console, when enabled, and mounts it on
// srv behind guard. It returns the console (nil when off) for the caller
// to Close at shutdown. cluster may be nil (one node).
func mountConsole(cfg *config.Config, srv *server.Server, guard *adminauth.Guard, h *hub.Hub, ds []dialect.Dialect, cluster *redisbus.Bus, logger *slog.Logger) (*console.Console, error) {
	if !cfg.Console.Enabled {
		return nil, nil
	}
	opts := console.Options{
		Path:     cfg.Console.Path,
		Guard:    guard,
		Gatherer: srv.Registry(),
		Hub:      h,
		NodeID:   h.NodeID(),
		Version:  consoleVersion(),
		Logger:   logger,
	}
	for _, d := range ds {
		switch d := d.(type) {
		case *pusher.Dialect:
			opts.Apps = consoleApps{d}
		case *tokens.Dialect:
			opts.Spaces = append(opts.Spaces,
				console.Space{ID: "tokens", Label: "Token broker: tokens", Prefix: tokens.TokenChannelPrefix},
				console.Space{ID: "tokens-groups", Label: "Token broker: groups", Prefix: tokens.GroupChannelPrefix})
		case *atmosphere.Dialect:
			for _, k := range atmosphere.TrackerChannelKinds() {
				opts.Spaces = append(opts.Spaces, console.Space{ID: "atmosphere-" + k.Name, Label: "Atmosphere: " + k.Name + " subscriptions by tracker", Prefix: k.Prefix})
			}
			opts.Sessions = consoleSessions{d}
		}
	}
	if cluster != nil {
		opts.Cluster = consoleCluster{cluster}
	}
	c, err := console.New(opts)
	if err != nil {
		return nil, err
	}
	for _, p := range []string{c.Path(), c.Path() + "/"} {
		if err := srv.Mount(p, c.Handler()); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// consoleVersion is the version the console shows: the version and commit
// `switchboard version` prints.
func consoleVersion() string {
	bi, ok := debug.ReadBuildInfo()
	b := readBuildInfo(buildInfo{version: buildVersion, commit: buildCommit, date: buildDate}, bi, ok)
	commit, dirty := strings.CutSuffix(b.commit, "+dirty")
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if dirty {
		commit += "+dirty"
	}
	return b.version + " (" + commit + ")"
}

// consoleApps is the Pusher dialect as the console sees it.
type consoleApps struct{ d *pusher.Dialect }

func (a consoleApps) Apps() []console.App {
	var out []console.App
	for _, s := range a.d.Apps() {
		out = append(out, console.App{ID: s.ID, Key: s.Key, Enabled: s.Enabled, ChannelPrefix: s.ChannelPrefix})
	}
	return out
}

func (a consoleApps) Watch(ctx context.Context, appID, channel string, f func(console.Event) bool) (func(), error) {
	return a.d.Watch(ctx, appID, channel, func(e pusher.Event) bool {
		return f(console.Event{Event: e.Event, Channel: e.Channel, Data: e.DataString(), UserID: e.UserID})
	})
}

func (a consoleApps) Trigger(appID, channel, event, data string) error {
	err := a.d.Trigger(appID, channel, event, data)
	var te *pusher.TriggerError
	if errors.As(err, &te) || errors.Is(err, pusher.ErrUnknownApp) {
		return &console.BadEventError{Err: err}
	}
	return err
}

// consoleCluster is the Redis bus as the console's node list.
type consoleCluster struct{ b *redisbus.Bus }

func (c consoleCluster) Nodes(ctx context.Context) ([]console.Node, error) {
	ns, err := c.b.Nodes(ctx)
	out := make([]console.Node, len(ns))
	for i, n := range ns {
		out[i] = console.Node{
			ID:                   n.ID,
			HeartbeatAgeSeconds:  n.HeartbeatAge.Seconds(),
			LastHeartbeatUnixSec: float64(n.LastHeartbeat.UnixMilli()) / 1000,
			Connections:          n.Connections,
			Subscriptions:        n.Subscriptions,
		}
	}
	return out, err
}

func (c consoleCluster) NodeChannels(ctx context.Context, node, prefix string) ([]hub.ChannelInfo, error) {
	kcs, err := c.b.NodeCounts(ctx, node, bus.SpaceSubscriptions, prefix)
	out := make([]hub.ChannelInfo, len(kcs))
	for i, kc := range kcs {
		out[i] = hub.ChannelInfo{Name: kc.Key, Subscribers: kc.Count}
	}
	return out, err
}

// consoleSessions is the Atmosphere dialect's sessions as the console
// lists them.
type consoleSessions struct{ d *atmosphere.Dialect }

func (c consoleSessions) Sessions() []console.Session {
	ss := c.d.Sessions()
	out := make([]console.Session, len(ss))
	for i, s := range ss {
		out[i] = console.Session{Tag: s.Tag, User: s.User, APIKey: s.APIKey, LastUsed: s.LastUsed, Connections: s.Connections, Trackers: s.Trackers}
	}
	return out
}
