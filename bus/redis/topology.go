package redis

import (
	"crypto/tls"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/switchboard-rt/switchboard/internal/redisurl"
)

// The bus reaches Redis through one goredis.UniversalClient, whatever the
// topology of Options.URL:
//
//   - one server: a *goredis.Client, exactly as before Sentinel and Cluster
//     support (the same options, key names and commands);
//   - Sentinel: a failover *goredis.Client, which asks the sentinels for the
//     primary and follows it when they fail over; the bus uses it as one
//     server, and reconnects its pub/sub link as after an outage;
//   - Cluster: a *goredis.ClusterClient for commands and scripts; messages
//     go through sharded pub/sub (SPUBLISH, and SSUBSCRIBE on one
//     connection per primary, see shards.go); every state key lives in
//     the slot of the hash tag {KeyPrefix}, so each Lua script touches one
//     slot and runs on a cluster unchanged.

// dialTimeout bounds one dial on every topology. No topology retries a
// command or follows a redirect (a retried PUBLISH could be delivered
// twice, a retried script applied twice; the bus has its own reconnect
// loop), and each dials once per attempt.
const dialTimeout = 2 * time.Second

// newClient returns the client for u (resolved by Options.resolve), and the
// cluster client again when u is a Redis Cluster.
func (o Options) newClient(u *redisurl.URL) (goredis.UniversalClient, *goredis.ClusterClient) {
	switch u.Kind {
	case redisurl.Sentinel:
		return goredis.NewFailoverClient(&goredis.FailoverOptions{
			MasterName:       u.MasterName,
			SentinelAddrs:    u.Addrs,
			SentinelUsername: u.SentinelUsername,
			SentinelPassword: u.SentinelPassword,
			Username:         u.Username,
			Password:         u.Password,
			DB:               u.DB,
			TLSConfig:        tlsConfig(u),
			ClientName:       "switchboard-" + o.NodeID,
			Protocol:         2,
			MaxRetries:       -1,
			DialerRetries:    1,
			DialTimeout:      dialTimeout,
			DisableIdentity:  true,
		}), nil
	case redisurl.Cluster:
		c := goredis.NewClusterClient(&goredis.ClusterOptions{
			Addrs:      u.Addrs,
			Username:   u.Username,
			Password:   u.Password,
			TLSConfig:  tlsConfig(u),
			ClientName: "switchboard-" + o.NodeID,
			Protocol:   2,
			// No redirects either: a MOVED reply reloads the slot map in
			// the background and fails the command, which the bus treats
			// as any failed write (a publish is dropped and counted, a
			// state write is redone by the next heartbeat).
			MaxRedirects:             -1,
			MaxRetries:               -1,
			DialerRetries:            1,
			DialTimeout:              dialTimeout,
			DisableIdentity:          true,
			MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		})
		return c, c
	default:
		return goredis.NewClient(o.singleOptions()), nil
	}
}

// shardOptions returns the options of the pub/sub client of the cluster
// primary at addr.
func (o Options) shardOptions(u *redisurl.URL, addr string) *goredis.Options {
	return &goredis.Options{
		Addr:                     addr,
		Username:                 u.Username,
		Password:                 u.Password,
		TLSConfig:                tlsConfig(u),
		ClientName:               "switchboard-" + o.NodeID,
		Protocol:                 2,
		MaxRetries:               -1,
		DialerRetries:            1,
		DialTimeout:              dialTimeout,
		DisableIdentity:          true,
		PoolSize:                 1,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
}

// tlsConfig returns the TLS configuration of u, nil without TLS. It names
// no server: go-redis dials with tls.DialWithDialer, which verifies the
// certificate against the host dialled (a sentinel, the primary it names,
// or a cluster node).
func tlsConfig(u *redisurl.URL) *tls.Config {
	if !u.TLS {
		return nil
	}
	return &tls.Config{MinVersion: tls.VersionTLS12}
}
