package config

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/hjson/hjson-go/v4"
)

// Pusher is the "pusher" section: the Pusher Channels dialect (protocol 7,
// and its "broadcastt:" variant) at /app/{key} and the REST API at
// /apps/{id}. With no apps, the dialect serves DefaultPusherApp and warns.
type Pusher struct {
	// Enabled serves the dialect (true).
	Enabled bool `json:"enabled"`
	// Apps are the applications served, each with its own credentials and
	// limits (none: DefaultPusherApp). With app_store.driver "postgres"
	// they come from the database instead and this list must be empty.
	Apps []PusherApp `json:"apps"`
	// AppStore is where the apps are kept: this file (the default) or a
	// PostgreSQL table (docs/apps.md).
	AppStore AppStore `json:"app_store"`
	// SecretGracePeriod is how long an app's previous secret still
	// verifies after its secret changed (a reload, or rotate-secret), so
	// that server SDKs can be redeployed (10m; 0: the old secret stops at
	// once).
	SecretGracePeriod Duration `json:"secret_grace_period"`
}

// App store drivers, the values of pusher.app_store.driver.
const (
	AppStoreFile     = "file"     // pusher.apps of the config file
	AppStorePostgres = "postgres" // a PostgreSQL table
)

// AppStore is the "pusher.app_store" section.
type AppStore struct {
	// Driver is "file" (pusher.apps, changed by editing the file and
	// reloading) or "postgres" (the switchboard_apps table, changed with
	// the admin API or SQL) ("file").
	Driver string `json:"driver"`
	// URL is the PostgreSQL connection string, e.g.
	// "postgres://user:pass@localhost:5432/switchboard" (overridden by
	// SWITCHBOARD_APP_STORE_URL; "": libpq's defaults and PG* variables
	// such as PGHOST and PGPASSWORD).
	URL string `json:"url"`
	// RefreshInterval bounds how stale the served apps can be: the table
	// is read again this often, besides on each LISTEN/NOTIFY notice (10s).
	RefreshInterval Duration `json:"refresh_interval"`
	// Required makes /readyz fail while the store cannot be read (false:
	// the node keeps serving the apps it knows and only logs the outage).
	Required bool `json:"required"`
	// Migrate creates or upgrades the table at start (false: run
	// "switchboard migrate" once instead).
	Migrate bool `json:"migrate"`
}

func defaultPusher() Pusher {
	return Pusher{
		Enabled:           true,
		AppStore:          AppStore{Driver: AppStoreFile, RefreshInterval: Duration(10 * time.Second)},
		SecretGracePeriod: Duration(10 * time.Minute),
	}
}

