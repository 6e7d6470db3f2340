package config

import (
	"net/url"
	"strings"
	"time"

	"github.com/switchboard-rt/switchboard/internal/redisurl"
)

// Defaults of the cluster section.
const (
	DefaultPresenceTTL       = 15 * time.Second
	DefaultHeartbeatInterval = 5 * time.Second
	DefaultClusterKeyPrefix  = "switchboard:"
	DefaultPublishQueue      = 10000
)

// minHeartbeat is the shortest heartbeat_interval, so that a typo ("5ms")
// cannot hammer Redis.
const minHeartbeat = 100 * time.Millisecond

// Cluster is the "cluster" section: several nodes on one Redis behave as
// one server (docs/clustering.md). With redis empty, the node runs alone
// and every other key is ignored.
type Cluster struct {
	// Redis is the Redis URL, redis://[user:password@]host:port/db,
	// rediss:// for TLS or unix:///path ("": one node, no Redis); a
	// Sentinel set, redis-sentinel://host:26379,host:26379/master[/db]; or
	// a Redis Cluster, redis-cluster://host:7000,host:7001 (the grammar is
	// in internal/redisurl). It may hold a password: never log it.
	// Environment: SWITCHBOARD_REDIS_URL.
	Redis string `json:"redis"`
	// NodeID names this node in logs and Redis keys; a random suffix is
	// added at each start ("": the host name).
	NodeID string `json:"node_id"`
	// KeyPrefix starts every Redis key and channel name, so that clusters
	// can share a Redis ("switchboard:").
	KeyPrefix string `json:"key_prefix"`
	// PresenceTTL is how long a dead node's presence members and counts
	// outlive its last heartbeat; member_removed reaches the other nodes'
	// clients at most PresenceTTL + HeartbeatInterval after a node dies
	// (15s; at least twice heartbeat_interval).
	PresenceTTL Duration `json:"presence_ttl"`
	// HeartbeatInterval is how often a node renews its entries, reaps dead
	// nodes and checks its Redis connection (5s).
	HeartbeatInterval Duration `json:"heartbeat_interval"`
	// PublishQueue is the number of publishes waiting to be sent to Redis
	// before publishers wait (10000).
	PublishQueue int `json:"publish_queue"`
}

// Enabled reports whether the node joins a cluster through Redis.
func (c Cluster) Enabled() bool { return c.Redis != "" }

func defaultCluster() Cluster {
	return Cluster{
		KeyPrefix:         DefaultClusterKeyPrefix,
		PresenceTTL:       Duration(DefaultPresenceTTL),
		HeartbeatInterval: Duration(DefaultHeartbeatInterval),
		PublishQueue:      DefaultPublishQueue,
	}
}

func (c *Cluster) validate(ck *checker, path string) {
	if msg := redisURLProblem(c.Redis); msg != "" {
		ck.errorf(path+".redis", "%s", msg)
	}
	if strings.ContainsFunc(c.NodeID, func(r rune) bool {
		return !(r == '-' || r == '.' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) {
		ck.errorf(path+".node_id", "%q has characters other than letters, digits, '-', '.' and '_'; use e.g. \"web-1\", or \"\" for the host name", c.NodeID)
	}
	if c.KeyPrefix == "" {
		ck.errorf(path+".key_prefix", "is empty; use e.g. %q, so that Switchboard's keys stand apart in Redis", DefaultClusterKeyPrefix)
	}
	hb, ttl := c.HeartbeatInterval.Std(), c.PresenceTTL.Std()
	if hb < minHeartbeat {
		ck.errorf(path+".heartbeat_interval", "%s is not allowed; use at least %s, e.g. \"5s\"", c.HeartbeatInterval, Duration(minHeartbeat))
	}
	if ttl < 2*hb {
		ck.errorf(path+".presence_ttl", "%s is less than twice %s (%s): live nodes would be taken for dead; use at least %s, e.g. \"15s\"",
			c.PresenceTTL, ck.name(path+".heartbeat_interval"), c.HeartbeatInterval, Duration(2*max(hb, minHeartbeat)))
	}
	ck.positive(path+".publish_queue", int64(c.PublishQueue), "messages, e.g. 10000")
}

// redisURLProblem says what is wrong with a cluster.redis value, or "". It
// never quotes the URL: it may hold a password.
func redisURLProblem(s string) string {
	if s == "" {
		return ""
	}
	const want = "; use redis://host:port/db, e.g. \"redis://127.0.0.1:6379/0\" (rediss:// for TLS, unix:///path/to/socket), redis-sentinel://host:26379,host:26379/master, redis-cluster://host:7000,host:7001, or \"\" for one node"
	if scheme, _, _ := strings.Cut(s, "://"); strings.HasSuffix(scheme, "-sentinel") || strings.HasSuffix(scheme, "-cluster") {
		if _, err := redisurl.Parse(s); err != nil {
			return err.Error() + "; use e.g. \"redis-sentinel://h1:26379,h2:26379/mymaster\" or \"redis-cluster://h1:7000,h2:7001\""
		}
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return "is not a URL" + want
	}
	switch u.Scheme {
	case "redis", "rediss":
		if u.Host == "" {
			return "has no host" + want
		}
		if db := strings.Trim(u.Path, "/"); db != "" && strings.Trim(db, "0123456789") != "" {
			return "has a database that is not a number" + want
		}
	case "unix":
		if u.Path == "" {
			return "has no socket path" + want
		}
	default:
		return "has scheme \"" + u.Scheme + "\"" + want
	}
	return ""
}
