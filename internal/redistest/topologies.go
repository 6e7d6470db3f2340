package redistest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/internal/testproc"
)

// EnvCLI names the redis-cli binary (default: redis-cli on PATH), which
// makes the cluster and talks to the servers.
const EnvCLI = "REDIS_CLI"

// NodeTimeout is the cluster-node-timeout of a test cluster and the
// down-after-milliseconds of a test Sentinel set: a killed primary is
// replaced after about this long plus an election (a second or two).
const NodeTimeout = time.Second

// CLI runs redis-cli; see Cluster.Do and SentinelSet.Do.
type CLI struct{ bin string }

// Do runs one command on the server at addr and returns redis-cli's
// output, trimmed.
func (c CLI) Do(addr string, args ...string) (string, error) {
	host, port, _ := strings.Cut(addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, c.bin, append([]string{"-h", host, "-p", port}, args...)...).CombinedOutput()
	s := strings.TrimSpace(string(out))
	if err != nil {
		return s, fmt.Errorf("redis-cli %s: %w: %s", strings.Join(args, " "), err, s)
	}
	return s, nil
}

func cli(t testing.TB) CLI {
	t.Helper()
	bin := os.Getenv(EnvCLI)
	if bin == "" {
		bin = "redis-cli"
	}
	return CLI{bin: lookPath(t, bin)}
}

// Cluster is a Redis Cluster of real servers on loopback.
type Cluster struct {
	CLI
	// Nodes are every server, primaries first as created (each replica
	// may since have taken over).
	Nodes []*Server
}

// StartCluster starts primaries × (1 + replicas) redis-servers with
// cluster-enabled, joins them with `redis-cli --cluster create`, and waits
// until every node reports the cluster ok. They are stopped by t.Cleanup.
func StartCluster(t testing.TB, primaries, replicas int) *Cluster {
	t.Helper()
	bin := lookPath(t, serverBin())
	c := &Cluster{CLI: cli(t)}
	for range primaries * (1 + replicas) {
		busPort, err := testproc.FreePort()
		if err != nil {
			t.Fatalf("redistest: free port: %v", err)
		}
		c.Nodes = append(c.Nodes, startServer(t, bin, func(s *Server) []string {
			return append(s.baseArgs(),
				"--cluster-enabled", "yes",
				"--cluster-port", strconv.Itoa(busPort),
				"--cluster-config-file", filepath.Join(s.dir, "nodes.conf"),
				"--cluster-node-timeout", strconv.Itoa(int(NodeTimeout/time.Millisecond)),
				"--repl-diskless-sync-delay", "0")
		}))
	}
	args := []string{"--cluster", "create"}
	for _, n := range c.Nodes {
		args = append(args, n.Addr)
	}
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, c.bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitOK(t, 20*time.Second)
	return c
}

// URL returns the cluster's redis-cluster:// URL, naming every node.
func (c *Cluster) URL() string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	return "redis-cluster://" + strings.Join(addrs, ",")
}

// WaitOK waits until every running node reports cluster_state:ok with
// every slot served, and every running replica is in sync with its
// primary (a replica that never synced cannot take over).
func (c *Cluster) WaitOK(t testing.TB, d time.Duration) {
	t.Helper()
	poll(t, d, "cluster state ok on every node, replicas in sync", func() error {
		for _, n := range c.Nodes {
			if !n.Running() {
				continue
			}
			info, err := c.Do(n.Addr, "cluster", "info")
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") {
				return fmt.Errorf("%s: %s", n.Addr, info)
			}
			if err := inSync(c.CLI, n); err != nil {
				return err
			}
		}
		return nil
	})
}

// inSync returns nil when n is a primary, or a replica whose link to its
// primary is up.
func inSync(c CLI, n *Server) error {
	info, err := c.Do(n.Addr, "info", "replication")
	if err != nil {
		return err
	}
	if strings.Contains(info, "role:slave") && !strings.Contains(info, "master_link_status:up") {
		return fmt.Errorf("%s: replica not in sync", n.Addr)
	}
	return nil
}

