package config

import (
	"strings"
	"testing"
)

func TestAppStoreValidation(t *testing.T) {
	tests := []struct {
		name, text string
		want       string // "" for valid
	}{
		{"file by default", `pusher: { apps: [ { id: "a", key: "k", secret: "s" } ] }`, ""},
		{"postgres", `pusher: { app_store: { driver: "postgres", url: "postgres://u@localhost/db" } }`, ""},
		{"postgres, url from libpq's defaults", `pusher: { app_store: { driver: "postgres" } }`, ""},
		{"unknown driver", `pusher: { app_store: { driver: "mysql" } }`, `pusher.app_store.driver: "mysql" is not one of file, postgres`},
		{"not a postgres URL", `pusher: { app_store: { driver: "postgres", url: "mysql://x" } }`, "pusher.app_store.url: not a postgres:// URL"},
		{"a url with the file store", `pusher: { app_store: { url: "postgres://x" } }`, "pusher.app_store.url: set, but"},
		{"apps with postgres", `pusher: { app_store: { driver: "postgres" }, apps: [ { id: "a", key: "k", secret: "s" } ] }`, "pusher.apps: 1 apps listed"},
		{"refresh 0", `pusher: { app_store: { refresh_interval: 0 } }`, "pusher.app_store.refresh_interval: 0s is not allowed"},
		{"negative grace", `pusher: { secret_grace_period: "-1s" }`, "pusher.secret_grace_period: -1s is negative"},
	}
	for _, tc := range tests {
		_, err := Parse([]byte(tc.text), "s.hjson")
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestValidatePusherAppNamesFields(t *testing.T) {
	a := NewPusherApp("a", "", "s")
	a.MaxConnections = -1
	err := ValidatePusherApp(a)
	if err == nil || !strings.Contains(err.Error(), "key: missing") || !strings.Contains(err.Error(), "max_connections: -1 is negative") {
		t.Fatalf("ValidatePusherApp: %v", err)
	}
	if err := ValidatePusherApp(NewPusherApp("a", "k", "s")); err != nil {
		t.Fatalf("a new app does not validate: %v", err)
	}
}

func TestAppStoreURLFromTheEnvironment(t *testing.T) {
	c := Default()
	if err := c.ApplyEnv(func(k string) string {
		if k == EnvAppStoreURL {
			return "postgres://u@db/x"
		}
		return ""
	}); err != nil || c.Pusher.AppStore.URL != "postgres://u@db/x" {
		t.Fatalf("ApplyEnv: %v, url %q", err, c.Pusher.AppStore.URL)
	}
}
