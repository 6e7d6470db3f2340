package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/switchboard-rt/switchboard/appstore"
	"github.com/switchboard-rt/switchboard/appstore/pgstore"
	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/dialect"
	"github.com/switchboard-rt/switchboard/dialect/pusher"
	"github.com/switchboard-rt/switchboard/internal/adminapi"
	"github.com/switchboard-rt/switchboard/internal/adminauth"
	"github.com/switchboard-rt/switchboard/server"
)

// migrateTimeout bounds a migration of the app store.
const migrateTimeout = 30 * time.Second

// apps is the running server's Pusher apps: their store, the Sync that
// brings the store's changes to the dialect, and their part of a reload.
type apps struct {
	log *slog.Logger
	d   *pusher.Dialect // nil when the Pusher dialect is off

	mu   sync.Mutex     // one apply at a time
	cfg  *config.Config // the configuration applied last
	file *appstore.File // the file's store; nil with another
	pg   *pgstore.Store // the database's store; nil with another
	sync *appstore.Sync
}

// startApps opens the configured app store and starts bringing its changes
// to d. A database that cannot be read at start is logged and retried,
// not fatal: the node serves no app until it can read it.
func startApps(ctx context.Context, cfg *config.Config, d *pusher.Dialect, log *slog.Logger) (*apps, error) {
	a := &apps{log: log, d: d, cfg: cfg}
	if d == nil {
		return a, nil
	}
	var store appstore.Store
	switch cfg.Pusher.AppStore.Driver {
	case config.AppStorePostgres:
		pg, err := pgstore.Open(cfg.Pusher.AppStore.URL)
		if err != nil {
			return nil, err
		}
		if cfg.Pusher.AppStore.Migrate {
			mctx, cancel := context.WithTimeout(ctx, migrateTimeout)
			n, err := pg.Migrate(mctx)
			cancel()
			if err != nil {
				pg.Close()
				return nil, err
			}
			log.Info("app store migrated", "store", pg.Name(), "migrations_run", n)
		}
		a.pg, store = pg, pg
	default:
		a.file = appstore.NewFile(cfg.Pusher)
		store = a.file
	}
	a.sync = appstore.NewSync(appstore.SyncOptions{
		Store:    store,
		Apply:    d.SetApps,
		Health:   d.SetStoreError,
		Interval: cfg.Pusher.AppStore.RefreshInterval.Std(),
		Log:      log,
	})
	if a.pg != nil {
		_ = a.sync.Start(ctx) // an error is logged and retried
		log.Info("app store", "store", store.Name(), "refresh_interval", cfg.Pusher.AppStore.RefreshInterval, "required", cfg.Pusher.AppStore.Required)
	}
	return a, nil
}

// pusherOf returns the Pusher dialect among ds, or nil when it is off.
func pusherOf(ds []dialect.Dialect) *pusher.Dialect {
	for _, d := range ds {
		if p, ok := d.(*pusher.Dialect); ok {
			return p
		}
	}
	return nil
}

// close stops the Sync and closes the store.
func (a *apps) close() {
	if a.sync != nil {
		a.sync.Close()
	}
	if a.pg != nil {
		a.pg.Close()
	}
}

// mount adds the admin API to srv, its POST /admin/reload calling reload,
// and /readyz's app store check when the store is required.
func (a *apps) mount(srv *server.Server, guard *adminauth.Guard, reload func(context.Context) (appstore.Changes, error)) error {
	if a.d == nil {
		return nil
	}
	if a.cfg.Pusher.AppStore.Required {
		srv.AddReadinessCheck("app_store", func(context.Context) error { return a.sync.Err() })
	}
	api, err := adminapi.New(adminapi.Options{
		Guard:   guard,
		Store:   a.store(),
		Refresh: a.sync.Refresh,
		Served:  a.d,
		Reload:  reload,
		Grace:   a.cfg.Pusher.SecretGracePeriod.Std(),
		Log:     a.log,
	})
	if err != nil {
		return err
	}
	for _, r := range api.Routes() {
		if err := srv.Mount(r.Pattern, r.Handler); err != nil {
			return err
		}
	}
	return nil
}

func (a *apps) store() appstore.Store {
	if a.pg != nil {
		return a.pg
	}
	return a.file
}

// apply serves the apps of cfg, a valid configuration, on a reload: the
// file's new list, or a fresh read of the database. A change of the store
// itself waits for a restart (the reload's warning says so).
func (a *apps) apply(ctx context.Context, cfg *config.Config) (appstore.Changes, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var ch appstore.Changes
	if a.d != nil && sameStore(a.cfg.Pusher.AppStore, cfg.Pusher.AppStore) {
		if a.file != nil {
			a.file.Set(cfg.Pusher)
		}
		var err error
		if ch, err = a.sync.Refresh(ctx); err != nil {
			return ch, fmt.Errorf("reload: %w", err)
		}
	}
	a.cfg = cfg
	return ch, nil
}

// sameStore reports whether two app_store sections name the same store.
func sameStore(a, b config.AppStore) bool {
	return a.Driver == b.Driver && a.URL == b.URL
}

// migrate is the migrate command: it creates or upgrades the PostgreSQL
// app store's table.
func migrate(ctx context.Context, e *env, args []string) error {
	f, err := parseServeFlags(e, args)
	if err != nil {
		return err
	}
	cfg, _, err := loadConfig(f, e.getenv)
	if err != nil {
		return err
	}
	if cfg.Pusher.AppStore.Driver != config.AppStorePostgres {
		return errors.New("migrate: pusher.app_store.driver is not \"postgres\": the file store needs no migration")
	}
	pg, err := pgstore.Open(cfg.Pusher.AppStore.URL)
	if err != nil {
		return err
	}
	defer pg.Close()
	ctx, cancel := context.WithTimeout(ctx, migrateTimeout)
	defer cancel()
	n, err := pg.Migrate(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintln(e.stdout, "migrate: the app store's schema is up to date")
		return nil
	}
	fmt.Fprintf(e.stdout, "migrate: %d migration(s) run; the app store's schema is up to date\n", n)
	return nil
}
