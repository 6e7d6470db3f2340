package config

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Atmosphere is the "atmosphere" section: the Navixy-style event
// subscription dialect (/event/subscription over the Atmosphere protocol,
// user/auth, and the publisher API the backend feeds it through).
type Atmosphere struct {
	// Enabled serves the dialect (true).
	Enabled bool `json:"enabled"`
	// Prefix is put before every path of the dialect, such as "/v2" for
	// Navixy's /v2/event/subscription ("": none).
	Prefix string `json:"prefix"`
	// Origin is "*" to accept any web page, or a comma-separated list of
	// exact Origin values such as "https://monitor.example.com" ("*").
	Origin string `json:"origin"`
	// TimeZone is the IANA zone of user_time in events ("UTC").
	TimeZone string `json:"time_zone"`
	// Users may call user/auth (none). Users added through the publisher API
	// live in memory only.
	Users []AtmosphereUser `json:"users"`
	// APIKeys are accepted as a subscription hash too (none).
	APIKeys []AtmosphereAPIKey `json:"api_keys"`
	// SessionTTL ends a user/auth session not used for this long ("720h": 30 days).
	SessionTTL Duration `json:"session_ttl"`
	// MaxSessionsPerUser caps the live sessions of one user; user/auth over it
	// fails with error 104 (100).
	MaxSessionsPerUser int `json:"max_sessions_per_user"`
	// LoginAttempts is how many user/auth calls one client address, or one
	// login, may make per LoginWindow; more fail with error 105 (10).
	LoginAttempts int `json:"login_attempts"`
	// LoginWindow is the period of LoginAttempts ("1m").
	LoginWindow Duration `json:"login_window"`
	// PublisherAPIKey is required on publisher API calls, as the key itself
	// or "sha256:" and its hex SHA-256; empty lets loopback clients only
	// call the API (""). It is a secret: never log it.
	PublisherAPIKey string `json:"publisher_api_key"`
	// MaxLastStates bounds the trackers whose last state, readings and IoT
	// values are kept for new subscribers; the least recently updated go
	// first (100000).
	MaxLastStates int `json:"max_last_states"`
	// MaxRequestSize is the largest client action, in bytes; larger gets
	// error 9 (65536).
	MaxRequestSize int `json:"max_request_size"`
	// MaxActionsPerSecond is how many actions one connection may send per
	// second; more get error 15 (20).
	MaxActionsPerSecond int `json:"max_actions_per_second"`
	// Heartbeat is how long a connection may be silent before the server
	// sends the heartbeat "X" ("60s"; 0: never). A client may ask for a
	// longer period, or 0, with X-Heartbeat-Server.
	Heartbeat Duration `json:"heartbeat"`
	// ClientHeartbeat is the client heartbeat period announced in the
	// handshake; a WebSocket silent for three periods is closed with 1001
	// ("30s"; 0: clients send none and are never closed for silence).
	ClientHeartbeat Duration `json:"client_heartbeat"`
	// LongPolling configures the long-polling fallback transport.
	LongPolling AtmosphereLongPolling `json:"long_polling"`
}

// AtmosphereUser is one user of user/auth.
type AtmosphereUser struct {
	// Login is the user's login, such as an e-mail address (required, unique).
	Login string `json:"login"`
	// PasswordHash is the bcrypt hash of the password (required), as made by
	// `htpasswd -nbBC 10 "" PASSWORD | cut -d: -f2`.
	PasswordHash string `json:"password_hash"`
	// Trackers are the tracker ids the user may subscribe to.
	Trackers []int64 `json:"trackers"`
	// DealerID, when not 0, is the only dealer_id user/auth accepts for the user.
	DealerID int64 `json:"dealer_id"`
}

// AtmosphereAPIKey is an API key accepted as a subscription hash. Only its
// SHA-256 is kept.
type AtmosphereAPIKey struct {
	// KeySHA256 is the hex SHA-256 of the key (required), as made by
	// `printf %s KEY | sha256sum`. The key itself is 32 hex characters.
	KeySHA256 string `json:"key_sha256"`
	// Login is the user the key acts for (required).
	Login string `json:"login"`
	// Trackers, when set, narrow the key to these of the user's trackers;
	// the others are "disallowed" to it (none: all of the user's).
	Trackers []int64 `json:"trackers"`
}

