package config

import (
	"strings"
	"testing"
	"time"
)

// A bcrypt hash of "secret", cost 4.
const testBcrypt = "$2a$04$/xqjDTzszglqlk6GSmevK.kfTi1mtyIr58pCzuFHeFJuJOTppGhLW"

func TestAtmosphereDefaults(t *testing.T) {
	a := Default().Atmosphere
	if !a.Enabled || a.Prefix != "" || a.Origin != "*" || a.Users != nil || a.SessionTTL != Duration(720*time.Hour) ||
		a.LoginAttempts != 10 || a.MaxRequestSize != 65536 || a.MaxActionsPerSecond != 20 || a.Heartbeat != Duration(time.Minute) ||
		a.ClientHeartbeat != Duration(30*time.Second) || a.LongPolling.PollTimeout != Duration(30*time.Second) || a.LongPolling.QueueSize != 256 {
		t.Errorf("Default().Atmosphere = %+v", a)
	}
	if a.Location().String() != "UTC" || a.Origins() != nil {
		t.Errorf("location %v, origins %v", a.Location(), a.Origins())
	}
}

func TestAtmosphereParse(t *testing.T) {
	c, err := Parse([]byte(`
		atmosphere: {
			prefix: /v2
			time_zone: Europe/Berlin
			users: [ { login: "a@example.com", password_hash: "`+testBcrypt+`", trackers: [1, 2] } ]
			api_keys: [ { key_sha256: "`+strings.Repeat("ab", 32)+`", login: "a@example.com", trackers: [2] } ]
			publisher_api_key: "sha256:`+strings.Repeat("0f", 32)+`"
			long_polling: { poll_timeout: "20s", session_expiry: "1m" }
		}
	`), "a.hjson")
	if err != nil {
		t.Fatal(err)
	}
	a := c.Atmosphere
	if a.Prefix != "/v2" || a.Location().String() != "Europe/Berlin" || len(a.Users) != 1 || a.Users[0].Trackers[1] != 2 ||
		a.APIKeys[0].Trackers[0] != 2 || a.LongPolling.PollTimeout != Duration(20*time.Second) || a.LongPolling.QueueSize != 256 ||
		a.LongPolling.MaxSessionsPerAddress != 100 || a.LongPolling.UnsubscribedExpiry != Duration(10*time.Second) {
		t.Errorf("parsed %+v", a)
	}
}

func TestAtmosphereProblems(t *testing.T) {
	for _, tt := range []struct{ text, want string }{
		{`atmosphere: { prefix: "v2" }`, "atmosphere.prefix: \"v2\" is not a path prefix"},
		{`atmosphere: { prefix: "/v2/" }`, "atmosphere.prefix: \"/v2/\" is not a path prefix"},
		{`atmosphere: { time_zone: "Mars/Olympus" }`, "atmosphere.time_zone: \"Mars/Olympus\" is not an IANA time zone"},
		{`atmosphere: { origin: "example.com" }`, "atmosphere.origin: \"example.com\" is not an origin"},
		{`atmosphere: { users: [ { login: "", password_hash: "` + testBcrypt + `" } ] }`, "atmosphere.users[0].login: is empty"},
		{`atmosphere: { users: [ { login: "a", password_hash: "secret" } ] }`, "atmosphere.users[0].password_hash: is not a bcrypt hash"},
		{`atmosphere: { users: [ { login: "a", password_hash: "` + testBcrypt + `", trackers: [0] } ] }`, "atmosphere.users[0].trackers: entry 1 is 0"},
		{`atmosphere: { users: [ { login: "a", password_hash: "` + testBcrypt + `" }, { login: "a", password_hash: "` + testBcrypt + `" } ] }`, "atmosphere.users[1].login: \"a\" is listed twice"},
		{`atmosphere: { api_keys: [ { key_sha256: "abc", login: "x" } ] }`, "atmosphere.api_keys[0].key_sha256: is not 64 hex digits"},
		{`atmosphere: { api_keys: [ { key_sha256: "` + strings.Repeat("ab", 32) + `", login: "x" } ] }`, "atmosphere.api_keys[0].login: \"x\" is not the login of one of atmosphere.users"},
		{`atmosphere: { publisher_api_key: "sha256:xyz" }`, "atmosphere.publisher_api_key: after \"sha256:\" give the 64 hex digits"},
		{`atmosphere: { session_ttl: 0 }`, "atmosphere.session_ttl: 0s is not allowed"},
		{`atmosphere: { login_attempts: 0 }`, "atmosphere.login_attempts: 0 is not allowed"},
		{`atmosphere: { max_request_size: -1 }`, "atmosphere.max_request_size: -1 is not allowed"},
		{`atmosphere: { heartbeat: -1 }`, "atmosphere.heartbeat: -1s is negative"},
		{`atmosphere: { client_heartbeat: "10ms" }`, "atmosphere.client_heartbeat: 10ms is not allowed"},
		{`atmosphere: { long_polling: { session_expiry: "5s" } }`, "atmosphere.long_polling.session_expiry: 5s is not allowed"},
		{`atmosphere: { long_polling: { queue_size: 0 } }`, "atmosphere.long_polling.queue_size: 0 is not allowed"},
		{`atmosphere: { long_polling: { max_sessions_per_address: 0 } }`, "atmosphere.long_polling.max_sessions_per_address: 0 is not allowed"},
		{`atmosphere: { long_polling: { unsubscribed_expiry: 0 } }`, "atmosphere.long_polling.unsubscribed_expiry: 0s is not allowed"},
		{`echo: { path: "/event/subscription" }`, "\"/event/subscription\" is already used by"},
	} {
		c, err := Parse([]byte(tt.text), "a.hjson")
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s:\n got %v\nwant %s", tt.text, err, tt.want)
		}
	}
}
