package pgstore

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/switchboard-rt/switchboard/appstore"
	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/internal/pgtest"
	"github.com/switchboard-rt/switchboard/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// open starts a PostgreSQL server and returns a migrated store on it.
func open(t *testing.T) (*Store, *pgtest.Server) {
	t.Helper()
	pg := pgtest.Start(t)
	s, err := Open(pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if n, err := s.Migrate(t.Context()); err != nil || n != len(migrations) {
		t.Fatalf("Migrate: %d, %v; want %d", n, err, len(migrations))
	}
	return s, pg
}

func app(id string) config.PusherApp {
	return config.NewPusherApp(id, id+"-key", id+"-secret")
}

func TestMigrateTwice(t *testing.T) {
	s, _ := open(t)
	if n, err := s.Migrate(t.Context()); err != nil || n != 0 {
		t.Fatalf("second Migrate: %d, %v; want 0, nil", n, err)
	}
}

func TestWithoutMigrationSaysHow(t *testing.T) {
	pg := pgtest.Start(t)
	s, err := Open(pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.List(t.Context())
	if err == nil || !contains(err.Error(), "switchboard migrate") {
		t.Fatalf("List before Migrate: %v, want a hint to run switchboard migrate", err)
	}
}

func TestCRUD(t *testing.T) {
	s, _ := open(t)
	ctx := t.Context()
	a := app("a1")
	a.MaxConnections = 7
	a.ActivityTimeout = config.Duration(45 * time.Second)
	a.Webhooks = []config.PusherWebhook{{URL: "https://example.com/hook", EventTypes: []string{"channel_occupied"}}}
	a.AllowedOrigins = []string{"https://example.com"}
	if err := s.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, app("b1")); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "a1")
	if err != nil {
		t.Fatal(err)
	}
	if !equalApps(got, a) {
		t.Fatalf("Get: %+v\nwant %+v", got, a)
	}
	var settings string
	conn, err := pgx.Connect(ctx, s.cfg.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, `SELECT settings::text FROM switchboard_apps WHERE id = 'b1'`).Scan(&settings); err != nil || settings != "{}" {
		t.Errorf("settings of an app at its defaults: %q, %v; want {}", settings, err)
	}

	var ce *appstore.ConflictError
	dupKey := app("c1")
	dupKey.Key = "a1-key"
	for _, tc := range []struct {
		a     config.PusherApp
		field string
	}{{app("a1"), "id"}, {dupKey, "key"}} {
		if err := s.Create(ctx, tc.a); !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("Create(%s): %v, want a conflict on %s", tc.a.ID, err, tc.field)
		}
	}

	a.Secret, a.Enabled, a.MaxConnections = "new", false, 0
	if err := s.Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, "a1"); !equalApps(got, a) {
		t.Fatalf("after Update: %+v\nwant %+v", got, a)
	}
	if err := s.Update(ctx, app("nope")); !errors.Is(err, appstore.ErrNotFound) {
		t.Errorf("Update of a missing app: %v", err)
	}
	if err := s.Delete(ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "b1"); !errors.Is(err, appstore.ErrNotFound) {
		t.Errorf("second Delete: %v", err)
	}
	if _, err := s.Get(ctx, "b1"); !errors.Is(err, appstore.ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	list, err := s.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != "a1" {
		t.Fatalf("List: %v, %v", list, err)
	}
}