// AtmosphereLongPolling is the "atmosphere.long_polling" section.
type AtmosphereLongPolling struct {
	// PollTimeout is how long a poll is held open with nothing to send
	// ("30s"); keep it below the idle timeout of proxies in front.
	PollTimeout Duration `json:"poll_timeout"`
	// SessionExpiry ends a session that has not polled for this long
	// (0: twice PollTimeout).
	SessionExpiry Duration `json:"session_expiry"`
	// QueueSize bounds the messages waiting for a session's next poll; a
	// session over it is ended as a slow consumer (256).
	QueueSize int `json:"queue_size"`
	// MaxSessions caps long-polling sessions; over it a new session is
	// refused with 503 (10000).
	MaxSessions int `json:"max_sessions"`
	// MaxSessionsPerAddress caps the long-polling sessions of one client
	// address; over it a new session is refused with 429 (100). Behind a
	// reverse proxy on the same host, the address is the last one of
	// X-Forwarded-For (or X-Real-IP); without those headers every client
	// shares the proxy's.
	MaxSessionsPerAddress int `json:"max_sessions_per_address"`
	// UnsubscribedExpiry ends a session that has never subscribed when it
	// has not polled for this long ("10s"), so that sessions made and
	// abandoned do not hold places for session_expiry.
	UnsubscribedExpiry Duration `json:"unsubscribed_expiry"`
}

func defaultAtmosphere() Atmosphere {
	return Atmosphere{
		Enabled:             true,
		Origin:              "*",
		TimeZone:            "UTC",
		SessionTTL:          Duration(30 * 24 * time.Hour),
		MaxSessionsPerUser:  100,
		LoginAttempts:       10,
		LoginWindow:         Duration(time.Minute),
		MaxLastStates:       100000,
		MaxRequestSize:      64 << 10,
		MaxActionsPerSecond: 20,
		Heartbeat:           Duration(60 * time.Second),
		ClientHeartbeat:     Duration(30 * time.Second),
		LongPolling: AtmosphereLongPolling{
			PollTimeout:           Duration(30 * time.Second),
			QueueSize:             256,
			MaxSessions:           10000,
			MaxSessionsPerAddress: 100,
			UnsubscribedExpiry:    Duration(10 * time.Second),
		},
	}
}

// Origins returns the allowed Origin values, or nil when any is allowed.
func (a Atmosphere) Origins() []string {
	return Tokens{Origin: a.Origin}.Origins()
}

// Location returns TimeZone as a *time.Location (UTC when it is not valid).
func (a Atmosphere) Location() *time.Location {
	if loc, err := time.LoadLocation(a.TimeZone); err == nil {
		return loc
	}
	return time.UTC
}

// Endpoints of the dialect, relative to Prefix.
const (
	AtmosphereSubscriptionPath = "/event/subscription"
	AtmosphereAuthPath         = "/user/auth"
	AtmosphereLogoutPath       = "/user/logout"
	AtmospherePublisherPath    = "/publisher/"
)

