package pusher

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/dialect"
	"github.com/switchboard-rt/switchboard/ws"
)

// app is one configured application, ready to serve. It never changes: a
// reload that changes an app builds a new app with the same id, and its
// connections keep the app they were accepted with. What must outlive a
// version (counts) is in the shared appCounters.
type app struct {
	cfg     config.PusherApp // what it was built from, to tell a change on reload
	id, key string
	secret  []byte
	enabled bool

	// prevSecret is the secret before the last change, accepted as well
	// until prevUntil (the grace period); nil when there is none.
	prevSecret []byte
	prevUntil  time.Time
	prevMACs   *sync.Pool
	ev         eventNames
	origins    dialect.Origins // allowed_origins

	maxConns          int64
	maxClientEvents   int
	maxMembers        int
	maxMemberSize     int
	maxPayload        int
	maxChannels       int
	maxBatch          int
	maxConnChannels   int // channels one connection may be subscribed to
	clientEvents      bool
	userAuth          bool
	userAuthTimeout   time.Duration
	subscriptionCount bool
	activityTimeout   time.Duration
	pongTimeout       time.Duration
	cacheTTL          time.Duration
	webhooks          []*hookTarget // each with its queue and sender

	// What the edge store (edges.go) tracks for the app's webhooks.
	hookChannels bool          // a webhook wants channel_occupied or channel_vacated
	hookMembers  bool          // a webhook wants member_added or member_removed
	userEvents   bool          // enable_user_online_events
	hookGrace    time.Duration // webhook_grace_period

	hubPrefix string     // "pusher/{id}/": the app's space among hub channels
	connKey   string     // "pusher/{id}": the hub's connection-count key
	macs      *sync.Pool // *restMAC with secret, for REST signatures

	pingMsg, pongMsg *ws.PreparedMessage // pusher:ping and pusher:pong, framed once for every connection

	*appCounters // shared by every version of the app
}

// appCounters are an app's counts, kept across reloads that change it.
type appCounters struct {
	conns     atomic.Int64                  // open connections on this node
	published atomic.Uint64                 // messages handed to the hub for the app's channels
	hookDrops [numDropReasons]atomic.Uint64 // webhook events dropped, by reason

	// closes is raised each time the app is removed or disabled: the
	// sweeper closes, with 4003 and closeMsg, every connection accepted
	// while it was lower.
	closes   atomic.Uint32
	closeMsg atomic.Pointer[string]
}

// closeAll has the sweeper close the connections of every version of the
// app so far with 4003 and msg.
func (c *appCounters) closeAll(msg string) {
	c.closeMsg.Store(&msg)
	c.closes.Add(1)
}