// TestWatchSeesSQLChanges changes the table in plain SQL: the watcher is
// told of each change.
func TestWatchSeesSQLChanges(t *testing.T) {
	s, pg := open(t)
	ctx, cancel := context.WithCancel(t.Context())
	notices := make(chan struct{}, 16)
	done := make(chan error, 1)
	go func() { done <- s.Watch(ctx, func() { notices <- struct{}{} }) }()
	next := func(what string) {
		t.Helper()
		select {
		case <-notices:
		case <-time.After(10 * time.Second):
			t.Fatalf("no notice after %s", what)
		}
	}
	next("listening")
	conn, err := pgx.Connect(ctx, pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, sql := range []string{
		`INSERT INTO switchboard_apps (id, key, secret) VALUES ('x', 'xk', 'xs')`,
		`UPDATE switchboard_apps SET enabled = false WHERE id = 'x'`,
		`DELETE FROM switchboard_apps WHERE id = 'x'`,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
		next(sql)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Watch after cancel: %v", err)
	}
}

// served is a dialect stand-in for Sync: the apps applied last.
type served struct {
	mu     sync.Mutex
	apps   []config.PusherApp
	health error
}

func (s *served) apply(apps []config.PusherApp) (appstore.Changes, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps = apps
	return appstore.Changes{Changed: []string{"any"}}, nil
}

func (s *served) setHealth(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.health = err
}

func (s *served) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, a := range s.apps {
		ids = append(ids, a.ID)
	}
	return ids
}

func (s *served) healthErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.health
}

// TestSyncThroughAnOutage runs a Sync on the store: a change made through
// another store value (another node) is applied through NOTIFY; with the
// database down, the apps stay and the outage is reported; when it is
// back, a change made meanwhile is picked up.
func TestSyncThroughAnOutage(t *testing.T) {
	s, pg := open(t)
	ctx := t.Context()
	if err := s.Create(ctx, app("a1")); err != nil {
		t.Fatal(err)
	}
	srv := &served{}
	logs := &testutil.LogBuffer{}
	sy := appstore.NewSync(appstore.SyncOptions{Store: s, Apply: srv.apply, Health: srv.setHealth, Interval: time.Hour, Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err := sy.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer sy.Close()
	if got := srv.ids(); !slices.Equal(got, []string{"a1"}) {
		t.Fatalf("served %v after Start, want [a1]", got)
	}

	other, err := Open(pg.URL()) // another node's store
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Create(ctx, app("b1")); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "b1 served through NOTIFY (the interval is an hour)", 10*time.Second, func() bool {
		return slices.Equal(srv.ids(), []string{"a1", "b1"})
	})

	// A row that cannot be decoded is refused, not an outage.
	conn, err := pgx.Connect(ctx, pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `UPDATE switchboard_apps SET settings = '{"max_conections": 1}' WHERE id = 'b1'`); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close(ctx)
	testutil.WaitFor(t, "the bad row refused", 10*time.Second, func() bool {
		return errors.Is(sy.Err(), appstore.ErrInvalid) && contains(logs.String(), "app store refused")
	})
	if srv.healthErr() != nil || !slices.Equal(srv.ids(), []string{"a1", "b1"}) {
		t.Fatalf("after a bad row: health %v, served %v", srv.healthErr(), srv.ids())
	}
	if err := other.Update(ctx, app("b1")); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the row mended", 10*time.Second, func() bool { return sy.Err() == nil })

	pg.Stop()
	if _, err := sy.Refresh(ctx); err == nil {
		t.Fatal("Refresh with the database down succeeded")
	}
	if srv.healthErr() == nil || sy.Err() == nil {
		t.Error("the outage is not reported")
	}
	if got := srv.ids(); !slices.Equal(got, []string{"a1", "b1"}) {
		t.Fatalf("served %v during the outage, want [a1 b1]", got)
	}
	testutil.WaitFor(t, "the outage logged", 10*time.Second, func() bool {
		return contains(logs.String(), "app store cannot be read")
	})

	pg.Restart(t)
	if err := other.Delete(ctx, "a1"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "a1 removed after the database came back", 20*time.Second, func() bool {
		return slices.Equal(srv.ids(), []string{"b1"})
	})
	if srv.healthErr() != nil || sy.Err() != nil {
		t.Errorf("still reported down: %v, %v", srv.healthErr(), sy.Err())
	}
}

func equalApps(a, b config.PusherApp) bool {
	ja, _ := asMap(a)
	jb, _ := asMap(b)
	return reflect.DeepEqual(ja, jb)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
