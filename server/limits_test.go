package server_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/switchboard-rt/switchboard/dialect"
)

// TestPerClientLimits makes requests faster than a limit of one a second
// allows: some are refused with 429 and Retry-After, and /metrics counts
// them. (Five requests all a second apart would be needed to pass all.)
func TestPerClientLimits(t *testing.T) {
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	f := newFake("fake")
	f.routes = []dialect.Route{
		{Pattern: "GET /ws", Protocol: dialect.ProtocolWebSocket, Handler: ok},
		{Pattern: "GET /apps/{app_id}/channels", Protocol: dialect.ProtocolHTTP, Handler: ok},
	}
	cfg := testConfig()
	cfg.Limits.HandshakesPerIP = 1
	cfg.Limits.APIRequests = 1
	r := start(t, cfg, f)

	for _, tc := range []struct{ limit, path string }{
		{"handshakes_per_ip", "/ws"},
		{"api_requests", "/apps/1/channels"},
	} {
		t.Run(tc.limit, func(t *testing.T) {
			refused := 0
			for range 5 {
				resp, err := client.Get(r.base + tc.path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusOK:
				case http.StatusTooManyRequests:
					refused++
					if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 {
						t.Errorf("Retry-After %q, want a whole number of seconds >= 1", resp.Header.Get("Retry-After"))
					}
				default:
					t.Fatalf("status %d", resp.StatusCode)
				}
			}
			if refused == 0 {
				t.Fatal("no request was refused")
			}
			_, metrics := get(t, client, r.base+"/metrics")
			want := `switchboard_limited_total{limit="` + tc.limit + `"} ` + strconv.Itoa(refused)
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		})
	}

	// Another app has a bucket of its own; health probes are never limited.
	if code, _ := get(t, client, r.base+"/apps/2/channels"); code != http.StatusOK {
		t.Errorf("app 2: %d, want 200", code)
	}
	for range 3 {
		if code, _ := get(t, client, r.base+"/healthz"); code != http.StatusOK {
			t.Errorf("/healthz: %d", code)
		}
	}
}