// PrimaryOf returns the node that every running node names as the primary
// of slot, waiting up to d for them to agree on a running one.
func (c *Cluster) PrimaryOf(t testing.TB, slot int, d time.Duration) *Server {
	t.Helper()
	var primary *Server
	poll(t, d, fmt.Sprintf("a running primary of slot %d", slot), func() error {
		primary = nil
		for _, n := range c.Nodes {
			if !n.Running() {
				continue
			}
			out, err := c.Do(n.Addr, "cluster", "nodes")
			if err != nil {
				return err
			}
			addr := slotPrimary(out, slot)
			p := c.node(addr)
			switch {
			case p == nil || !p.Running():
				return fmt.Errorf("%s names %q", n.Addr, addr)
			case primary != nil && p != primary:
				return fmt.Errorf("nodes disagree: %s and %s", primary.Addr, p.Addr)
			}
			primary = p
		}
		return nil
	})
	return primary
}

// MoveSlot moves an empty slot to the primary to, as a resharding does
// (IMPORTING, MIGRATING, then SETSLOT NODE on both), and waits until every
// running node names to as its primary.
func (c *Cluster) MoveSlot(t testing.TB, slot int, to *Server) {
	t.Helper()
	from := c.PrimaryOf(t, slot, time.Second)
	if from == to {
		t.Fatalf("redistest: slot %d is already on %s", slot, to.Addr)
	}
	id := func(n *Server) string {
		out, err := c.Do(n.Addr, "cluster", "myid")
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	fromID, toID := id(from), id(to)
	s := strconv.Itoa(slot)
	for _, step := range []struct {
		on   *Server
		args []string
	}{
		{to, []string{"cluster", "setslot", s, "importing", fromID}},
		{from, []string{"cluster", "setslot", s, "migrating", toID}},
		{to, []string{"cluster", "setslot", s, "node", toID}},
		{from, []string{"cluster", "setslot", s, "node", toID}},
	} {
		if out, err := c.Do(step.on.Addr, step.args...); err != nil || out != "OK" {
			t.Fatalf("redistest: %s on %s: %q %v", strings.Join(step.args, " "), step.on.Addr, out, err)
		}
	}
	if p := c.PrimaryOf(t, slot, 10*time.Second); p != to {
		t.Fatalf("redistest: slot %d on %s after the move, want %s", slot, p.Addr, to.Addr)
	}
}

// ReplicaOf returns a running replica of primary.
func (c *Cluster) ReplicaOf(t testing.TB, primary *Server) *Server {
	t.Helper()
	id, err := c.Do(primary.Addr, "cluster", "myid")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes {
		if n == primary || !n.Running() {
			continue
		}
		out, err := c.Do(n.Addr, "cluster", "nodes")
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(out) {
			if f := strings.Fields(line); len(f) > 3 && strings.Contains(f[2], "myself") && strings.Contains(f[2], "slave") && f[3] == id {
				return n
			}
		}
	}
	t.Fatalf("redistest: no running replica of %s", primary.Addr)
	return nil
}

func (c *Cluster) node(addr string) *Server {
	for _, n := range c.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// slotPrimary parses CLUSTER NODES for the address of the primary that
// serves slot, "" when none does.
func slotPrimary(nodes string, slot int) string {
	for line := range strings.Lines(nodes) {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.Contains(f[2], "master") || strings.Contains(f[2], "fail") {
			continue
		}
		for _, r := range f[8:] {
			lo, hi, ok := strings.Cut(r, "-")
			if !ok {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 == nil && err2 == nil && a <= slot && slot <= b {
				addr, _, _ := strings.Cut(f[1], "@")
				return addr
			}
		}
	}
	return ""
}

// SentinelSet is one primary, its replicas and three sentinels monitoring
// them as MasterName, real servers on loopback.
type SentinelSet struct {
	CLI
	Primary   *Server
	Replicas  []*Server
	Sentinels []*Server
}

// MasterName is the name the sentinels of a SentinelSet monitor.
const MasterName = "mymaster"

// StartSentinel starts a primary, replicas replicas of it and three
// sentinels (quorum 2, down-after NodeTimeout), and waits until the
// replicas are in sync and the sentinels know each other and the replicas
// (SENTINEL CKQUORUM, SENTINEL REPLICAS). They are stopped by t.Cleanup.
func StartSentinel(t testing.TB, replicas int) *SentinelSet {
	t.Helper()
	bin := lookPath(t, serverBin())
	s := &SentinelSet{CLI: cli(t), Primary: startServer(t, bin, func(p *Server) []string {
		return append(p.baseArgs(), "--repl-diskless-sync-delay", "0")
	})}
	for range replicas {
		s.Replicas = append(s.Replicas, startServer(t, bin, func(r *Server) []string {
			return append(r.baseArgs(), "--replicaof", "127.0.0.1", strconv.Itoa(s.Primary.Port),
				"--repl-diskless-sync-delay", "0")
		}))
	}
	poll(t, 20*time.Second, "replicas in sync", func() error {
		for _, r := range s.Replicas {
			if err := inSync(s.CLI, r); err != nil {
				return err
			}
		}
		return nil
	})
	for range 3 {
		s.Sentinels = append(s.Sentinels, startServer(t, bin, func(sn *Server) []string {
			conf := filepath.Join(sn.dir, "sentinel.conf")
			// Sentinel rewrites its configuration: a file of its own. A
			// restart (of the same port) starts from the same lines.
			text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\n", sn.Port, sn.dir) +
				fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2\n", MasterName, s.Primary.Port) +
				fmt.Sprintf("sentinel down-after-milliseconds %s %d\n", MasterName, NodeTimeout.Milliseconds()) +
				fmt.Sprintf("sentinel failover-timeout %s 10000\n", MasterName)
			if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
				t.Errorf("redistest: write %s: %v", conf, err)
			}
			return []string{conf, "--sentinel", "--loglevel", "warning"}
		}))
	}
	poll(t, 30*time.Second, "sentinels agree on the primary and know its replicas", func() error {
		for _, sn := range s.Sentinels {
			out, err := s.Do(sn.Addr, "sentinel", "ckquorum", MasterName)
			if err != nil || !strings.Contains(out, "3 usable") {
				return fmt.Errorf("%s: %s %v", sn.Addr, out, err)
			}
			out, err = s.Do(sn.Addr, "sentinel", "replicas", MasterName)
			if err != nil {
				return err
			}
			for _, r := range s.Replicas {
				if !strings.Contains(out, strconv.Itoa(r.Port)) {
					return fmt.Errorf("%s does not know replica %s yet", sn.Addr, r.Addr)
				}
			}
		}
		return nil
	})
	return s
}

// URL returns the set's redis-sentinel:// URL, naming every sentinel.
func (s *SentinelSet) URL() string {
	addrs := make([]string, len(s.Sentinels))
	for i, sn := range s.Sentinels {
		addrs[i] = sn.Addr
	}
	return "redis-sentinel://" + strings.Join(addrs, ",") + "/" + MasterName
}

// WaitPrimary waits up to d until every sentinel names a primary other
// than old, and returns its address.
func (s *SentinelSet) WaitPrimary(t testing.TB, old string, d time.Duration) string {
	t.Helper()
	var addr string
	poll(t, d, "the sentinels to name a new primary", func() error {
		addr = ""
		for _, sn := range s.Sentinels {
			out, err := s.Do(sn.Addr, "sentinel", "get-master-addr-by-name", MasterName)
			if err != nil {
				return err
			}
			got := strings.Join(strings.Fields(out), ":")
			if got == old || (addr != "" && got != addr) {
				return fmt.Errorf("%s names %s", sn.Addr, got)
			}
			addr = got
		}
		return nil
	})
	return addr
}

// poll calls f until it returns nil, or fails t after d with f's last error.
func poll(t testing.TB, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: timed out after %s waiting for %s: %v", d, what, err)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, with a deadline
	}
}
