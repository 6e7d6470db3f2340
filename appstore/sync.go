package appstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/internal/routine"
)

// readTimeout bounds one read of the store.
const readTimeout = 5 * time.Second

// SyncOptions configure a Sync.
type SyncOptions struct {
	// Store is read.
	Store Store
	// Apply serves a valid list of apps and says what changed; an error
	// leaves the served apps as they were. It is called from one
	// goroutine at a time.
	Apply func([]config.PusherApp) (Changes, error)
	// Health is told whether the store can be read: the error while it
	// cannot, nil once it can again (optional).
	Health func(error)
	// Interval is how often the store is read besides change notices
	// (pusher.app_store.refresh_interval).
	Interval time.Duration
	// Log gets a line when the store stops or starts being readable, and
	// for a list refused as invalid.
	Log *slog.Logger
}

// Sync keeps a dialect's apps in step with a Store. Create it with NewSync,
// then Start it; Close stops its goroutines. Refresh and Err are safe for
// concurrent use.
type Sync struct {
	o     SyncOptions
	mu    sync.Mutex // one refresh at a time
	errMu sync.Mutex
	err   error // the last refresh's problem; nil after a good one
	poke  chan struct{}

	routines *routine.Group // the background reads; Close stops them
}

// NewSync returns a Sync for o; it reads nothing until Start.
func NewSync(o SyncOptions) *Sync {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Health == nil {
		o.Health = func(error) {}
	}
	if o.Interval <= 0 {
		o.Interval = 10 * time.Second
	}
	return &Sync{o: o, poke: make(chan struct{}, 1), routines: routine.New(context.Background())}
}

// Start reads the store once, within ctx, then keeps reading it in the
// background: on every notice of a Watcher store, and every Interval. A
// store that cannot be read at start is logged and retried; Start returns
// its error all the same, for the caller to decide whether to go on.
func (s *Sync) Start(ctx context.Context) error {
	_, err := s.Refresh(ctx)
	if w, ok := s.o.Store.(Watcher); ok {
		s.routines.Go(func(ctx context.Context) { s.watch(ctx, w) })
	}
	s.routines.Go(s.loop)
	return err
}

// Close stops the background reads and waits for them.
func (s *Sync) Close() { s.routines.StopAndWait() }

// Err returns why the last read of the store failed or was refused, or
// nil when it succeeded.
func (s *Sync) Err() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

// Refresh reads the store and applies what it holds, now, and returns what
// changed. A list with an invalid app is refused whole: the served apps
// stay.
func (s *Sync) Refresh(ctx context.Context) (Changes, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	apps, err := s.o.Store.List(ctx)
	cancel()
	if err != nil {
		err = fmt.Errorf("app store %s: %w", s.o.Store.Name(), err)
		s.setErr(err, !errors.Is(err, ErrInvalid))
		return Changes{}, err
	}
	var bad []error
	for _, a := range apps {
		if err := config.ValidatePusherApp(a); err != nil {
			bad = append(bad, fmt.Errorf("app %q: %w", a.ID, err))
		}
	}
	if err := errors.Join(bad...); err != nil {
		err = fmt.Errorf("app store %s holds invalid apps, the served apps stay as they are: %w", s.o.Store.Name(), err)
		s.setErr(err, false)
		return Changes{}, err
	}
	ch, err := s.o.Apply(apps)
	if err != nil {
		err = fmt.Errorf("app store %s: %w", s.o.Store.Name(), err)
		s.setErr(err, false)
		return Changes{}, err
	}
	s.setErr(nil, false)
	if !ch.Empty() {
		s.o.Log.Info("apps changed", append([]any{"store", s.o.Store.Name()}, ch.LogAttrs()...)...)
	}
	return ch, nil
}

// setErr records the outcome of a refresh, logging a change of state;
// unreachable says the store could not be read at all.
func (s *Sync) setErr(err error, unreachable bool) {
	s.errMu.Lock()
	prev := s.err
	s.err = err
	s.errMu.Unlock()
	switch {
	case err != nil && (prev == nil || prev.Error() != err.Error()):
		if unreachable {
			s.o.Log.Error("app store cannot be read; the apps in memory are still served, unknown keys are refused", "err", err)
		} else {
			s.o.Log.Error("app store refused", "err", err)
		}
	case err == nil && prev != nil:
		s.o.Log.Info("app store read again", "store", s.o.Store.Name())
	}
	if unreachable {
		s.o.Health(err)
	} else {
		s.o.Health(nil)
	}
}

// Poke asks for a refresh soon, without waiting for it.
func (s *Sync) Poke() {
	select {
	case s.poke <- struct{}{}:
	default: // one is pending already
	}
}

func (s *Sync) loop(ctx context.Context) {
	t := time.NewTicker(s.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.poke:
		}
		_, _ = s.Refresh(ctx) // logged by setErr
	}
}

// watch listens for change notices, listening again after a failure with
// a back-off up to Interval (the ticker covers the gap).
func (s *Sync) watch(ctx context.Context, w Watcher) {
	backoff := 100 * time.Millisecond
	for {
		start := time.Now()
		err := w.Watch(ctx, s.Poke)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > s.o.Interval {
			backoff = 100 * time.Millisecond // it had been listening: start over
		}
		s.o.Log.Warn("app store: listening for changes failed; listening again", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, s.o.Interval)
	}
}