// PusherApp is one entry of pusher.apps. Keys left out of an entry take
// the defaults of DefaultPusherApp, except id, key and secret, which are
// required.
type PusherApp struct {
	// ID is the app id of the REST API, /apps/{id} (required).
	ID string `json:"id"`
	// Key is the public key clients connect with, /app/{key} (required).
	Key string `json:"key"`
	// Secret signs REST calls, channel auth, sign-ins and webhooks
	// (required). It is a secret: never log it.
	Secret string `json:"secret"`
	// Enabled serves the app; a disabled app refuses connections with 4003
	// and REST calls with 403 (true).
	Enabled bool `json:"enabled"`
	// EventPrefix is "pusher" (pusher:, pusher_internal:) or "broadcastt"
	// (broadcastt:, broadcastt_internal:) ("pusher").
	EventPrefix string `json:"event_prefix"`
	// AllowedOrigins are the Origin values accepted on WebSocket
	// handshakes, scheme://host[:port] (none: any origin).
	AllowedOrigins []string `json:"allowed_origins"`
	// MaxConnections caps the app's open connections; more are closed with
	// 4004 (0: unlimited).
	MaxConnections int `json:"max_connections"`
	// MaxClientEventsPerSecond caps client events per connection; excess
	// ones are refused with 4301 (10).
	MaxClientEventsPerSecond int `json:"max_client_events_per_second"`
	// MaxPresenceMembers caps the members of one presence channel (100).
	MaxPresenceMembers int `json:"max_presence_members"`
	// MaxPresenceMemberSizeKB caps a presence member's user_info (1 KB).
	MaxPresenceMemberSizeKB int `json:"max_presence_member_size_kb"`
	// MaxEventPayloadKB caps an event's data, in KiB (10).
	MaxEventPayloadKB int `json:"max_event_payload_kb"`
	// MaxChannelsPerEvent caps the channels of one REST event (100).
	MaxChannelsPerEvent int `json:"max_channels_per_event"`
	// MaxBatchEvents caps the events of one batch_events call (10).
	MaxBatchEvents int `json:"max_batch_events"`
	// MaxChannelsPerConnection caps the channels one connection is
	// subscribed to at once; a subscription over it is refused with a
	// LimitReached subscription error and the connection stays open (100).
	MaxChannelsPerConnection int `json:"max_channels_per_connection"`
	// EnableClientMessages lets connections send client- events on private
	// and presence channels (false).
	EnableClientMessages bool `json:"enable_client_messages"`
	// EnableUserAuthentication accepts pusher:signin (true).
	EnableUserAuthentication bool `json:"enable_user_authentication"`
	// UserAuthenticationTimeout, when positive, closes connections that
	// have not signed in within it with 4009 (0: signing in is optional).
	UserAuthenticationTimeout Duration `json:"user_authentication_timeout"`
	// EnableSubscriptionCount sends pusher_internal:subscription_count to
	// the subscribers of a channel when its subscriber count changes (false).
	EnableSubscriptionCount bool `json:"enable_subscription_count"`
	// ActivityTimeout is the silence after which the server pings a
	// connection, announced to clients as activity_timeout (120s).
	ActivityTimeout Duration `json:"activity_timeout"`
	// PongTimeout is how long a pinged connection has to answer before it
	// is closed with 4201 (30s).
	PongTimeout Duration `json:"pong_timeout"`
	// CacheTTL is how long a cache channel keeps its last event (30m).
	CacheTTL Duration `json:"cache_ttl"`
	// Webhooks are the URLs told about channel and member events (none).
	Webhooks []PusherWebhook `json:"webhooks"`
	// WebhookGracePeriod is how long a member, channel or user must stay
	// gone before member_removed, channel_vacated or user_offline is sent:
	// a reload within it sends no webhook at all (3s, Pusher's; 0 sends
	// them at once).
	WebhookGracePeriod Duration `json:"webhook_grace_period"`
	// EnableUserOnlineEvents tracks which users are online in the whole
	// cluster (a connection signed in or on a presence channel as the
	// user), sends the user_online and user_offline webhooks (a Switchboard
	// extension) and answers GET /apps/{id}/users (false).
	EnableUserOnlineEvents bool `json:"enable_user_online_events"`
}

// PusherWebhook is one entry of an app's webhooks.
type PusherWebhook struct {
	// URL receives the signed POSTs (required).
	URL string `json:"url"`
	// EventTypes are the events sent, of PusherWebhookEvents (none: all).
	EventTypes []string `json:"event_types"`
	// Filter narrows the events sent to those of some channels (none: all
	// channels). Events without a channel pass it.
	Filter PusherWebhookFilter `json:"filter"`
	// Headers are sent with every POST, e.g. {Authorization: "Bearer ..."}
	// for the receiver (none). Headers that the webhook protocol sets
	// itself (Content-Type, X-Pusher-*, Host, ...) are refused.
	Headers map[string]string `json:"headers,omitempty"`
}

// PusherWebhookFilter is the "filter" of a webhook entry, in Soketi's shape
// plus a glob: a channel passes when it matches every condition given.
type PusherWebhookFilter struct {
	// ChannelNameStartsWith is a prefix the channel name must have ("").
	ChannelNameStartsWith string `json:"channel_name_starts_with"`
	// ChannelNameEndsWith is a suffix the channel name must have ("").
	ChannelNameEndsWith string `json:"channel_name_ends_with"`
	// ChannelNamePattern is a glob the whole channel name must match, in
	// the syntax of Go's path.Match: * any run of characters, ? one,
	// [a-z] one of a class, \\ escapes ("").
	ChannelNamePattern string `json:"channel_name_pattern"`
}

