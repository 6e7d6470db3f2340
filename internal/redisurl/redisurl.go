// Package redisurl parses the Redis addresses Switchboard accepts in
// cluster.redis (SWITCHBOARD_REDIS_URL): one server, a Sentinel set, or a
// Redis Cluster. It knows nothing of a Redis client; bus/redis builds the
// go-redis client from a URL, and config checks one with Parse.
//
// The grammar (a user name alone, without a password, is not accepted):
//
//	redis://[[user]:password@]host[:port][/db]           one server (go-redis's own URL)
//	rediss://...                                         the same, over TLS
//	unix://[[user]:password@]/path/to/socket[?db=N]      one server, Unix socket
//	redis-sentinel://[[user]:password@]host[:port][,host[:port]...]/master[/db][?sentinel_password=pw]
//	rediss-sentinel://...                                the same, TLS to sentinels and servers
//	redis-cluster://[[user]:password@]host[:port][,host[:port]...][/]
//	rediss-cluster://...                                 the same, over TLS
//
// In the Sentinel form the hosts are sentinels (default port 26379),
// master is the name the sentinels monitor, and the user and password are
// those of the primary and its replicas; sentinel_password (and
// sentinel_user) authenticate to the sentinels when they need it. In the
// Cluster form the hosts are any nodes of the cluster (default port 6379),
// from which the client learns the rest; a cluster has database 0 only.
// IPv6 hosts are written in brackets: [::1]:7000.
package redisurl

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Kind is the topology a URL names.
type Kind int

// The topologies.
const (
	Single   Kind = iota // one server (or a primary found by its address)
	Sentinel             // a primary found through a Sentinel set
	Cluster              // a Redis Cluster
)

func (k Kind) String() string {
	switch k {
	case Sentinel:
		return "sentinel"
	case Cluster:
		return "cluster"
	default:
		return "single"
	}
}

// Default ports of the multi-host forms.
const (
	DefaultSentinelPort = "26379"
	DefaultClusterPort  = "6379"
)

// URL is a parsed Sentinel or Cluster address. A Single URL keeps only Raw:
// go-redis parses those itself.
type URL struct {
	Kind Kind
	Raw  string // the URL as given; it may hold a password

	TLS      bool
	Addrs    []string // host:port of the sentinels or of the cluster seed nodes
	Username string   // of the Redis servers
	Password string

	// Sentinel only.
	MasterName       string
	DB               int
	SentinelUsername string
	SentinelPassword string
}

// Hosts returns the addresses for logs: never the password.
func (u *URL) Hosts() string {
	if u.Kind == Single {
		return singleHost(u.Raw)
	}
	return strings.Join(u.Addrs, ",")
}

// Schemes of the multi-host forms, with whether each uses TLS.
var schemes = map[string]struct {
	kind Kind
	tls  bool
}{
	"redis-sentinel":  {Sentinel, false},
	"rediss-sentinel": {Sentinel, true},
	"redis-cluster":   {Cluster, false},
	"rediss-cluster":  {Cluster, true},
}

// userNoPassword is the message for a user without a password.
const userNoPassword = "names a user without a password; write user:password@"

// Parse parses raw. The errors never quote raw, which may hold a password.
func Parse(raw string) (*URL, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, errors.New("is not a URL (no scheme://)")
	}
	switch scheme {
	case "redis", "rediss", "unix":
		return &URL{Kind: Single, Raw: raw}, nil
	}
	s, known := schemes[scheme]
	if !known {
		return nil, fmt.Errorf("has scheme %q", scheme)
	}
	u := &URL{Kind: s.kind, Raw: raw, TLS: s.tls}

	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		user, pass, hasPass := strings.Cut(authority[:at], ":")
		var err error
		if u.Username, err = url.PathUnescape(user); err != nil {
			return nil, errors.New("has a badly escaped user name")
		}
		if u.Password, err = url.PathUnescape(pass); err != nil {
			return nil, errors.New("has a badly escaped password")
		}
		if !hasPass && u.Username != "" {
			return nil, errors.New(userNoPassword)
		}
		authority = authority[at+1:]
	}
	port := DefaultClusterPort
	if s.kind == Sentinel {
		port = DefaultSentinelPort
	}
	for h := range strings.SplitSeq(authority, ",") {
		addr, err := hostPort(h, port)
		if err != nil {
			return nil, err
		}
		u.Addrs = append(u.Addrs, addr)
	}

	path, query, _ := strings.Cut(tail, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, errors.New("has a bad query string")
	}
	segs := strings.FieldsFunc(path, func(r rune) bool { return r == '/' })
	switch s.kind {
	case Sentinel:
		if len(segs) == 0 || len(segs) > 2 {
			return nil, errors.New("needs the master name as its path, e.g. /mymaster or /mymaster/0")
		}
		if u.MasterName, err = url.PathUnescape(segs[0]); err != nil || u.MasterName == "" {
			return nil, errors.New("has a badly escaped master name")
		}
		if len(segs) == 2 {
			if u.DB, err = strconv.Atoi(segs[1]); err != nil || u.DB < 0 {
				return nil, errors.New("has a database that is not a number")
			}
		}
		for k, v := range q {
			switch k {
			case "sentinel_user":
				u.SentinelUsername = v[len(v)-1]
			case "sentinel_password":
				u.SentinelPassword = v[len(v)-1]
			default:
				return nil, fmt.Errorf("has unknown parameter %q (known: sentinel_user, sentinel_password)", k)
			}
		}
	case Cluster:
		if len(segs) > 1 || len(segs) == 1 && segs[0] != "0" {
			return nil, errors.New("has a path; a Redis Cluster has database 0 only")
		}
		for k := range q {
			return nil, fmt.Errorf("has unknown parameter %q (a cluster URL takes none)", k)
		}
	}
	return u, nil
}

// hostPort checks one host of a multi-host URL and adds the default port.
func hostPort(h, defaultPort string) (string, error) {
	if h == "" {
		return "", errors.New("has an empty host in its host list")
	}
	host, port := h, defaultPort
	if strings.HasPrefix(h, "[") {
		end := strings.Index(h, "]")
		if end < 0 {
			return "", errors.New("has an IPv6 host without its closing ]")
		}
		host = h[1:end]
		switch after := h[end+1:]; {
		case after == "":
		case strings.HasPrefix(after, ":"):
			port = after[1:]
		default:
			return "", errors.New("has text after an IPv6 host's ]")
		}
	} else if i := strings.LastIndex(h, ":"); i >= 0 {
		host, port = h[:i], h[i+1:]
		if strings.Contains(host, ":") {
			return "", errors.New("has an IPv6 host without brackets; write [::1]:7000")
		}
	}
	if host == "" {
		return "", errors.New("has a host list entry with no host")
	}
	if strings.ContainsAny(host, " @/?#[]") {
		return "", errors.New("has a host name with a character not allowed there")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", errors.New("has a port that is not a number from 1 to 65535")
	}
	return net.JoinHostPort(host, port), nil
}

// singleHost returns the host (or socket path) of a one-server URL.
func singleHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	if u.Scheme == "unix" {
		return u.Path
	}
	return u.Host
}
