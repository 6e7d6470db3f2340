package config

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestPusherDefaults(t *testing.T) {
	c := Default()
	if !c.Pusher.Enabled || c.Pusher.Apps != nil {
		t.Errorf("Default().Pusher = %+v", c.Pusher)
	}
	a := DefaultPusherApp()
	if a.ID != "app-id" || a.Key != "app-key" || a.Secret != "app-secret" || !a.Enabled || !a.EnableClientMessages ||
		!a.EnableUserAuthentication || a.EventPrefix != "pusher" || a.MaxEventPayloadKB != 10 || a.MaxChannelsPerEvent != 100 ||
		a.MaxBatchEvents != 10 || a.MaxClientEventsPerSecond != 10 || a.MaxPresenceMembers != 100 || a.MaxChannelsPerConnection != 100 ||
		a.ActivityTimeout != Duration(120*time.Second) || a.PongTimeout != Duration(30*time.Second) {
		t.Errorf("DefaultPusherApp() = %+v", a)
	}
	c.Pusher.Apps = []PusherApp{a}
	if err := c.Validate(); err != nil {
		t.Errorf("the default app does not validate: %v", err)
	}
}

// An app entry names only what it changes; the rest are the defaults, with
// client events off.
func TestPusherAppsOverlay(t *testing.T) {
	c, err := Parse([]byte(`
		pusher: {
			apps: [
				{ id: "1", key: "k1", secret: "s1" }
				{
					id: "2", key: "k2", secret: "s2", enabled: false, event_prefix: "broadcastt"
					max_connections: 500, enable_client_messages: true, activity_timeout: 30
					max_channels_per_connection: 20
					allowed_origins: ["https://example.com"]
					webhooks: [ { url: "https://example.com/hook", event_types: ["channel_occupied", "member_added"],
					              filter: { channel_name_starts_with: "private-", channel_name_pattern: "*-eu" },
					              headers: { Authorization: "Bearer t0ken" } } ]
				}
			]
		}
	`), "p.hjson")
	if err != nil {
		t.Fatal(err)
	}
	want1 := pusherAppDefaults()
	want1.ID, want1.Key, want1.Secret = "1", "k1", "s1"
	want2 := pusherAppDefaults()
	want2.ID, want2.Key, want2.Secret, want2.Enabled, want2.EventPrefix = "2", "k2", "s2", false, "broadcastt"
	want2.MaxConnections, want2.EnableClientMessages, want2.ActivityTimeout = 500, true, Duration(30*time.Second)
	want2.MaxChannelsPerConnection = 20
	want2.AllowedOrigins = []string{"https://example.com"}
	want2.Webhooks = []PusherWebhook{{URL: "https://example.com/hook", EventTypes: []string{"channel_occupied", "member_added"},
		Filter:  PusherWebhookFilter{ChannelNameStartsWith: "private-", ChannelNamePattern: "*-eu"},
		Headers: map[string]string{"Authorization": "Bearer t0ken"}}}
	if !reflect.DeepEqual(c.Pusher.Apps, []PusherApp{want1, want2}) {
		t.Errorf("apps\n got %+v\nwant %+v", c.Pusher.Apps, []PusherApp{want1, want2})
	}
	if want1.EnableClientMessages {
		t.Error("client events are on by default for configured apps")
	}
	// And a Config with apps marshals back to a file that reads the same.
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(data, "roundtrip.json")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Pusher, c.Pusher) {
		t.Errorf("round trip\n got %+v\nwant %+v", back.Pusher, c.Pusher)
	}
}