// Matches reports whether channel passes f. Events without a channel
// ("") pass any filter. A malformed pattern (refused by validation)
// matches nothing.
func (f PusherWebhookFilter) Matches(channel string) bool {
	if channel == "" {
		return true
	}
	if !strings.HasPrefix(channel, f.ChannelNameStartsWith) || !strings.HasSuffix(channel, f.ChannelNameEndsWith) {
		return false
	}
	if f.ChannelNamePattern == "" {
		return true
	}
	ok, err := path.Match(f.ChannelNamePattern, channel)
	return ok && err == nil
}

// validPattern reports whether ChannelNamePattern is a well-formed glob.
func (f PusherWebhookFilter) validPattern() bool {
	_, err := path.Match(f.ChannelNamePattern, "")
	return err == nil
}

// reservedWebhookHeaders are the request headers a webhook entry may not
// set: the webhook protocol's own, and those net/http manages. Canonical
// form.
var reservedWebhookHeaders = []string{
	"Content-Type", "Content-Length", "Content-Encoding", "Transfer-Encoding", "Host", "Connection",
	"Te", "Trailer", "Upgrade", "Keep-Alive", "Proxy-Connection", "Expect",
	"X-Pusher-Key", "X-Pusher-Signature", "X-Switchboard-Webhook-Id",
}

// PusherWebhookEvents are the webhook event types an app can ask for.
var PusherWebhookEvents = []string{
	"channel_occupied", "channel_vacated", "member_added", "member_removed",
	"client_event", "cache_miss", "subscription_count",
	"user_online", "user_offline",
}

// MaxWebhookGracePeriod bounds webhook_grace_period: a longer one would
// keep a departed user reported online for that long.
const MaxWebhookGracePeriod = 10 * time.Minute

// DefaultPusherApp returns the app served when pusher.apps is empty, with
// the well-known credentials app-id, app-key and app-secret, client events
// and user sign-in on. Its fields are also the defaults of every entry of
// pusher.apps, except that client events are off there.
func DefaultPusherApp() PusherApp {
	a := pusherAppDefaults()
	a.ID, a.Key, a.Secret = "app-id", "app-key", "app-secret"
	a.EnableClientMessages = true
	return a
}

func pusherAppDefaults() PusherApp {
	return PusherApp{
		Enabled:                  true,
		EventPrefix:              "pusher",
		MaxClientEventsPerSecond: 10,
		MaxPresenceMembers:       100,
		MaxPresenceMemberSizeKB:  1,
		MaxEventPayloadKB:        10,
		MaxChannelsPerEvent:      100,
		MaxBatchEvents:           10,
		MaxChannelsPerConnection: 100,
		EnableUserAuthentication: true,
		ActivityTimeout:          Duration(120 * time.Second),
		PongTimeout:              Duration(30 * time.Second),
		CacheTTL:                 Duration(30 * time.Minute),
		WebhookGracePeriod:       Duration(3 * time.Second),
	}
}

// setHJSON decodes one app over the defaults, so that an entry names only
// what it changes.
func (a *PusherApp) setHJSON(d *decoder, path string, v any) {
	*a = pusherAppDefaults()
	m, ok := v.(*hjson.OrderedMap)
	if !ok {
		d.failf(path, "want an app object { id: ..., key: ..., secret: ... }, got %s", describe(v))
		return
	}
	d.object(path, m, reflect.ValueOf(a).Elem())
}

