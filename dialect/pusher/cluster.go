package pusher

import (
	"context"
	"strings"

	"github.com/switchboard-rt/switchboard/hub"
)

// What the dialect asks of the whole cluster through the hub: subscription
// and connection counts over all nodes, and presence changes that no
// connection of this node made (the members of a node that died). With one
// node, the hub answers from memory and reports no presence changes.

// subscriberCount returns the subscriptions to a hub channel on all nodes,
// or this node's when the cluster's count cannot be read.
func (d *Dialect) subscriberCount(ctx context.Context, hubName string) int {
	return clusterOrLocal(ctx, d, "cluster subscription count",
		func(ctx context.Context) (int, error) { return d.hub.ClusterSubscriberCount(ctx, hubName) },
		func() int { return d.hub.SubscriberCount(hubName) })
}

// occupiedChannels returns the hub channels with subscribers on any node
// whose names start with prefix, or this node's when the cluster's list
// cannot be read.
func (d *Dialect) occupiedChannels(ctx context.Context, prefix string) []hub.ChannelInfo {
	return clusterOrLocal(ctx, d, "cluster channel list",
		func(ctx context.Context) ([]hub.ChannelInfo, error) { return d.hub.ClusterChannels(ctx, prefix) },
		func() []hub.ChannelInfo { return d.hub.Channels(prefix) })
}

// clusterOrLocal returns cluster's answer, given hubTimeout, or local's
// (this node's) when the cluster cannot answer, logging what was
// unavailable.
func clusterOrLocal[T any](ctx context.Context, d *Dialect, what string, cluster func(context.Context) (T, error), local func() T) T {
	ctx, cancel := context.WithTimeout(ctx, hubTimeout)
	defer cancel()
	v, err := cluster(ctx)
	if err != nil {
		d.log.Warn("pusher: "+what+" unavailable; using this node's", "err", err)
		return local()
	}
	return v
}

// overQuota counts a new connection of a in, on this node and in the
// cluster, and reports whether it is over the app's max_connections; if
// so, it has been counted out again.
func (d *Dialect) overQuota(a *app) bool {
	local := a.conns.Add(1)
	d.hub.AddConnections(a.connKey, 1)
	if a.maxConns <= 0 {
		return false
	}
	n := local
	ctx, cancel := d.hubCtx()
	if total, err := d.hub.ConnectionCount(ctx, a.connKey); err == nil {
		n = int64(total)
	} else {
		d.log.Warn("pusher: cluster connection count unavailable; using this node's", "app_id", a.id, "err", err)
	}
	cancel()
	if n > a.maxConns {
		d.countOut(a)
		return true
	}
	return false
}

// countOut is the inverse of the counting in overQuota.
func (d *Dialect) countOut(a *app) {
	a.conns.Add(-1)
	d.hub.AddConnections(a.connKey, -1)
}

// memberChanged announces a presence change the hub's store found without a
// connection of this node making it (a dead node's users leaving, or
// members written back after an outage): member_added or member_removed on
// presence channels, online or offline to watchers.
func (d *Dialect) memberChanged(mc hub.MemberChange) {
	if d.ctx.Err() != nil {
		return // shut down
	}
	rest, ok := strings.CutPrefix(mc.Channel, "pusher/")
	if !ok {
		return // another dialect's channel
	}
	id, name, _ := strings.Cut(rest, "/")
	a := d.apps().byID[id]
	if a == nil {
		return
	}
	switch {
	case typeOf(name).kind == kindPresence && channelNameProblem(name) == "":
		d.announceMember(a, name, mc.UserID, mc.Info, mc.Added, hub.NoID)
	case strings.HasPrefix(name, prefixOnline):
		d.announceOnline(a, mc.UserID, mc.Added)
	}
}
