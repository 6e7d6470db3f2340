package dialect_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"go.uber.org/goleak"

	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/dialect"
	"github.com/switchboard-rt/switchboard/dialect/atmosphere"
	"github.com/switchboard-rt/switchboard/dialect/echo"
	"github.com/switchboard-rt/switchboard/dialect/pusher"
	"github.com/switchboard-rt/switchboard/dialect/tokens"
	"github.com/switchboard-rt/switchboard/hub"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// constructors builds each dialect with its default config, in the one
// shape of the contract.
var constructors = []struct {
	name    string
	needHub bool
	new     func(dialect.Deps) (dialect.Dialect, error)
}{
	{"echo", false, func(d dialect.Deps) (dialect.Dialect, error) { return echo.New(config.Default().Echo, d) }},
	{"tokens", true, func(d dialect.Deps) (dialect.Dialect, error) { return tokens.New(config.Default().Tokens, d) }},
	{"pusher", true, func(d dialect.Deps) (dialect.Dialect, error) { return pusher.New(config.Default().Pusher, d) }},
	{"atmosphere", true, func(d dialect.Deps) (dialect.Dialect, error) {
		return atmosphere.New(config.Default().Atmosphere, d)
	}},
}

// Every dialect that routes messages refuses Deps without a hub the same
// way, with ErrMissingDependency, and starts nothing; with a hub, each
// builds and shuts down cleanly (the leak check in TestMain holds them to
// it).
func TestMissingHub(t *testing.T) {
	for _, c := range constructors {
		t.Run(c.name, func(t *testing.T) {
			d, err := c.new(dialect.Deps{})
			if !c.needHub {
				if err != nil {
					t.Fatalf("without a hub: %v", err)
				}
				_ = d.Shutdown(context.Background())
				return
			}
			if !errors.Is(err, dialect.ErrMissingDependency) {
				t.Fatalf("without a hub: %v; want ErrMissingDependency", err)
			}
			h, err := hub.New(nil)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			d, err = c.new(dialect.Deps{Hub: h})
			if err != nil {
				t.Fatalf("with a hub: %v", err)
			}
			if d.Name() != c.name {
				t.Errorf("Name = %q", d.Name())
			}
			if err := d.Shutdown(context.Background()); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		})
	}
}

func TestOrigins(t *testing.T) {
	tests := []struct {
		name   string
		list   []string
		origin string
		want   bool
	}{
		{"no list allows any", nil, "https://evil.example", true},
		{"a star allows any", []string{"https://a.example", "*"}, "https://evil.example", true},
		{"no Origin header: not a browser", []string{"https://a.example"}, "", true},
		{"listed", []string{"https://a.example"}, "https://a.example", true},
		{"case and trailing slash", []string{"https://A.example/"}, "HTTPS://a.EXAMPLE", true},
		{"a path is not part of an origin", []string{"https://a.example"}, "https://a.example/x", true},
		{"port matters", []string{"https://a.example"}, "https://a.example:8443", false},
		{"scheme matters", []string{"https://a.example"}, "http://a.example", false},
		{"not listed", []string{"https://a.example"}, "https://b.example", false},
		{"null origin", []string{"https://a.example"}, "null", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := dialect.NewOrigins(tt.list)
			if got := o.Allowed(tt.origin); got != tt.want {
				t.Errorf("Allowed(%q) = %v, want %v", tt.origin, got, tt.want)
			}
			r := httptest.NewRequest("GET", "/", nil)
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			if got := o.Check(r); got != tt.want {
				t.Errorf("Check with Origin %q = %v, want %v", tt.origin, got, tt.want)
			}
		})
	}
}