func (a *Atmosphere) validate(ck *checker, path string) {
	if p := a.Prefix; p != "" && (!strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.ContainsFunc(p, func(r rune) bool {
		return r <= ' ' || r == 0x7f || strings.ContainsRune("?#{}", r)
	})) {
		ck.errorf(path+".prefix", "%q is not a path prefix: use \"\" or a path such as \"/v2\" (a leading '/', no trailing '/', no spaces, '?', '#', '{' or '}')%s", p, commaHint(p))
	} else if a.Enabled {
		for _, ep := range []string{AtmosphereSubscriptionPath, AtmosphereAuthPath, AtmosphereLogoutPath, AtmospherePublisherPath} {
			ck.route(path+".prefix", p+ep)
		}
	}
	(&Tokens{Origin: a.Origin}).validateOrigin(ck, path+".origin")
	if _, err := time.LoadLocation(a.TimeZone); err != nil || a.TimeZone == "" || a.TimeZone == "Local" {
		ck.errorf(path+".time_zone", "%q is not an IANA time zone; use e.g. \"UTC\" or \"Europe/Berlin\"%s", a.TimeZone, commaHint(a.TimeZone))
	}
	logins := a.validateUsers(ck, path+".users")
	a.validateKeys(ck, path+".api_keys", logins)
	ck.positiveDuration(path+".session_ttl", a.SessionTTL)
	ck.positive(path+".max_sessions_per_user", int64(a.MaxSessionsPerUser), "sessions, e.g. 100")
	ck.positive(path+".login_attempts", int64(a.LoginAttempts), "attempts, e.g. 10")
	ck.positiveDuration(path+".login_window", a.LoginWindow)
	if k, ok := strings.CutPrefix(a.PublisherAPIKey, "sha256:"); ok && !isHex(k, 64) {
		ck.errorf(path+".publisher_api_key", "after \"sha256:\" give the 64 hex digits of the key's SHA-256 (printf %%s KEY | sha256sum)")
	}
	ck.positive(path+".max_last_states", int64(a.MaxLastStates), "trackers, e.g. 100000")
	ck.positive(path+".max_request_size", int64(a.MaxRequestSize), "bytes, e.g. 65536")
	ck.positive(path+".max_actions_per_second", int64(a.MaxActionsPerSecond), "actions, e.g. 20")
	if a.Heartbeat < 0 {
		ck.errorf(path+".heartbeat", "%s is negative; use 0 to send no heartbeats or e.g. \"60s\"", a.Heartbeat)
	}
	if a.ClientHeartbeat < 0 || (a.ClientHeartbeat > 0 && a.ClientHeartbeat.Std() < time.Second) {
		ck.errorf(path+".client_heartbeat", "%s is not allowed; use 0 for none or at least \"1s\", e.g. \"30s\"", a.ClientHeartbeat)
	}
	lp, lpPath := &a.LongPolling, path+".long_polling"
	ck.positiveDuration(lpPath+".poll_timeout", lp.PollTimeout)
	if lp.SessionExpiry < 0 || (lp.SessionExpiry > 0 && lp.SessionExpiry < lp.PollTimeout) {
		ck.errorf(lpPath+".session_expiry", "%s is not allowed; use 0 for twice poll_timeout, or at least poll_timeout (%s)", lp.SessionExpiry, lp.PollTimeout)
	}
	ck.positive(lpPath+".queue_size", int64(lp.QueueSize), "messages, e.g. 256")
	ck.positive(lpPath+".max_sessions", int64(lp.MaxSessions), "sessions, e.g. 10000")
	ck.positive(lpPath+".max_sessions_per_address", int64(lp.MaxSessionsPerAddress), "sessions, e.g. 100")
	ck.positiveDuration(lpPath+".unsubscribed_expiry", lp.UnsubscribedExpiry)
}

// validateUsers checks the users and returns their logins.
func (a *Atmosphere) validateUsers(ck *checker, path string) map[string]bool {
	logins := map[string]bool{}
	for i, u := range a.Users {
		p := fmt.Sprintf("%s[%d]", path, i)
		switch {
		case strings.TrimSpace(u.Login) == "":
			ck.errorf(p+".login", "is empty; give the user's login, such as an e-mail address")
		case logins[u.Login]:
			ck.errorf(p+".login", "%q is listed twice; give each user once", u.Login)
		}
		logins[u.Login] = true
		if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			ck.errorf(p+".password_hash", "is not a bcrypt hash (%v); make one with: htpasswd -nbBC 10 \"\" PASSWORD | cut -d: -f2", err)
		}
		checkTrackers(ck, p+".trackers", u.Trackers)
		if u.DealerID < 0 {
			ck.errorf(p+".dealer_id", "%d is negative; use 0 for any dealer", u.DealerID)
		}
	}
	return logins
}

func (a *Atmosphere) validateKeys(ck *checker, path string, logins map[string]bool) {
	seen := map[string]bool{}
	for i, k := range a.APIKeys {
		p := fmt.Sprintf("%s[%d]", path, i)
		h := strings.ToLower(k.KeySHA256)
		switch {
		case !isHex(h, 64):
			ck.errorf(p+".key_sha256", "is not 64 hex digits; give the key's SHA-256: printf %%s KEY | sha256sum")
		case seen[h]:
			ck.errorf(p+".key_sha256", "is listed twice; give each key once")
		}
		seen[h] = true
		if !logins[k.Login] {
			ck.errorf(p+".login", "%q is not the login of one of atmosphere.users; name the user the key acts for", k.Login)
		}
		checkTrackers(ck, p+".trackers", k.Trackers)
	}
}

func checkTrackers(ck *checker, path string, ids []int64) {
	for i, id := range ids {
		if id <= 0 {
			ck.errorf(path, "entry %d is %d; tracker ids are positive whole numbers", i+1, id)
		}
	}
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
