package redis

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/switchboard-rt/switchboard/internal/redisurl"
)

// Defaults of Options.
const (
	DefaultKeyPrefix         = "switchboard:"
	DefaultPresenceTTL       = 15 * time.Second
	DefaultHeartbeatInterval = 5 * time.Second
	DefaultPublishQueue      = 10000
	DefaultReconnectMin      = 100 * time.Millisecond
	DefaultReconnectMax      = 5 * time.Second
	DefaultOpTimeout         = 3 * time.Second
	DefaultReceiveQueue      = 65536
)

// Options configures a Bus. A nil *Options is not allowed (URL is
// required); zero fields take their defaults. New copies the options.
type Options struct {
	// URL is where Redis is. Required. It may hold a password: never log
	// it. One of (the grammar is in internal/redisurl):
	//
	//	redis://[[user]:password@]host:port/db         one server (rediss:// for TLS, or unix:///path)
	//	redis-sentinel://[[user]:password@]host:26379,host:26379/master[/db]   a Sentinel set
	//	redis-cluster://[[user]:password@]host:7000,host:7001                  a Redis Cluster
	//
	// rediss-sentinel:// and rediss-cluster:// use TLS. A Redis Cluster
	// carries messages on sharded pub/sub and keeps every state key in
	// the slot of the hash tag {KeyPrefix}; see docs/clustering.md.
	URL string

	// NodeID names this node in logs and Redis keys. The bus appends a
	// random suffix, so that a restarted node never inherits the entries of
	// its previous run. Default: the host name.
	NodeID string

	// KeyPrefix starts every Redis key and channel name the bus uses, so
	// that several clusters (or tests) can share one Redis. Default
	// DefaultKeyPrefix.
	KeyPrefix string

	// PresenceTTL is how long this node's presence entries and counts
	// outlive its last heartbeat. A node dead for longer is reaped by a
	// survivor, and its members are reported as left: member_removed comes
	// at most PresenceTTL + HeartbeatInterval after the death. Default
	// DefaultPresenceTTL; it must be at least twice HeartbeatInterval.
	PresenceTTL time.Duration

	// HeartbeatInterval is how often the node renews its deadline, reaps
	// dead nodes and checks the pub/sub connection. Default
	// DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration

	// PublishQueue is the number of publishes waiting to be sent to Redis.
	// A full queue makes Publish wait (bounded by its context). Default
	// DefaultPublishQueue.
	PublishQueue int

	// ReceiveQueue is the number of received messages waiting for the hub
	// on each delivery goroutine; more are dropped and counted
	// (Stats.Overflowed). Default DefaultReceiveQueue.
	ReceiveQueue int

	// Workers is the number of goroutines that hand received messages to
	// the hub, each owning a share of the channels. Default GOMAXPROCS.
	Workers int

	// ReconnectMin and ReconnectMax bound the back-off between attempts to
	// reach Redis; it doubles from Min to Max, with jitter. Defaults
	// DefaultReconnectMin and DefaultReconnectMax.
	ReconnectMin, ReconnectMax time.Duration

	// OpTimeout bounds one Redis command made in the background (heartbeat,
	// reaping, flushing). Default DefaultOpTimeout.
	OpTimeout time.Duration

	// Clock, when set, is the clock of the edge store's grace periods
	// (Edges), for tests that move time themselves. Default nil: Redis's
	// own clock, which every node shares.
	Clock func() time.Time

	// Logger receives one line per change of the Redis state and a few
	// errors. nil means slog.Default().
	Logger *slog.Logger
}

// resolve returns o with defaults filled in, and its parsed URL.
func (o Options) resolve() (Options, *redisurl.URL, error) {
	if o.URL == "" {
		return o, nil, errors.New("redis: Options.URL is empty; give e.g. \"redis://127.0.0.1:6379/0\"")
	}
	u, err := redisurl.Parse(o.URL)
	if err != nil {
		return o, nil, fmt.Errorf("redis: bad URL: it %w", err)
	}
	if u.Kind == redisurl.Single {
		if _, err := goredis.ParseURL(o.URL); err != nil {
			return o, nil, fmt.Errorf("redis: bad URL: %w", redactURLError(err, o.URL))
		}
	}
	if o.NodeID == "" {
		o.NodeID, _ = os.Hostname()
		if o.NodeID == "" {
			o.NodeID = "node"
		}
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	o.NodeID = strings.NewReplacer(":", "_", " ", "_").Replace(o.NodeID) + "-" + hex.EncodeToString(rnd[:])
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	if u.Kind == redisurl.Cluster && strings.ContainsAny(o.KeyPrefix, "{}") {
		return o, nil, fmt.Errorf("redis: KeyPrefix %q holds { or }; on a Redis Cluster the bus makes {KeyPrefix} the hash tag of its keys", o.KeyPrefix)
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if o.PresenceTTL <= 0 {
		o.PresenceTTL = max(DefaultPresenceTTL, 2*o.HeartbeatInterval)
	}
	if o.PresenceTTL < 2*o.HeartbeatInterval {
		return o, nil, fmt.Errorf("redis: PresenceTTL %s is less than twice HeartbeatInterval %s; a live node would be reaped", o.PresenceTTL, o.HeartbeatInterval)
	}
	if o.PublishQueue <= 0 {
		o.PublishQueue = DefaultPublishQueue
	}
	if o.ReceiveQueue <= 0 {
		o.ReceiveQueue = DefaultReceiveQueue
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.ReconnectMin <= 0 {
		o.ReconnectMin = DefaultReconnectMin
	}
	if o.ReconnectMax < o.ReconnectMin {
		o.ReconnectMax = max(DefaultReconnectMax, o.ReconnectMin)
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = DefaultOpTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, u, nil
}

// singleOptions returns the go-redis options of a one-server URL.
func (o Options) singleOptions() *goredis.Options {
	ro, _ := goredis.ParseURL(o.URL) // checked by resolve

	// No retries: a retried PUBLISH could be delivered twice, and the bus
	// has its own reconnect loop. RESP2 and no maintenance notifications:
	// plain Redis, no background goroutines of the client's.
	ro.MaxRetries = -1
	ro.DialerRetries = 1
	if ro.Protocol == 0 {
		ro.Protocol = 2
	}
	ro.DisableIdentity = true
	ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	if ro.DialTimeout == 0 {
		ro.DialTimeout = 2 * time.Second
	}
	if ro.ClientName == "" {
		ro.ClientName = "switchboard-" + o.NodeID
	}
	return ro
}

// redactURLError replaces the URL's password in err's text, if it is there.
func redactURLError(err error, raw string) error {
	msg := err.Error()
	if i := strings.Index(raw, "://"); i >= 0 {
		rest := raw[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok && pw != "" {
				msg = strings.ReplaceAll(msg, pw, "xxxxx")
			}
		}
	}
	return errors.New(msg)
}
