package pusher

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/dialect"
	"github.com/switchboard-rt/switchboard/ws"
)

// app is one configured application, ready to serve.
type app struct {
	id, key string
	secret  []byte
	enabled bool
	ev      eventNames
	origins dialect.Origins // allowed_origins

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
	webhooks          []*hookTarget // each with its own queue and sender

	hubPrefix string        // "pusher/{id}/": the app's space among hub channels
	connKey   string        // "pusher/{id}": the hub's connection-count key
	conns     atomic.Int64  // open connections
	published atomic.Uint64 // messages handed to the hub for the app's channels
	macs      *sync.Pool    // *restMAC with secret, for REST signatures

	pingMsg, pongMsg *ws.PreparedMessage // pusher:ping and pusher:pong, framed once for every connection

	hookDrops [numDropReasons]atomic.Uint64 // webhook events dropped, by reason
}

func newApp(c config.PusherApp) *app {
	a := &app{
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
	for _, w := range c.Webhooks {
		a.webhooks = append(a.webhooks, &hookTarget{app: a, url: w.URL, events: w.EventTypes})
	}
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
