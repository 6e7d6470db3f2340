package pusher

import (
	"github.com/switchboard-rt/switchboard/hub"
)

// publish hands an encoded message for one of the app's channels to the
// hub, which frames it once and fans it out on every node. Errors (the hub
// is closed, the bus failed) are logged and returned.
func (d *Dialect) publish(a *app, channel string, payload []byte, except hub.SubscriberID) error {
	ctx, cancel := d.hubCtx()
	defer cancel()
	if err := d.hub.Publish(ctx, a.hubChannel(channel), payload, except); err != nil {
		d.log.Error("pusher: publish failed", "app_id", a.id, "channel", channel, "err", err)
		return err
	}
	d.stats.published.Add(1)
	a.published.Add(1)
	return nil
}

// publishEvent publishes an application event (from the REST API or a
// client) and, on a cache channel, keeps it for later subscribers.
func (d *Dialect) publishEvent(a *app, channel string, payload []byte, except hub.SubscriberID) error {
	if typeOf(channel).cache {
		ctx, cancel := d.hubCtx()
		err := d.cache.put(ctx, a.hubChannel(channel), payload, a.cacheTTL)
		cancel()
		if err != nil {
			d.log.Error("pusher: keeping a cache channel's event failed", "app_id", a.id, "channel", channel, "err", err)
		}
	}
	return d.publish(a, channel, payload, except)
}