// newApp builds the app of c. counters are those of the app's previous
// version, or nil for a new app.
func newApp(c config.PusherApp, counters *appCounters) *app {
	if counters == nil {
		counters = &appCounters{}
	}
	a := &app{
		cfg:               c,
		appCounters:       counters,
		id:                c.ID,
		key:               c.Key,
		secret:            []byte(c.Secret),
		enabled:           c.Enabled,
		ev:                newEventNames(c.EventPrefix),
		maxConns:          int64(c.MaxConnections),
		maxClientEvents:   c.MaxClientEventsPerSecond,
		maxMembers:        c.MaxPresenceMembers,
		maxMemberSize:     c.MaxPresenceMemberSizeKB * 1024,
		maxPayload:        c.MaxEventPayloadKB * 1024,
		maxChannels:       c.MaxChannelsPerEvent,
		maxBatch:          c.MaxBatchEvents,
		maxConnChannels:   c.MaxChannelsPerConnection,
		clientEvents:      c.EnableClientMessages,
		userAuth:          c.EnableUserAuthentication,
		userAuthTimeout:   c.UserAuthenticationTimeout.Std(),
		subscriptionCount: c.EnableSubscriptionCount,
		activityTimeout:   c.ActivityTimeout.Std(),
		pongTimeout:       c.PongTimeout.Std(),
		cacheTTL:          c.CacheTTL.Std(),
		hubPrefix:         "pusher/" + c.ID + "/",
		connKey:           "pusher/" + c.ID,
		macs:              newMACPool([]byte(c.Secret)),
	}
	a.origins = dialect.NewOrigins(c.AllowedOrigins)
	for i, w := range c.Webhooks {
		a.webhooks = append(a.webhooks, newHookTarget(a, i, w))
	}
	a.hookChannels = a.wantsHook("channel_occupied") || a.wantsHook("channel_vacated")
	a.hookMembers = a.wantsHook("member_added") || a.wantsHook("member_removed")
	a.userEvents = c.EnableUserOnlineEvents
	a.hookGrace = max(c.WebhookGracePeriod.Std(), 0)
	// Zero limits (a Config built in code and not validated) mean Pusher's.
	def := config.DefaultPusherApp()
	setDefault(&a.maxClientEvents, def.MaxClientEventsPerSecond)
	setDefault(&a.maxMembers, def.MaxPresenceMembers)
	setDefault(&a.maxMemberSize, def.MaxPresenceMemberSizeKB*1024)
	setDefault(&a.maxPayload, def.MaxEventPayloadKB*1024)
	setDefault(&a.maxChannels, def.MaxChannelsPerEvent)
	setDefault(&a.maxBatch, def.MaxBatchEvents)
	setDefault(&a.maxConnChannels, def.MaxChannelsPerConnection)
	setDefault(&a.activityTimeout, def.ActivityTimeout.Std())
	setDefault(&a.pongTimeout, def.PongTimeout.Std())
	setDefault(&a.cacheTTL, def.CacheTTL.Std())
	if a.ev.prefix == "" {
		a.ev = newEventNames("pusher")
	}
	a.pingMsg = ws.NewPreparedMessage(ws.Text, encodeEvent(a.ev.ping, "", "{}", ""))
	a.pongMsg = ws.NewPreparedMessage(ws.Text, encodeEvent(a.ev.pong, "", "{}", ""))
	return a
}

func setDefault[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}

// wantsHook reports whether a webhook of the app sends event type name
// (for some channel, if it filters channels).
func (a *app) wantsHook(name string) bool {
	for _, t := range a.webhooks {
		if t.events == nil || slices.Contains(t.events, name) {
			return true
		}
	}
	return false
}

// withPrevSecret makes prev, the secret of the app's previous version,
// verify as well until until.
func (a *app) withPrevSecret(prev []byte, until time.Time) {
	a.prevSecret, a.prevUntil = prev, until
	a.prevMACs = newMACPool(prev)
}

// prevValid reports whether the previous secret still verifies at now.
func (a *app) prevValid(now time.Time) bool {
	return a.prevSecret != nil && now.Before(a.prevUntil)
}

// hubChannel returns the hub's name for the app's channel.
func (a *app) hubChannel(name string) string { return a.hubPrefix + name }

// eventNames are the protocol's event names with the app's prefix,
// "pusher" or "broadcastt", built once.
type eventNames struct {
	prefix   string // "pusher:"
	internal string // "pusher_internal:"

	connectionEstablished, error, ping, pong, subscribe, unsubscribe,
	subscriptionError, cacheMiss, signin, signinSuccess string
	subscriptionSucceeded, memberAdded, memberRemoved, subscriptionCount,
	watchlistEvents string
}

func newEventNames(prefix string) eventNames {
	if prefix == "" {
		return eventNames{}
	}
	p, i := prefix+":", prefix+"_internal:"
	return eventNames{
		prefix:                p,
		internal:              i,
		connectionEstablished: p + "connection_established",
		error:                 p + "error",
		ping:                  p + "ping",
		pong:                  p + "pong",
		subscribe:             p + "subscribe",
		unsubscribe:           p + "unsubscribe",
		subscriptionError:     p + "subscription_error",
		cacheMiss:             p + "cache_miss",
		signin:                p + "signin",
		signinSuccess:         p + "signin_success",
		subscriptionSucceeded: i + "subscription_succeeded",
		memberAdded:           i + "member_added",
		memberRemoved:         i + "member_removed",
		subscriptionCount:     i + "subscription_count",
		watchlistEvents:       i + "watchlist_events",
	}
}
