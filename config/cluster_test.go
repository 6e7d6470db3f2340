package config

import (
	"strings"
	"testing"
	"time"
)

func TestClusterDefaults(t *testing.T) {
	c := Default().Cluster
	if c.Enabled() || c.PresenceTTL.Std() != 15*time.Second || c.HeartbeatInterval.Std() != 5*time.Second ||
		c.KeyPrefix != "switchboard:" || c.PublishQueue != 10000 {
		t.Errorf("defaults: %+v", c)
	}
	if c.PresenceTTL.Std() > 30*time.Second {
		t.Error("the default TTL must keep member_removed within 30s")
	}
}

func TestClusterParse(t *testing.T) {
	cfg, err := Parse([]byte(`{
		cluster: {
			redis: redis://127.0.0.1:6379/0
			node_id: web-1
			presence_ttl: 10s
			heartbeat_interval: 2
		}
	}`), "c.hjson")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c := cfg.Cluster
	if !c.Enabled() || c.Redis != "redis://127.0.0.1:6379/0" || c.NodeID != "web-1" ||
		c.PresenceTTL.Std() != 10*time.Second || c.HeartbeatInterval.Std() != 2*time.Second || c.KeyPrefix != "switchboard:" {
		t.Errorf("parsed: %+v", c)
	}
}

func TestClusterValidate(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		key     string // of the one problem
		msgHas  string
		secrets string // must not appear
	}{
		{"bad scheme", `cluster: {redis: "http://u:hunter2@h:1/0"}`, "cluster.redis", "scheme \"http\"", "hunter2"},
		{"no host", `cluster: {redis: "redis:///0"}`, "cluster.redis", "no host", ""},
		{"bad db", `cluster: {redis: "redis://:pw99@h:6379/x"}`, "cluster.redis", "not a number", "pw99"},
		{"unix without path", `cluster: {redis: "unix://"}`, "cluster.redis", "socket path", ""},
		{"sentinel without master", `cluster: {redis: "redis-sentinel://:hunter2@h1:26379,h2:26379"}`, "cluster.redis", "master name", "hunter2"},
		{"cluster with a db", `cluster: {redis: "redis-cluster://:hunter2@h1:7000/3"}`, "cluster.redis", "database 0 only", "hunter2"},
		{"unknown multi-host scheme", `cluster: {redis: "redis-shards://h1:7000"}`, "cluster.redis", "scheme \"redis-shards\"", ""},
		{"node id", `cluster: {node_id: "web 1"}`, "cluster.node_id", "letters, digits", ""},
		{"empty prefix", `cluster: {key_prefix: ""}`, "cluster.key_prefix", "is empty", ""},
		{"ttl under two beats", `cluster: {presence_ttl: "9s", heartbeat_interval: "5s"}`, "cluster.presence_ttl", "twice cluster.heartbeat_interval", ""},
		{"legacy-style spelling is suggested", `cluster: {redis_url: "redis://h:1/0"}`, "cluster.redis_url", "", ""},
		{"queue", `cluster: {publish_queue: 0}`, "cluster.publish_queue", "positive", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.file), "c.hjson")
			ps := problems(t, err)
			if len(ps) != 1 || ps[0].Key != tt.key || !strings.Contains(ps[0].Msg, tt.msgHas) {
				t.Fatalf("problems %q, want one on %s containing %q", ps, tt.key, tt.msgHas)
			}
			if tt.secrets != "" && strings.Contains(ps[0].Error(), tt.secrets) {
				t.Errorf("the message shows the password: %v", ps[0])
			}
		})
	}
	_, err := Parse([]byte(`cluster: {heartbeat_interval: "10ms", presence_ttl: "1s"}`), "c.hjson")
	if ps := problems(t, err); len(ps) != 1 || ps[0].Key != "cluster.heartbeat_interval" {
		t.Errorf("10ms heartbeat: %v", ps)
	}
}

func TestClusterEnv(t *testing.T) {
	env := map[string]string{EnvRedisURL: "redis://10.0.0.5:6380/2"}
	c := Default()
	if err := c.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.Cluster.Redis != "redis://10.0.0.5:6380/2" {
		t.Errorf("Cluster.Redis = %q", c.Cluster.Redis)
	}
	for _, u := range []string{"redis-sentinel://:pw@10.0.0.5:26379,10.0.0.6/mymaster/1", "rediss-cluster://10.0.0.5:7000,10.0.0.6:7001"} {
		env[EnvRedisURL] = u
		c = Default()
		if err := c.ApplyEnv(func(k string) string { return env[k] }); err != nil || c.Cluster.Redis != u {
			t.Errorf("%s: %v, Cluster.Redis = %q", u, err, c.Cluster.Redis)
		}
	}
	env[EnvRedisURL] = "tcp://:sekret@x"
	c = Default()
	ps := problems(t, c.ApplyEnv(func(k string) string { return env[k] }))
	if len(ps) != 1 || ps[0].Key != EnvRedisURL || strings.Contains(ps[0].Error(), "sekret") || c.Cluster.Redis != "" {
		t.Errorf("bad env: %v, redis %q", ps, c.Cluster.Redis)
	}
}
