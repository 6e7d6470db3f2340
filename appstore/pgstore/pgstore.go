// Package pgstore keeps Pusher apps in a PostgreSQL table,
// switchboard_apps, for appstore: an appstore.Editor for the admin API and
// an appstore.Watcher through LISTEN/NOTIFY, so that a change made on any
// node, or in SQL, reaches every node.
//
// The table (see Schema and docs/apps.md) has a column for each of id,
// key, secret and enabled, and a JSONB column, settings, with every other
// key of a pusher.apps entry that differs from its default, under its
// config name ("max_connections", "webhooks", ...). A trigger notifies the
// channel switchboard_apps of every change to a row.
package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-rt/switchboard/appstore"
	"github.com/switchboard-rt/switchboard/config"
)

// Channel is the LISTEN/NOTIFY channel told of every change to the table;
// the payload is the app's id.
const Channel = "switchboard_apps"

// connectTimeout bounds connecting when the URL sets no connect_timeout.
const connectTimeout = 5 * time.Second

// migrations are the schema's versions, in order: migration i brings the
// schema from version i to i+1. Never edit one that has shipped; add one.
var migrations = []string{
	`CREATE TABLE switchboard_apps (
	id         text PRIMARY KEY,
	key        text NOT NULL UNIQUE,
	secret     text NOT NULL,
	enabled    boolean NOT NULL DEFAULT true,
	settings   jsonb NOT NULL DEFAULT '{}'::jsonb,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE FUNCTION switchboard_apps_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		PERFORM pg_notify('switchboard_apps', OLD.id);
	ELSE
		PERFORM pg_notify('switchboard_apps', NEW.id);
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER switchboard_apps_notify AFTER INSERT OR UPDATE OR DELETE ON switchboard_apps
	FOR EACH ROW EXECUTE FUNCTION switchboard_apps_notify();`,
}

// Schema is the SQL of every migration, as docs/apps.md shows it.
func Schema() string { return strings.Join(migrations, "\n") + "\n" }

// Store is the PostgreSQL app store. Its methods are safe for concurrent
// use; Close releases its connections.
type Store struct {
	pool *pgxpool.Pool
	cfg  *pgx.ConnConfig // for the LISTEN connection
}

var (
	_ appstore.Editor  = (*Store)(nil)
	_ appstore.Watcher = (*Store)(nil)
)

// Open returns the store of the database at url. It does not connect yet:
// a database that is down at start is an outage like any other.
func Open(url string) (*Store, error) {
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err) // pgx leaves the password out of its errors
	}
	if pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = connectTimeout
	}
	pc.MaxConns = 4
	// Ping every connection before use, not only those idle for a second:
	// the store is read a few times a minute, never on a handshake, and a
	// connection left from before a database restart must not fail the
	// first write after it.
	pc.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return true }
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	return &Store{pool: pool, cfg: pc.ConnConfig}, nil
}

// Close closes the store's connections.
func (s *Store) Close() { s.pool.Close() }

// Name returns "postgres".
func (s *Store) Name() string { return config.AppStorePostgres }