// One row per key: the file sets one bad value, and the error names that
// key and says the fix.
func TestPusherBadKeys(t *testing.T) {
	app := func(extra string) string {
		return `pusher: { apps: [ { id: "a", key: "k", secret: "s", ` + extra + ` } ] }`
	}
	for _, tt := range []struct {
		text, key, msg string
	}{
		{`pusher: { apps: [ { key: "k", secret: "s" } ] }`, "pusher.apps[0].id", "missing"},
		{`pusher: { apps: [ { id: "a", secret: "s" } ] }`, "pusher.apps[0].key", "missing"},
		{`pusher: { apps: [ { id: "a", key: "k" } ] }`, "pusher.apps[0].secret", "missing"},
		{`pusher: { apps: [ "a" ] }`, "pusher.apps[0]", "want an app object"},
		{`pusher: { apps: { id: "a" } }`, "pusher.apps", "want a list"},
		{`pusher: { apps: [ { id: "a/b", key: "k", secret: "s" } ] }`, "pusher.apps[0].id", "URL path segment"},
		{`pusher: { apps: [ { id: "a", key: "k k", secret: "s" } ] }`, "pusher.apps[0].key", "URL path segment"},
		{app(`event_prefix: "pushr"`), "pusher.apps[0].event_prefix", "not one of pusher, broadcastt"},
		{app(`allowed_origins: ["example.com"]`), "pusher.apps[0].allowed_origins", "scheme://host"},
		{app(`max_connections: -1`), "pusher.apps[0].max_connections", "0 for unlimited"},
		{app(`max_client_events_per_second: 0`), "pusher.apps[0].max_client_events_per_second", "positive"},
		{app(`max_presence_members: 0`), "pusher.apps[0].max_presence_members", "positive"},
		{app(`max_presence_member_size_kb: 0`), "pusher.apps[0].max_presence_member_size_kb", "positive"},
		{app(`max_event_payload_kb: -1`), "pusher.apps[0].max_event_payload_kb", "positive"},
		{app(`max_channels_per_event: 0`), "pusher.apps[0].max_channels_per_event", "positive"},
		{app(`max_batch_events: 0`), "pusher.apps[0].max_batch_events", "positive"},
		{app(`max_channels_per_connection: 0`), "pusher.apps[0].max_channels_per_connection", "positive"},
		{app(`max_channels_per_connection: -5`), "pusher.apps[0].max_channels_per_connection", "positive"},
		{app(`user_authentication_timeout: "-1s"`), "pusher.apps[0].user_authentication_timeout", "negative"},
		{app(`activity_timeout: "100ms"`), "pusher.apps[0].activity_timeout", "at least"},
		{app(`pong_timeout: 0`), "pusher.apps[0].pong_timeout", "positive duration"},
		{app(`cache_ttl: 0`), "pusher.apps[0].cache_ttl", "positive duration"},
		{app(`webhook_grace_period: "-1s"`), "pusher.apps[0].webhook_grace_period", "out of range"},
		{app(`webhook_grace_period: "11m"`), "pusher.apps[0].webhook_grace_period", "up to 10m0s"},
		{app(`webhooks: [ { url: "https://x", event_types: ["user_onlin"] } ]`), "pusher.apps[0].webhooks[0].event_types", "did you mean user_online"},
		{app(`webhooks: [ { url: "ftp://x" } ]`), "pusher.apps[0].webhooks[0].url", "http or https"},
		{app(`webhooks: [ { url: "https://x", event_types: ["member_add"] } ]`), "pusher.apps[0].webhooks[0].event_types", "did you mean member_added"},
		{app(`webhooks: [ { url: "https://x", filter: { channel_name_pattern: "orders-[" } } ]`), "pusher.apps[0].webhooks[0].filter.channel_name_pattern", "not a valid glob"},
		{app(`webhooks: [ { url: "https://x", filter: { channel_prefix: "a" } } ]`), "pusher.apps[0].webhooks[0].filter.channel_prefix", "unknown key"},
		{app(`webhooks: [ { url: "https://x", headers: { "content-type": "text/plain" } } ]`), "pusher.apps[0].webhooks[0].headers.content-type", "Content-Type is set by the webhook protocol"},
		{app(`webhooks: [ { url: "https://x", headers: { "X-Pusher-Signature": "x" } } ]`), "pusher.apps[0].webhooks[0].headers.X-Pusher-Signature", "cannot be overridden"},
		{app(`webhooks: [ { url: "https://x", headers: { host: "x" } } ]`), "pusher.apps[0].webhooks[0].headers.host", "cannot be overridden"},
		{app(`webhooks: [ { url: "https://x", headers: { "Bad Name": "x" } } ]`), "pusher.apps[0].webhooks[0].headers.\"Bad Name\"", "not a valid header name"},
		{app(`webhooks: [ { url: "https://x", headers: { "X-A": "a\r\nX-B: b" } } ]`), "pusher.apps[0].webhooks[0].headers.X-A", "control characters"},
		{app(`webhooks: [ { url: "https://x", headers: "Authorization: x" } ]`), "pusher.apps[0].webhooks[0].headers", "want an object"},
		{app(`webhooks: [ { url: "https://x/h" }, { url: "https://x/h", event_types: ["member_added"] } ]`), "pusher.apps[0].webhooks[1].url", "also the url of webhooks[0]"},
		{app(`enabled: "maybe"`), "pusher.apps[0].enabled", "want true or false"},
		{app(`secrte: "x"`), "pusher.apps[0].secrte", "did you mean secret"},
		{`pusher: { apps: [ { id: "a", key: "k1", secret: "s" }, { id: "a", key: "k2", secret: "s" } ] }`, "pusher.apps[1].id", "also the id of pusher.apps[0]"},
		{`pusher: { apps: [ { id: "a", key: "k", secret: "s" }, { id: "b", key: "k", secret: "s" } ] }`, "pusher.apps[1].key", "also the key of pusher.apps[0]"},
		{`pusher: { enabled: 2 }`, "pusher.enabled", "want true or false"},
	} {
		t.Run(tt.key, func(t *testing.T) {
			_, err := Parse([]byte(tt.text), "bad.hjson")
			ps := problems(t, err)
			if len(ps) > 0 && ps[0].Msg == "want an app object { id: ..., key: ..., secret: ... }, got \"a\"" {
				ps = ps[:1] // the entry's id, key and secret are missing too
			}
			if len(ps) != 1 {
				t.Fatalf("Parse(%s): want 1 problem, got %d: %v", tt.text, len(ps), err)
			}
			if ps[0].Key != tt.key || !strings.Contains(ps[0].Msg, tt.msg) {
				t.Errorf("Parse(%s) = %q; want key %q, message containing %q", tt.text, ps[0], tt.key, tt.msg)
			}
		})
	}
}

