package pusher

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/appstore"
	"github.com/switchboard-rt/switchboard/config"
)

func app2() config.PusherApp {
	a := testApp()
	a.ID, a.Key, a.Secret = "app2", "key2", "secret2"
	return a
}

// TestSetAppsAddChangeRemove reloads the apps while connections are open:
// an added app serves at once, a changed one takes its new settings for new
// connections while its open ones stay, a removed one's connections are
// closed with 4003.
func TestSetAppsAddChangeRemove(t *testing.T) {
	e := newEnv(t, testApp(), app2())
	stays := e.connect("key1")
	stays.join("secret1", "key1", "public-a", "")
	goes := e.connect("key2")

	a3 := testApp()
	a3.ID, a3.Key, a3.Secret = "app3", "key3", "secret3"
	changed := testApp()
	changed.MaxChannelsPerConnection = 1
	ch, err := e.d.SetApps([]config.PusherApp{changed, a3})
	if err != nil {
		t.Fatal(err)
	}
	want := appstore.Changes{Added: []string{"app3"}, Changed: []string{"app1"}, Removed: []string{"app2"}}
	if !slices.Equal(ch.Added, want.Added) || !slices.Equal(ch.Changed, want.Changed) || !slices.Equal(ch.Removed, want.Removed) || len(ch.SecretsRotated) != 0 {
		t.Fatalf("changes %+v, want %+v", ch, want)
	}
	goes.closedWith(int(CodeAppDisabled))

	// The open connection of app1 keeps working, with its old limit.
	stays.join("secret1", "key1", "public-b", "")
	e.trigger(map[string]any{"name": "ev", "channel": "public-a", "data": "x"})
	stays.expectOn("ev", "public-a")

	// A new connection of app1 has the new limit.
	fresh := e.connect("key1")
	fresh.join("secret1", "key1", "public-a", "")
	fresh.subscribe("public-b", "", "")
	if got := fresh.subscriptionError("public-b"); got.Type != "LimitReached" {
		t.Fatalf("second channel on a new connection: %+v, want LimitReached", got)
	}

	e.connect("key3").quiet()
	gone := e.dial("/app/key2?protocol=7")
	gone.closedWith(int(CodeAppNotFound))
	if n := e.d.apps().byID["app1"].conns.Load(); n != 2 {
		t.Errorf("app1 counts %d connections across the reload, want 2", n)
	}
}

// TestSetAppsDisable closes the connections of an app that is disabled and
// refuses new ones; enabling it again serves it again.
func TestSetAppsDisable(t *testing.T) {
	e := newEnv(t, testApp(), app2())
	c1, c2 := e.connect("key1"), e.connect("key2")
	off := app2()
	off.Enabled = false
	ch, err := e.d.SetApps([]config.PusherApp{testApp(), off})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ch.Disabled, []string{"app2"}) {
		t.Fatalf("changes %+v, want app2 disabled", ch)
	}
	c2.closedWith(int(CodeAppDisabled))
	c1.quiet()
	e.dial("/app/key2?protocol=7").closedWith(int(CodeAppDisabled))
	if _, err := e.d.SetApps([]config.PusherApp{testApp(), app2()}); err != nil {
		t.Fatal(err)
	}
	e.connect("key2").quiet()
}

// TestSetAppsRefusesDuplicates leaves the apps as they were when two share
// an id or a key.
func TestSetAppsRefusesDuplicates(t *testing.T) {
	e := newEnv(t)
	dupKey := app2()
	dupKey.Key = "key1"
	for _, apps := range [][]config.PusherApp{{testApp(), testApp()}, {testApp(), dupKey}} {
		if _, err := e.d.SetApps(apps); err == nil {
			t.Fatalf("SetApps(%d apps sharing an id or key) succeeded", len(apps))
		}
	}
	if got := len(e.d.AppConfigs()); got != 1 {
		t.Fatalf("%d apps served after refused changes, want 1", got)
	}
	e.connect("key1").quiet()
}