func (p *Pusher) validate(ck *checker, path string) {
	p.AppStore.validate(ck, path+".app_store")
	if p.AppStore.Driver == AppStorePostgres && len(p.Apps) > 0 {
		ck.errorf(path+".apps", "%d apps listed, but %s is %q: the apps are in the database; remove pusher.apps, or use the file store",
			len(p.Apps), ck.name(path+".app_store.driver"), AppStorePostgres)
	}
	if p.SecretGracePeriod < 0 {
		ck.errorf(path+".secret_grace_period", "%s is negative; use 0 to drop an old secret at once, or e.g. \"10m\"", p.SecretGracePeriod)
	}
	ids, keys := map[string]int{}, map[string]int{}
	for i := range p.Apps {
		a := &p.Apps[i]
		ap := fmt.Sprintf("%s.apps[%d]", path, i)
		a.validate(ck, ap)
		if j, dup := ids[a.ID]; dup && a.ID != "" {
			ck.errorf(ap+".id", "%q is also the id of %s.apps[%d]; give each app its own id", a.ID, path, j)
		}
		if j, dup := keys[a.Key]; dup && a.Key != "" {
			ck.errorf(ap+".key", "%q is also the key of %s.apps[%d]; give each app its own key", a.Key, path, j)
		}
		ids[a.ID], keys[a.Key] = i, i
	}
}

func (s *AppStore) validate(ck *checker, path string) {
	switch s.Driver {
	case AppStoreFile:
		if s.URL != "" {
			ck.errorf(path+".url", "set, but %s is %q; set the driver to %q or remove the url", ck.name(path+".driver"), s.Driver, AppStorePostgres)
		}
	case AppStorePostgres:
		if u, err := url.Parse(s.URL); s.URL != "" && (err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql")) {
			ck.errorf(path+".url", "not a postgres:// URL; use e.g. \"postgres://switchboard@localhost:5432/switchboard\"")
		}
	default:
		ck.errorf(path+".driver", "%q is not one of %s, %s%s", s.Driver, AppStoreFile, AppStorePostgres, suggest(s.Driver, []string{AppStoreFile, AppStorePostgres}))
	}
	ck.positiveDuration(path+".refresh_interval", s.RefreshInterval)
}

// ValidatePusherApp checks one app as a pusher.apps entry is checked, and
// returns one *Error per problem, its Key the field's name ("secret",
// "webhooks[0].url"), joined with errors.Join.
func ValidatePusherApp(a PusherApp) error {
	ck := &checker{}
	a.validate(ck, "")
	for _, e := range ck.errs {
		e.Key = strings.TrimPrefix(e.Key, ".")
	}
	return joinErrors(ck.errs, "")
}

// NewPusherApp returns an app with every field at its default, as a
// pusher.apps entry that names only id, key and secret has.
func NewPusherApp(id, key, secret string) PusherApp {
	a := pusherAppDefaults()
	a.ID, a.Key, a.Secret = id, key, secret
	return a
}

// pusherNameChars are the characters allowed in an app id or key: they
// appear in URL paths.
const pusherNameChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.="

