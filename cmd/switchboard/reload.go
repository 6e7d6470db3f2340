package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/switchboard-rt/switchboard/appstore"
	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/server"
)

// reloader applies, on SIGHUP and POST /admin/reload, what can change
// without dropping connections: the log level, the TLS certificate and
// key, and the Pusher apps. It reads the configuration again the way
// start-up did (file, environment, flags), once, and validates it whole
// before applying any of it.
type reloader struct {
	flags  serveFlags
	getenv func(string) string
	level  *slog.LevelVar // the running logger's level
	srv    *server.Server
	apps   *apps
	log    *slog.Logger
	hup    chan os.Signal

	mu  sync.Mutex     // one reload at a time
	cfg *config.Config // the configuration applied last
}

// watchHUP starts reloading on SIGHUP, in a goroutine, until the returned
// stop is called; stop waits for it. SIGHUP is caught from the moment
// watchHUP returns, so that it never kills the process (its default).
func (r *reloader) watchHUP() (stop func()) {
	r.hup = make(chan os.Signal, 1)
	signal.Notify(r.hup, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-r.hup:
				r.log.Debug("SIGHUP: reloading the configuration")
				_, _ = r.reload(ctx) // logged by reload
			}
		}
	}()
	return func() {
		cancel()
		<-done
		signal.Stop(r.hup)
	}
}

// reload reads the configuration and applies what it can, and returns
// what changed among the apps. An invalid configuration changes nothing
// and is returned with the problems start-up would report.
func (r *reloader) reload(ctx context.Context) (appstore.Changes, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cfg, _, err := loadConfig(r.flags, r.getenv)
	if err != nil {
		r.log.Error("reload failed; the running configuration stays", "err", err)
		return appstore.Changes{}, fmt.Errorf("reload: %w", err)
	}
	r.level.Set(cfg.Log.SlogLevel())
	attrs := []any{"log_level", cfg.Log.SlogLevel().String()}
	switch {
	case cfg.TLS.Enabled() != r.cfg.TLS.Enabled():
		r.log.Warn("reload: turning TLS on or off needs a restart; TLS stays as it is")
	case cfg.TLS.Enabled():
		if err := r.srv.ReloadTLS(cfg.TLS.CertFile, cfg.TLS.KeyFile); err != nil {
			r.log.Error("reload: the TLS certificate in use stays", "err", err)
		} else {
			attrs = append(attrs, "tls_cert", cfg.TLS.CertFile)
		}
	}
	ch, appsErr := r.apps.apply(ctx, cfg)
	if needsRestart(r.cfg, cfg) {
		r.log.Warn("reload: other changed settings take effect at the next restart; only log.level, the TLS files and pusher.apps are reloaded")
	}
	r.cfg = cfg
	if appsErr != nil {
		r.log.Error("reload: the apps could not be read; the apps served stay", "err", appsErr)
		return ch, appsErr
	}
	r.log.Info("reloaded", append(attrs, ch.LogAttrs()...)...)
	return ch, nil
}

// needsRestart reports whether next differs from prev in more than what a
// reload applies.
func needsRestart(prev, next *config.Config) bool {
	a, b := *prev, *next
	b.Log.Level = a.Log.Level
	b.TLS = a.TLS
	b.Pusher.Apps = a.Pusher.Apps
	ja, errA := json.Marshal(&a)
	jb, errB := json.Marshal(&b)
	return errA != nil || errB != nil || string(ja) != string(jb)
}
