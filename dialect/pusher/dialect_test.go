package pusher

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/dialect"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/internal/testutil"
)

// With no apps, the default app is served and a warning says so, without
// the secret.
func TestDefaultAppWarns(t *testing.T) {
	h, err := hub.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	logs := &testutil.LogBuffer{}
	d, err := New(config.Pusher{Enabled: true}, dialect.Deps{Hub: h, Logger: newTestLogger(logs)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown(context.Background())
	if d.apps().byKey["app-key"] == nil || d.apps().byID["app-id"] == nil || !d.apps().byKey["app-key"].clientEvents {
		t.Errorf("default app not served: %v", d.apps().byKey)
	}
	out := logs.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "no apps configured") {
		t.Errorf("no warning:\n%s", out)
	}
	if strings.Contains(out, "app-secret") {
		t.Errorf("the secret is logged:\n%s", out)
	}
}

func TestNewRefusesDuplicateApps(t *testing.T) {
	h, err := hub.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	a := testApp()
	if _, err := New(config.Pusher{Apps: []config.PusherApp{a, a}}, dialect.Deps{Hub: h}); err == nil {
		t.Error("two apps with one key were accepted")
	}
	if _, err := New(config.Pusher{}, dialect.Deps{}); err == nil {
		t.Error("New without a hub was accepted")
	}
}

func TestDialectInterface(t *testing.T) {
	e := newEnv(t)
	if e.d.Name() != "pusher" {
		t.Errorf("Name() = %q", e.d.Name())
	}
	var patterns []string
	for _, r := range e.d.Routes() {
		patterns = append(patterns, r.Pattern)
	}
	want := "GET /app/{key}|GET /app/|POST /apps/{app_id}/events|POST /apps/{app_id}/batch_events|GET /apps/{app_id}/channels|" +
		"GET /apps/{app_id}/channels/{channel_name}|GET /apps/{app_id}/channels/{channel_name}/users|GET /apps/{app_id}/users|POST /apps/{app_id}/users/{user_id}/terminate_connections|" +
		"/apps/"
	if got := strings.Join(patterns, "|"); got != want {
		t.Errorf("routes %s", got)
	}
	c := e.connect("key1")
	c.join("secret1", "key1", "news", "")
	if s := e.d.Stats(); s.Connections != 1 || s.Accepted != 1 {
		t.Errorf("Stats() = %+v", s)
	}
	// The collector exports every counter under switchboard_pusher_, and
	// the dropped webhook events per app and reason.
	reg := prometheus.NewRegistry()
	if err := reg.Register(e.d); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	const perApp = 4 // webhook drops, connections, published, webhook queue
	if err != nil || len(mfs) != len(metrics)+perApp {
		t.Fatalf("gathered %d metric families (%v), want %d", len(mfs), err, len(metrics)+perApp)
	}
	for _, mf := range mfs {
		if mf.GetName() == "switchboard_pusher_connections" && mf.GetMetric()[0].GetGauge().GetValue() != 1 {
			t.Errorf("switchboard_pusher_connections = %v", mf.GetMetric()[0])
		}
		if mf.GetName() == "switchboard_pusher_app_connections" {
			m := mf.GetMetric()
			if len(m) != 1 || m[0].GetLabel()[0].GetValue() != "app1" || m[0].GetGauge().GetValue() != 1 {
				t.Errorf("switchboard_pusher_app_connections = %v", m)
			}
		}
		if mf.GetName() == "switchboard_pusher_webhook_events_dropped_total" && len(mf.GetMetric()) != int(numDropReasons) {
			t.Errorf("%d dropped series for one app, want one per reason", len(mf.GetMetric()))
		}
		if !strings.HasPrefix(mf.GetName(), "switchboard_pusher_") {
			t.Errorf("metric %s", mf.GetName())
		}
	}
	// Shutdown twice is fine.
	if err := e.d.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

// A full run of failures logs nothing secret.
func TestSecretsNotLogged(t *testing.T) {
	a := testApp()
	a.Secret = "very-secret-value"
	e := newEnv(t, a)
	c := e.connect("key1")
	c.subscribe("private-x", "key1:bad", "")
	c.expect("pusher:subscription_error")
	e.restAs("key1", "wrong", "POST", "/apps/app1/events", map[string]any{"name": "x", "channel": "a", "data": "d"}, nil, timeNow())
	c.send(map[string]any{"event": "pusher:signin", "data": map[string]any{"auth": "key1:bad", "user_data": `{"id":"u"}`}})
	c.closedWith(int(CodeUnauthorized))
	if strings.Contains(e.logs.String(), "very-secret-value") {
		t.Errorf("secret logged:\n%s", e.logs.String())
	}
}