func (a *PusherApp) validate(ck *checker, path string) {
	for _, f := range []struct{ key, val string }{{"id", a.ID}, {"key", a.Key}} {
		switch {
		case f.val == "":
			ck.errorf(path+"."+f.key, "missing; every app needs an id, a key and a secret")
		case strings.Trim(f.val, pusherNameChars) != "":
			ck.errorf(path+"."+f.key, "%q has characters not allowed in a URL path segment; use letters, digits and - _ . =", f.val)
		}
	}
	if a.Secret == "" {
		ck.errorf(path+".secret", "missing; every app needs an id, a key and a secret")
	}
	if a.EventPrefix != "pusher" && a.EventPrefix != "broadcastt" {
		ck.errorf(path+".event_prefix", "%q is not one of pusher, broadcastt%s", a.EventPrefix, commaHint(a.EventPrefix))
	}
	for _, o := range a.AllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			ck.errorf(path+".allowed_origins", "%q is not an origin; write scheme://host[:port], e.g. \"https://example.com\"", o)
		}
	}
	if a.MaxConnections < 0 {
		ck.errorf(path+".max_connections", "%d is negative; use 0 for unlimited or a positive limit", a.MaxConnections)
	}
	ck.positive(path+".max_client_events_per_second", int64(a.MaxClientEventsPerSecond), "events, e.g. 10")
	ck.positive(path+".max_presence_members", int64(a.MaxPresenceMembers), "members, e.g. 100")
	ck.positive(path+".max_presence_member_size_kb", int64(a.MaxPresenceMemberSizeKB), "KiB, e.g. 1")
	ck.positive(path+".max_event_payload_kb", int64(a.MaxEventPayloadKB), "KiB, e.g. 10")
	ck.positive(path+".max_channels_per_event", int64(a.MaxChannelsPerEvent), "channels, e.g. 100")
	ck.positive(path+".max_batch_events", int64(a.MaxBatchEvents), "events, e.g. 10")
	ck.positive(path+".max_channels_per_connection", int64(a.MaxChannelsPerConnection), "channels, e.g. 100")
	if a.UserAuthenticationTimeout < 0 {
		ck.errorf(path+".user_authentication_timeout", "%s is negative; use 0 to make signing in optional, or e.g. \"30s\"", a.UserAuthenticationTimeout)
	}
	if a.ActivityTimeout < Duration(time.Second) {
		ck.errorf(path+".activity_timeout", "%s is too short; use at least \"1s\", e.g. \"120s\"", a.ActivityTimeout)
	}
	ck.positiveDuration(path+".pong_timeout", a.PongTimeout)
	ck.positiveDuration(path+".cache_ttl", a.CacheTTL)
	if a.WebhookGracePeriod < 0 || a.WebhookGracePeriod > Duration(MaxWebhookGracePeriod) {
		ck.errorf(path+".webhook_grace_period", "%s is out of range; use 0 (send at once) up to %s, e.g. \"3s\" (Pusher's)", a.WebhookGracePeriod, Duration(MaxWebhookGracePeriod))
	}
	urls := map[string]int{}
	for i, w := range a.Webhooks {
		wp := fmt.Sprintf("%s.webhooks[%d]", path, i)
		if j, dup := urls[w.URL]; dup {
			ck.errorf(wp+".url", "also the url of webhooks[%d]; each URL has one queue, so list it once with the union of its event types", j)
		}
		urls[w.URL] = i
		u, err := url.Parse(w.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ck.errorf(wp+".url", "%q is not an http or https URL; use e.g. \"https://example.com/pusher/webhook\"%s", w.URL, commaHint(w.URL))
		}
		for _, e := range w.EventTypes {
			if !slices.Contains(PusherWebhookEvents, e) {
				ck.errorf(wp+".event_types", "%q is not one of %s%s", e, strings.Join(PusherWebhookEvents, ", "), suggest(e, PusherWebhookEvents))
			}
		}
		if !w.Filter.validPattern() {
			ck.errorf(wp+".filter.channel_name_pattern", "%q is not a valid glob; use * ? and [...], e.g. \"orders-*\"", w.Filter.ChannelNamePattern)
		}
		w.validateHeaders(ck, wp+".headers")
	}
}

// headerNameChars are the characters of an HTTP header name (RFC 9110 token).
const headerNameChars = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// validateHeaders refuses header names that are not HTTP tokens, values
// that could split a request, and the headers the protocol sets itself.
func (w *PusherWebhook) validateHeaders(ck *checker, at string) {
	names := make([]string, 0, len(w.Headers))
	for k := range w.Headers {
		names = append(names, k)
	}
	slices.Sort(names) // one error order for one config
	for _, k := range names {
		v := w.Headers[k]
		switch canon := http.CanonicalHeaderKey(k); {
		case k == "" || strings.Trim(k, headerNameChars) != "":
			ck.errorf(joinKey(at, k), "%q is not a valid header name; use letters, digits and - only, e.g. \"Authorization\"", k)
		case slices.Contains(reservedWebhookHeaders, canon):
			ck.errorf(joinKey(at, k), "%s is set by the webhook protocol itself and cannot be overridden; remove it", canon)
		case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }):
			ck.errorf(joinKey(at, k), "the value has control characters (such as a line break); give a single-line value")
		}
	}
}
