package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/switchboard-rt/switchboard/appstore"
	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/dialect"
	"github.com/switchboard-rt/switchboard/dialect/pusher"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/internal/adminauth"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newMux serves the API over the config file's store with one app, on a
// real dialect; reload returns reloadErr.
func newMux(t *testing.T, reloadErr error) *http.ServeMux {
	t.Helper()
	app := config.NewPusherApp("app1", "key1", "secret1")
	h, err := hub.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	d, err := pusher.New(config.Pusher{Enabled: true, Apps: []config.PusherApp{app}}, dialect.Deps{Hub: h})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Shutdown(context.Background()) })
	guard, err := adminauth.New("")
	if err != nil {
		t.Fatal(err)
	}
	file := appstore.NewFile(config.Pusher{Apps: []config.PusherApp{app}})
	sy := appstore.NewSync(appstore.SyncOptions{Store: file, Apply: d.SetApps})
	api, err := New(Options{
		Guard: guard, Store: file, Refresh: sy.Refresh, Served: d,
		Reload: func(context.Context) (appstore.Changes, error) { return appstore.Changes{}, reloadErr },
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, r := range api.Routes() {
		mux.Handle(r.Pattern, r.Handler)
	}
	return mux
}

func serve(mux http.Handler, method, path, body, remote string) (int, map[string]any) {
	r := httptest.NewRequest(method, "http://localhost:8000"+path, strings.NewReader(body))
	r.RemoteAddr = remote
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	var v map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &v)
	return w.Code, v
}

func TestRoutesWithTheFileStore(t *testing.T) {
	mux := newMux(t, nil)
	const local = "127.0.0.1:5000"
	tests := []struct {
		method, path, body string
		remote             string
		status             int
		field              string // the error's field, when an error
	}{
		{"GET", "/admin/apps", "", local, 200, ""},
		{"GET", "/admin/apps/app1", "", local, 200, ""},
		{"GET", "/admin/apps/nope", "", local, 404, "id"},
		{"GET", "/admin/apps/app1/stats", "", local, 200, ""},
		{"GET", "/admin/apps/nope/stats", "", local, 404, "id"},
		{"POST", "/admin/apps", `{"id":"x"}`, local, 409, "pusher.app_store.driver"},
		{"PUT", "/admin/apps/app1", `{}`, local, 409, "pusher.app_store.driver"},
		{"PATCH", "/admin/apps/app1", `{"enabled":false}`, local, 409, "pusher.app_store.driver"},
		{"DELETE", "/admin/apps/app1", "", local, 409, "pusher.app_store.driver"},
		{"POST", "/admin/apps/app1/rotate-secret", "", local, 409, "pusher.app_store.driver"},
		{"POST", "/admin/reload", "", local, 200, ""},
		{"GET", "/admin/nothing", "", local, 404, ""},
		{"GET", "/admin/", "", local, 200, ""},
		{"GET", "/admin/apps", "", "203.0.113.9:5000", 403, ""},
	}
	for _, tc := range tests {
		status, v := serve(mux, tc.method, tc.path, tc.body, tc.remote)
		if status != tc.status {
			t.Errorf("%s %s from %s: %d %v, want %d", tc.method, tc.path, tc.remote, status, v, tc.status)
			continue
		}
		if status >= 400 {
			if msg, _ := v["error"].(string); msg == "" {
				t.Errorf("%s %s: %d without an error message: %v", tc.method, tc.path, status, v)
			}
			if f, _ := v["field"].(string); f != tc.field {
				t.Errorf("%s %s: field %q, want %q", tc.method, tc.path, f, tc.field)
			}
		}
	}
	_, index := serve(mux, "GET", "/admin/", "", local)
	if eps, _ := index["endpoints"].([]any); len(eps) != 9 {
		t.Errorf("GET /admin/ lists %d endpoints, want 9: %v", len(eps), index)
	}
	_, list := serve(mux, "GET", "/admin/apps", "", local)
	if list["store"] != "file" || list["writable"] != false {
		t.Errorf("GET /admin/apps: %v", list)
	}
}

// TestReloadRefusalNamesEveryKey answers a bad configuration with 422,
// each problem naming its key.
func TestReloadRefusalNamesEveryKey(t *testing.T) {
	bad := errors.Join(
		&config.Error{File: "s.hjson", Key: "pusher.apps[0].secret", Msg: "missing"},
		&config.Error{File: "s.hjson", Key: "port", Msg: "70000 is out of range 1-65535"},
	)
	mux := newMux(t, bad)
	status, v := serve(mux, "POST", "/admin/reload", "", "127.0.0.1:5000")
	ps, _ := v["problems"].([]any)
	if status != 422 || v["field"] != "pusher.apps[0].secret" || len(ps) != 2 {
		t.Fatalf("reload of a bad configuration: %d %v", status, v)
	}
	if p, _ := ps[1].(map[string]any); p["field"] != "port" || p["error"] != "s.hjson: port: 70000 is out of range 1-65535" {
		t.Errorf("second problem %v", ps[1])
	}
}

func TestDecodeNamesTheField(t *testing.T) {
	tests := []struct {
		body   string
		status int
		field  string
		msg    string
	}{
		{`{"max_connections": 5, "webhooks": [{"url": "https://example.com/h"}]}`, 0, "", ""},
		{``, 0, "", ""},
		{`{"max_conections": 5}`, 400, "max_conections", "not a field here; the fields are the keys of a pusher.apps entry"},
		{`{"max_connections": "5"}`, 400, "max_connections", "want a JSON number, got string"},
		{`{"enabled": 1}`, 400, "enabled", "want a JSON boolean"},
		{`{"activity_timeout": "soon"}`, 400, "", "duration"},
		{`{"id": `, 400, "", "not JSON"},
		{`[1]`, 400, "", "want a JSON object"},
	}
	for _, tc := range tests {
		app := config.NewPusherApp("a", "k", "s")
		r := httptest.NewRequest("POST", "/admin/apps", strings.NewReader(tc.body))
		e := decode(r, &app)
		switch {
		case tc.status == 0 && e != nil:
			t.Errorf("%s: %v", tc.body, e.Error)
		case tc.status == 0:
		case e == nil:
			t.Errorf("%s: accepted, want %d", tc.body, tc.status)
		case e.status != tc.status || e.Field != tc.field || !strings.Contains(e.Error, tc.msg):
			t.Errorf("%s: %d %q %q, want %d %q containing %q", tc.body, e.status, e.Field, e.Error, tc.status, tc.field, tc.msg)
		}
	}
}

// FuzzDecode feeds any body to the app decoder: it never panics, and what
// it accepts is an app that validation can judge, with an error naming a
// field or none.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"max_connections": 5}`, `{"webhooks": [{"url": "https://x/h", "event_types": ["member_added"]}]}`,
		`{"activity_timeout": "1m"}`, `{"max_conections": 1}`, `[`, `null`, `{"allowed_origins": 1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		app := config.NewPusherApp("a", "k", "s")
		r := httptest.NewRequest("POST", "/admin/apps", strings.NewReader(body))
		if e := decode(r, &app); e != nil {
			if e.status != 400 && e.status != 413 || e.Error == "" {
				t.Fatalf("%q: %d %q", body, e.status, e.Error)
			}
			return
		}
		if e := validate(app); e != nil && (e.status != 422 || e.Error == "") {
			t.Fatalf("%q: validation %d %q", body, e.status, e.Error)
		}
	})
}