// A webhook filter passes a channel that meets every condition given, and
// events without a channel.
func TestPusherWebhookFilterMatches(t *testing.T) {
	for _, tt := range []struct {
		f       PusherWebhookFilter
		channel string
		want    bool
	}{
		{PusherWebhookFilter{}, "anything", true},
		{PusherWebhookFilter{ChannelNameStartsWith: "private-"}, "private-a", true},
		{PusherWebhookFilter{ChannelNameStartsWith: "private-"}, "presence-a", false},
		{PusherWebhookFilter{ChannelNameEndsWith: "-admin"}, "private-x-admin", true},
		{PusherWebhookFilter{ChannelNameEndsWith: "-admin"}, "private-admin-x", false},
		{PusherWebhookFilter{ChannelNamePattern: "orders-*"}, "orders-42", true},
		{PusherWebhookFilter{ChannelNamePattern: "orders-*"}, "private-orders-42", false},
		{PusherWebhookFilter{ChannelNamePattern: "room-?"}, "room-12", false},
		{PusherWebhookFilter{ChannelNamePattern: "room-[0-9]"}, "room-7", true},
		{PusherWebhookFilter{ChannelNameStartsWith: "private-", ChannelNamePattern: "*-eu"}, "private-x-eu", true},
		{PusherWebhookFilter{ChannelNameStartsWith: "private-", ChannelNamePattern: "*-eu"}, "public-x-eu", false},
		{PusherWebhookFilter{ChannelNameStartsWith: "private-"}, "", true},
		{PusherWebhookFilter{ChannelNamePattern: "["}, "[", false},
	} {
		if got := tt.f.Matches(tt.channel); got != tt.want {
			t.Errorf("%+v.Matches(%q) = %v, want %v", tt.f, tt.channel, got, tt.want)
		}
	}
}

// Secrets are not in error messages.
func TestPusherSecretNotInErrors(t *testing.T) {
	_, err := Parse([]byte(`pusher: { apps: [ { id: "a b", key: "k", secret: "TOPSECRET", max_batch_events: 0 } ] }`), "s.hjson")
	if err == nil || strings.Contains(err.Error(), "TOPSECRET") {
		t.Errorf("error %v", err)
	}
}

// The example in docs/pusher.md must parse, and the page must list every
// app key, so that the docs cannot drift from the code.
func TestPusherDocs(t *testing.T) {
	page, err := os.ReadFile("../docs/pusher.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```hjson\n(.*?)```").FindAllSubmatch(page, -1)
	if len(blocks) == 0 {
		t.Fatal("no ```hjson example in docs/pusher.md")
	}
	for _, b := range blocks {
		c, err := Parse(b[1], "docs example")
		if err != nil {
			t.Errorf("docs example:\n%s\n%v", b[1], err)
		} else if len(c.Pusher.Apps) == 0 {
			t.Errorf("docs example configures no app")
		}
	}
	for _, key := range append(allKeys(reflect.TypeFor[PusherApp](), ""), "pusher.enabled", "pusher.apps") {
		if !strings.Contains(string(page), "`"+key+"`") {
			t.Errorf("docs/pusher.md does not list `%s`", key)
		}
	}
	for _, e := range PusherWebhookEvents {
		if !strings.Contains(string(page), "`"+e+"`") {
			t.Errorf("docs/pusher.md does not list the webhook event `%s`", e)
		}
	}
}
