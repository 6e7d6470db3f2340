package main

import (
	"log/slog"

	redisbus "github.com/switchboard-rt/switchboard/bus/redis"
	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/internal/redisurl"
	"github.com/switchboard-rt/switchboard/server"
)

// hubOptions returns the hub's options for cfg. With cluster.redis set it
// builds the Redis bus, which also holds the shared presence, counts and
// key/value store, and returns it too (nil for one node); the hub closes
// it.
func hubOptions(cfg *config.Config, logger *slog.Logger) (*hub.Options, *redisbus.Bus, error) {
	o := &hub.Options{Logger: logger}
	c := cfg.Cluster
	if !c.Enabled() {
		return o, nil, nil
	}
	b, err := redisbus.New(&redisbus.Options{
		URL:               c.Redis,
		NodeID:            c.NodeID,
		KeyPrefix:         c.KeyPrefix,
		PresenceTTL:       c.PresenceTTL.Std(),
		HeartbeatInterval: c.HeartbeatInterval.Std(),
		PublishQueue:      c.PublishQueue,
		Logger:            logger,
	})
	if err != nil {
		return nil, nil, err
	}
	o.Backend = b.Backend()
	logger.Info("cluster", "node", b.NodeID(), "redis", redisHost(c.Redis), "presence_ttl", c.PresenceTTL, "heartbeat_interval", c.HeartbeatInterval)
	return o, b, nil
}

// registerCluster makes /readyz fail while Redis is unreachable and exports
// the bus's metrics. b may be nil (one node).
func registerCluster(srv *server.Server, b *redisbus.Bus) error {
	if b == nil {
		return nil
	}
	srv.AddReadinessCheck("redis", b.Ready)
	return srv.Registry().Register(b.Collector())
}

// redisHost returns the host (or hosts) of a Redis URL, for logs: never
// the password.
func redisHost(raw string) string {
	u, err := redisurl.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	return u.Kind.String() + " " + u.Hosts()
}
