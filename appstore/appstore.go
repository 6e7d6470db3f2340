// Package appstore keeps the Pusher apps a server serves and brings their
// changes to it while it runs.
//
// A Store holds the apps: File, the pusher.apps of the config file, changed
// by editing the file and reloading; or a database (package pgstore), an
// Editor changed through the admin API or SQL, and a Watcher that says when
// anyone changed it. A Sync reads a Store when it starts, on every change
// notice, on request and at a bounded interval, and hands each valid list
// to the dialect, which serves from memory: a store that cannot be read
// never blocks a handshake of a known app.
package appstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/switchboard-rt/switchboard/config"
)

// Store holds the apps.
type Store interface {
	// Name is the store's pusher.app_store.driver: "file" or "postgres".
	Name() string
	// List returns every app, in a stable order (by id for databases).
	List(ctx context.Context) ([]config.PusherApp, error)
}

// Editor is a Store that can be changed one app at a time. Each method
// takes an app that config.ValidatePusherApp accepts.
type Editor interface {
	Store
	// Get returns the app with id, or an error wrapping ErrNotFound.
	Get(ctx context.Context, id string) (config.PusherApp, error)
	// Create adds a, or returns a *ConflictError when its id or key is
	// taken.
	Create(ctx context.Context, a config.PusherApp) error
	// Update replaces the app with a.ID by a: an error wrapping
	// ErrNotFound when there is none, a *ConflictError when a.Key is
	// another app's.
	Update(ctx context.Context, a config.PusherApp) error
	// Delete removes the app with id, or returns an error wrapping
	// ErrNotFound.
	Delete(ctx context.Context, id string) error
}

// Watcher is a Store that tells of changes, whoever made them.
type Watcher interface {
	// Watch calls changed after every change to the store, and once when
	// it starts listening (changes before it may have been missed). It
	// returns when ctx ends (nil) or when listening fails.
	Watch(ctx context.Context, changed func()) error
}

// ErrNotFound is wrapped by the errors of an Editor asked for an app that
// does not exist.
var ErrNotFound = errors.New("no such app")

// ErrInvalid is wrapped by the errors of a Store that could be read but
// holds an app it cannot decode; it is not an outage.
var ErrInvalid = errors.New("invalid app")

// ConflictError is an Editor refusing an app whose id or key another app
// has.
type ConflictError struct {
	Field string // "id" or "key"
	Value string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s %q is taken by another app", e.Field, e.Value)
}

// File is the config file's store: the apps of pusher.apps, set again on
// each reload. It is not an Editor: the file is changed by editing it.
// Its methods are safe for concurrent use.
type File struct {
	mu   sync.Mutex
	apps []config.PusherApp
}

// NewFile returns the store of the apps served with cfg: pusher.apps, or
// config.DefaultPusherApp when there are none.
func NewFile(cfg config.Pusher) *File {
	f := &File{}
	f.Set(cfg)
	return f
}

// Set replaces the apps with those of cfg, after a reload.
func (f *File) Set(cfg config.Pusher) {
	apps := slices.Clone(cfg.Apps)
	if len(apps) == 0 {
		apps = []config.PusherApp{config.DefaultPusherApp()}
	}
	f.mu.Lock()
	f.apps = apps
	f.mu.Unlock()
}

// Name returns "file".
func (f *File) Name() string { return config.AppStoreFile }

// List returns the apps of the config file.
func (f *File) List(context.Context) ([]config.PusherApp, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.apps), nil
}

// Changes says what applying a list of apps changed, by app id.
type Changes struct {
	Added   []string `json:"added,omitempty"`   // served now, not before
	Changed []string `json:"changed,omitempty"` // served before and now, with other settings
	Removed []string `json:"removed,omitempty"` // served before, not now: their connections were closed with 4003
	// Disabled are apps that were enabled and are now disabled: their
	// connections were closed with 4003.
	Disabled []string `json:"disabled,omitempty"`
	// SecretsRotated are the changed apps whose secret changed; the old
	// one verifies for the grace period.
	SecretsRotated []string `json:"secrets_rotated,omitempty"`
}

// Empty reports whether nothing changed.
func (c Changes) Empty() bool {
	return len(c.Added)+len(c.Changed)+len(c.Removed) == 0
}

// LogAttrs returns the changes as log attributes, leaving out empty lists.
func (c Changes) LogAttrs() []any {
	var out []any
	for _, f := range []struct {
		k   string
		ids []string
	}{{"added", c.Added}, {"changed", c.Changed}, {"removed", c.Removed}, {"disabled", c.Disabled}, {"secrets_rotated", c.SecretsRotated}} {
		if len(f.ids) > 0 {
			out = append(out, f.k, strings.Join(f.ids, ","))
		}
	}
	return out
}
