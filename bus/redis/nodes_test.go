package redis

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/internal/redistest"
)

func TestNodes(t *testing.T) {
	nodes := newCluster(t, redistest.Start(t), 2, nil)
	checkNodes(t, nodes[0], nodes[1])
}

// On a Redis Cluster the node list and counts live under the hash tag of
// the other state keys.
func TestNodesOnRedisCluster(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 0)
	prefix := uniquePrefix(t)
	checkNodes(t, newNodeURL(t, rc.URL(), prefix, topologyTimers), newNodeURL(t, rc.URL(), prefix, topologyTimers))
}

// checkNodes checks Nodes and NodeCounts on two nodes of one cluster, then
// closes b.
func checkNodes(t *testing.T, a, b *node) {
	t.Helper()
	subscribe(t, a, "room")
	subscribe(t, a, "room")
	subscribe(t, b, "other")
	a.hub.AddConnections("pusher/app", 3)
	b.hub.AddConnections("pusher/app", 1)
	ctx := context.Background()

	var got []Node
	waitFor(t, 5*time.Second, "both nodes listed with their counts", func() bool {
		var err error
		got, err = a.bus.Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Each node writes its counts in the background: wait for all four.
		na, nb := count(got, a.bus.NodeID()), count(got, b.bus.NodeID())
		return len(got) == 2 && na.Subscriptions == 2 && na.Connections["pusher/app"] == 3 &&
			nb.Subscriptions == 1 && nb.Connections["pusher/app"] == 1
	})
	for _, n := range got {
		// A node beats every 200-500ms in these tests.
		if n.HeartbeatAge < 0 || n.HeartbeatAge > 3*time.Second || time.Since(n.LastHeartbeat) > time.Minute {
			t.Errorf("node %s: last heartbeat %v ago (%v)", n.ID, n.HeartbeatAge, n.LastHeartbeat)
		}
	}

	// One node's own counts, by prefix; glob characters match as themselves.
	subscribe(t, b, "other-*x")
	waitFor(t, 5*time.Second, "B's counts", func() bool {
		kcs, err := a.bus.NodeCounts(ctx, b.bus.NodeID(), bus.SpaceSubscriptions, "other")
		return err == nil && len(kcs) == 2
	})
	kcs, err := a.bus.NodeCounts(ctx, b.bus.NodeID(), bus.SpaceSubscriptions, "other-*")
	if err != nil || len(kcs) != 1 || kcs[0] != (bus.KeyCount{Key: "other-*x", Count: 1}) {
		t.Errorf("B's counts of other-*: %v, %v", kcs, err)
	}
	kcs, err = a.bus.NodeCounts(ctx, a.bus.NodeID(), bus.SpaceSubscriptions, "")
	if err != nil || len(kcs) != 1 || kcs[0] != (bus.KeyCount{Key: "room", Count: 2}) {
		t.Errorf("A's counts: %v, %v", kcs, err)
	}

	// A node that leaves is no longer listed.
	if err := b.hub.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the closed node to go", func() bool {
		got, err := a.bus.Nodes(ctx)
		return err == nil && len(got) == 1 && got[0].ID == a.bus.NodeID()
	})
}

func count(ns []Node, id string) Node {
	for _, n := range ns {
		if n.ID == id {
			return n
		}
	}
	return Node{}
}
