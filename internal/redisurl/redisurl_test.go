package redisurl

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want URL // Raw is filled in by the test
	}{
		{"single", "redis://:pw@h:6379/2", URL{Kind: Single}},
		{"single tls", "rediss://h:6380", URL{Kind: Single}},
		{"unix", "unix:///run/redis.sock", URL{Kind: Single}},
		{"sentinel", "redis-sentinel://h1:26379,h2:26380/mymaster",
			URL{Kind: Sentinel, Addrs: []string{"h1:26379", "h2:26380"}, MasterName: "mymaster"}},
		{"sentinel default port, db, passwords", "redis-sentinel://u:p%40ss@h1,10.0.0.2/mymaster/3?sentinel_password=sp&sentinel_user=su",
			URL{Kind: Sentinel, Addrs: []string{"h1:26379", "10.0.0.2:26379"}, MasterName: "mymaster", DB: 3,
				Username: "u", Password: "p@ss", SentinelUsername: "su", SentinelPassword: "sp"}},
		{"sentinel tls, password only", "rediss-sentinel://:pw@[::1]:26379,[fe80::1]/m",
			URL{Kind: Sentinel, TLS: true, Addrs: []string{"[::1]:26379", "[fe80::1]:26379"}, MasterName: "m", Password: "pw"}},
		{"cluster", "redis-cluster://127.0.0.1:7000,127.0.0.1:7001",
			URL{Kind: Cluster, Addrs: []string{"127.0.0.1:7000", "127.0.0.1:7001"}}},
		{"cluster tls, slash, db 0", "rediss-cluster://:pw@h1/0",
			URL{Kind: Cluster, TLS: true, Addrs: []string{"h1:6379"}, Password: "pw"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.raw)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.want.Raw = tt.raw
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tt.raw, *got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, raw, want string }{
		{"no scheme", "h1:7000", "no scheme"},
		{"unknown scheme", "http://x:hunter2@h", `scheme "http"`},
		{"sentinel without master", "redis-sentinel://:hunter2@h1:26379", "master name"},
		{"sentinel bad db", "redis-sentinel://h1/m/x", "not a number"},
		{"sentinel unknown parameter", "redis-sentinel://h1/m?db=1", `unknown parameter "db"`},
		{"cluster db", "redis-cluster://h1:7000/2", "database 0 only"},
		{"cluster parameter", "redis-cluster://h1:7000?x=1", "unknown parameter"},
		{"empty host", "redis-cluster://h1:7000,,h2:7001", "empty host"},
		{"no host", "redis-cluster://:hunter2@", "empty host"},
		{"bad port", "redis-cluster://h1:70000", "port"},
		{"port not a number", "redis-cluster://h1:x", "port"},
		{"bare ipv6", "redis-cluster://::1:7000", "brackets"},
		{"unclosed ipv6", "redis-cluster://[::1:7000", "closing ]"},
		{"user without password", "redis-cluster://bob@h1", "without a password"},
		{"bad escape", "redis-cluster://:hunter2%zz@h1", "escaped password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.raw)
			if err == nil {
				t.Fatalf("Parse(%q) succeeded", tt.raw)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestHosts(t *testing.T) {
	for raw, want := range map[string]string{
		"redis://:pw@h:6379/0":               "h:6379",
		"unix:///run/r.sock":                 "/run/r.sock",
		"redis-cluster://:pw@a:1,b:2":        "a:1,b:2",
		"redis-sentinel://:pw@a,b:2/primary": "a:26379,b:2",
	} {
		u, err := Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.Hosts(); got != want {
			t.Errorf("Hosts(%q) = %q, want %q", raw, got, want)
		}
	}
}

// FuzzParse checks that Parse never panics, never quotes a password in its
// errors, and that what it accepts is well formed.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"redis-sentinel://u:p@h1:26379,h2/m/1?sentinel_password=x",
		"rediss-cluster://:pw@[::1]:7000,h:7001/",
		"redis-cluster://h,", "redis-sentinel://[", "redis://h", "x://",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := Parse(raw)
		if err != nil {
			return
		}
		if u.Kind == Single {
			return
		}
		if len(u.Addrs) == 0 {
			t.Fatalf("Parse(%q) accepted no hosts", raw)
		}
		if u.Kind == Sentinel && u.MasterName == "" {
			t.Fatalf("Parse(%q) accepted no master name", raw)
		}
	})
}
