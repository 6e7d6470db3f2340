package config

import (
	"strings"
	"testing"
)

// One row per rule of Admission: what decides tokens.allow_unregistered_clients.
func TestAdmission(t *testing.T) {
	for _, tt := range []struct {
		name, file, text string
		open             bool
		rule, why        string
	}{
		{"no file", "", "", true, AdmissionDefault, "the default"},
		{"current file without the key", "s.hjson", "port: 9000", true, AdmissionDefault, "the default"},
		{"current key on", "s.hjson", "tokens: { allow_unregistered_clients: true }", true, AdmissionFile, "tokens.allow_unregistered_clients is set in s.hjson"},
		{"current key off", "s.hjson", "tokens: { allow_unregistered_clients: false }", false, AdmissionFile, "is set in"},
		{"current key null", "s.hjson", "tokens: { allow_unregistered_clients: null }", true, AdmissionDefault, "the default"},
		{"legacy key yes", "websockets.conf", `{ Port: "8000", AllowUnregisteredClients: "yes" }`, true, AdmissionFile, "AllowUnregisteredClients (tokens.allow_unregistered_clients) is set in websockets.conf"},
		{"legacy key no", "websockets.conf", `{ AllowUnregisteredClients: "no" }`, false, AdmissionFile, "is set"},
		{"legacy file without the key (the original's commented line)", "websockets.conf", "{\n  Host: \"localhost\",\n  Port: \"8000\",\n  Origin: \"*\",\n# AllowUnregisteredClients: \"yes\",\n}", false, AdmissionLegacyDefault, "websockets.conf is legacy (by its name)"},
		{"legacy by name, only Port", "/etc/switchboard/websockets.conf", `{ Port: "8000" }`, false, AdmissionLegacyDefault, "by its name"},
		{"legacy by key, other name", "broker.conf", `{ RegisteredTokensUrl: "https://example.com/t" }`, false, AdmissionLegacyDefault, "uses the legacy key RegisteredTokensUrl"},
		{"legacy key null", "websockets.conf", `{ AllowUnregisteredClients: null }`, false, AdmissionLegacyDefault, "without AllowUnregisteredClients"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			if tt.file != "" {
				var err error
				if c, err = Parse([]byte(tt.text), tt.file); err != nil {
					t.Fatal(err)
				}
			}
			a := c.Admission()
			if a.Open != tt.open || a.Rule != tt.rule || !strings.Contains(a.Why, tt.why) {
				t.Errorf("Admission() = %+v, want open %v rule %s, why containing %q", a, tt.open, tt.rule, tt.why)
			}
			if c.Tokens.AllowUnregisteredClients != tt.open {
				t.Errorf("tokens.allow_unregistered_clients = %v, want %v", c.Tokens.AllowUnregisteredClients, tt.open)
			}
		})
	}
}