// Migrate brings the table to the current schema and returns how many
// migrations it ran (0 when it was current). Nodes migrating at once take
// turns on an advisory lock.
func (s *Store) Migrate(ctx context.Context) (int, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("pgstore: migrate: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('switchboard_schema'))`); err != nil {
		return 0, fmt.Errorf("pgstore: migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS switchboard_schema (name text PRIMARY KEY, version integer NOT NULL)`); err != nil {
		return 0, fmt.Errorf("pgstore: migrate: %w", err)
	}
	var v int
	err = tx.QueryRow(ctx, `SELECT version FROM switchboard_schema WHERE name = 'apps'`).Scan(&v)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("pgstore: migrate: %w", err)
	}
	if v > len(migrations) {
		return 0, fmt.Errorf("pgstore: the schema is at version %d, newer than this binary's %d: upgrade switchboard", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		if _, err := tx.Exec(ctx, migrations[i]); err != nil {
			return 0, fmt.Errorf("pgstore: migration %d: %w", i+1, err)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO switchboard_schema (name, version) VALUES ('apps', $1)
		ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version`, len(migrations)); err != nil {
		return 0, fmt.Errorf("pgstore: migrate: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("pgstore: migrate: %w", err)
	}
	return len(migrations) - v, nil
}

const selectApps = `SELECT id, key, secret, enabled, settings FROM switchboard_apps`

// List returns every app, by id.
func (s *Store) List(ctx context.Context) ([]config.PusherApp, error) {
	rows, err := s.pool.Query(ctx, selectApps+` ORDER BY id`)
	if err != nil {
		return nil, s.wrap("list", err)
	}
	apps, err := pgx.CollectRows(rows, scanApp)
	if err != nil {
		return nil, s.wrap("list", err)
	}
	return apps, nil
}

// Get returns the app with id.
func (s *Store) Get(ctx context.Context, id string) (config.PusherApp, error) {
	rows, err := s.pool.Query(ctx, selectApps+` WHERE id = $1`, id)
	if err != nil {
		return config.PusherApp{}, s.wrap("get", err)
	}
	a, err := pgx.CollectExactlyOneRow(rows, scanApp)
	if errors.Is(err, pgx.ErrNoRows) {
		return config.PusherApp{}, fmt.Errorf("pgstore: app %q: %w", id, appstore.ErrNotFound)
	}
	if err != nil {
		return config.PusherApp{}, s.wrap("get", err)
	}
	return a, nil
}

// Create inserts a.
func (s *Store) Create(ctx context.Context, a config.PusherApp) error {
	settings, err := encodeSettings(a)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO switchboard_apps (id, key, secret, enabled, settings) VALUES ($1, $2, $3, $4, $5)`,
		a.ID, a.Key, a.Secret, a.Enabled, settings)
	return s.wrap("create", err)
}

// Update replaces the app with a.ID.
func (s *Store) Update(ctx context.Context, a config.PusherApp) error {
	settings, err := encodeSettings(a)
	if err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE switchboard_apps SET key = $2, secret = $3, enabled = $4, settings = $5, updated_at = now() WHERE id = $1`,
		a.ID, a.Key, a.Secret, a.Enabled, settings)
	if err != nil {
		return s.wrap("update", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgstore: app %q: %w", a.ID, appstore.ErrNotFound)
	}
	return nil
}

// Delete removes the app with id.
func (s *Store) Delete(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM switchboard_apps WHERE id = $1`, id)
	if err != nil {
		return s.wrap("delete", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgstore: app %q: %w", id, appstore.ErrNotFound)
	}
	return nil
}

// Watch listens on Channel over a connection of its own, calling changed
// once it listens and after every notice.
func (s *Store) Watch(ctx context.Context, changed func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.cfg.Copy())
	if err != nil {
		return fmt.Errorf("pgstore: listen: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return fmt.Errorf("pgstore: listen: %w", err)
	}
	changed() // anything changed before LISTEN took effect
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("pgstore: listen: %w", err)
		}
		changed()
	}
}

// wrap adds context to a database error: a taken id or key becomes an
// *appstore.ConflictError, a missing table says how to create it.
func (s *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505" && strings.Contains(pe.ConstraintName, "pkey"):
			return &appstore.ConflictError{Field: "id", Value: constraintValue(pe.Detail)}
		case pe.Code == "23505":
			return &appstore.ConflictError{Field: "key", Value: constraintValue(pe.Detail)}
		case pe.Code == "42P01":
			return fmt.Errorf("pgstore: %s: the table switchboard_apps does not exist: run `switchboard migrate` or set pusher.app_store.migrate: %w", op, err)
		}
	}
	return fmt.Errorf("pgstore: %s: %w", op, err)
}

// constraintValue pulls the value out of a unique violation's detail,
// `Key (key)=(abc) already exists.`
func constraintValue(detail string) string {
	_, rest, ok := strings.Cut(detail, ")=(")
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, ") already exists")
	return v
}

func scanApp(row pgx.CollectableRow) (config.PusherApp, error) {
	var id, key, secret string
	var enabled bool
	var settings []byte
	if err := row.Scan(&id, &key, &secret, &enabled, &settings); err != nil {
		return config.PusherApp{}, err
	}
	a := config.NewPusherApp(id, key, secret)
	dec := json.NewDecoder(strings.NewReader(string(settings)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return config.PusherApp{}, fmt.Errorf("app %q: settings: %w: %w", id, appstore.ErrInvalid, err)
	}
	a.ID, a.Key, a.Secret, a.Enabled = id, key, secret, enabled
	return a, nil
}

// columns are the keys kept in columns of their own, not in settings.
var columns = []string{"id", "key", "secret", "enabled"}

// encodeSettings returns the settings of a: its keys other than the
// columns' that differ from the defaults.
func encodeSettings(a config.PusherApp) ([]byte, error) {
	have, err := asMap(a)
	if err != nil {
		return nil, err
	}
	def, err := asMap(config.NewPusherApp(a.ID, a.Key, a.Secret))
	if err != nil {
		return nil, err
	}
	maps.DeleteFunc(have, func(k string, v any) bool {
		return reflect.DeepEqual(v, def[k])
	})
	for _, c := range columns {
		delete(have, c)
	}
	return json.Marshal(have)
}

func asMap(a config.PusherApp) (map[string]any, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("pgstore: encoding app %q: %w", a.ID, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("pgstore: encoding app %q: %w", a.ID, err)
	}
	return m, nil
}