// TestSecretRotationGrace changes an app's secret: REST calls and channel
// signatures made with the old secret are accepted within the grace
// period, also on a connection opened before the change, and refused after.
func TestSecretRotationGrace(t *testing.T) {
	e := newEnv(t)
	e.d.grace = time.Hour
	before := e.connect("key1")
	rotated := testApp()
	rotated.Secret = "secret1-new"
	ch, err := e.d.SetApps([]config.PusherApp{rotated})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ch.SecretsRotated, []string{"app1"}) {
		t.Fatalf("changes %+v, want app1's secret rotated", ch)
	}
	body := map[string]any{"name": "ev", "channel": "c", "data": "x"}
	for _, secret := range []string{"secret1", "secret1-new"} {
		if status, resp := e.restAs("key1", secret, "POST", "/apps/app1/events", body, nil, time.Now()); status != 200 {
			t.Errorf("within the grace period, signed with %s: %d %s", secret, status, resp)
		}
	}
	before.join("secret1", "key1", "private-old", "")
	before.join("secret1-new", "key1", "private-new", "")
	st, _ := e.d.AppStats(t.Context(), "app1")
	if st.PreviousSecretUntil == nil {
		t.Error("stats do not say the previous secret still verifies")
	}

	// A later change that keeps the secret keeps the grace period.
	again := rotated
	again.MaxBatchEvents = 5
	if _, err := e.d.SetApps([]config.PusherApp{again}); err != nil {
		t.Fatal(err)
	}
	if status, resp := e.restAs("key1", "secret1", "POST", "/apps/app1/events", body, nil, time.Now()); status != 200 {
		t.Errorf("old secret after an unrelated change within the grace period: %d %s", status, resp)
	}

	// Past the grace period.
	expireGrace(e.d, "app1")
	if status, _ := e.restAs("key1", "secret1", "POST", "/apps/app1/events", body, nil, time.Now()); status != 401 {
		t.Errorf("old secret after the grace period: %d, want 401", status)
	}
	before.subscribe("private-late", "key1:"+sign([]byte("secret1"), before.socketID+":private-late"), "")
	if got := before.subscriptionError("private-late"); got.Type != "AuthError" {
		t.Errorf("old secret's channel auth after the grace period: %+v, want AuthError", got)
	}
	if status, resp := e.restAs("key1", "secret1-new", "POST", "/apps/app1/events", body, nil, time.Now()); status != 200 {
		t.Errorf("new secret: %d %s", status, resp)
	}
}

// TestSecretRotationWithoutGrace drops the old secret at once when the
// grace period is 0.
func TestSecretRotationWithoutGrace(t *testing.T) {
	e := newEnv(t)
	rotated := testApp()
	rotated.Secret = "secret1-new"
	if _, err := e.d.SetApps([]config.PusherApp{rotated}); err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"name": "ev", "channel": "c", "data": "x"}
	if status, _ := e.restAs("key1", "secret1", "POST", "/apps/app1/events", body, nil, time.Now()); status != 401 {
		t.Errorf("old secret with no grace period: %d, want 401", status)
	}
}

// expireGrace serves a version of app id whose previous secret expired a
// second ago, as the grace period ending would.
func expireGrace(d *Dialect, id string) {
	d.setMu.Lock()
	defer d.setMu.Unlock()
	cur := d.apps()
	next := &appSet{byKey: map[string]*app{}, byID: map[string]*app{}}
	for _, a := range cur.list {
		if a.id == id {
			b := *a
			b.prevUntil = time.Now().Add(-time.Second)
			a = &b
		}
		next.list = append(next.list, a)
		next.byKey[a.key], next.byID[a.id] = a, a
	}
	d.set.Store(next)
}

// TestWebhooksAfterReload sends the webhooks of a connection accepted
// before a reload to the URL the app has now, signed with its new secret.
func TestWebhooksAfterReload(t *testing.T) {
	old, cur := newHookServer(t, 0), newHookServer(t, 0)
	e := newEnv(t, hookApp(old.srv.URL, "channel_occupied"))
	c := e.connect("key1")
	changed := hookApp(cur.srv.URL, "channel_occupied")
	changed.Secret = "secret1-new"
	if _, err := e.d.SetApps([]config.PusherApp{changed}); err != nil {
		t.Fatal(err)
	}
	c.join("secret1-new", "key1", "after", "")
	call := cur.next(t)
	if !validSignature([]byte("secret1-new"), string(call.body), call.signature) || len(call.events) != 1 || call.events[0]["channel"] != "after" {
		t.Fatalf("webhook after the reload: %s signed %q", call.body, call.signature)
	}
}

// TestUnknownKeyDuringOutage logs a refused unknown key while the store
// cannot be read, once for a burst, and not at all once it can.
func TestUnknownKeyDuringOutage(t *testing.T) {
	e := newEnv(t)
	e.d.unknown.every = time.Hour // one line for the burst, however slow the machine
	e.d.SetStoreError(errors.New("connection refused"))
	for range 3 {
		e.dial("/app/nope?protocol=7").closedWith(int(CodeAppNotFound))
	}
	e.connect("key1").quiet() // known apps are served
	logs := e.logs.String()
	if n := strings.Count(logs, "unknown app key refused while the app store cannot be read"); n != 1 {
		t.Fatalf("%d log lines for a burst of 3, want 1:\n%s", n, logs)
	}
	e.d.SetStoreError(nil)
	expireUnknownLog(e.d)
	e.dial("/app/nope?protocol=7").closedWith(int(CodeAppNotFound))
	if n := strings.Count(e.logs.String(), "unknown app key refused"); n != 1 {
		t.Fatalf("logged an unknown key with the store readable:\n%s", e.logs)
	}
}

// expireUnknownLog lets the next unknown key be logged at once.
func expireUnknownLog(d *Dialect) { d.unknown.lastLog.Store(0) }
