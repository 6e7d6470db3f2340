package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/dialect"
	"github.com/switchboard-rt/switchboard/dialect/atmosphere"
	"github.com/switchboard-rt/switchboard/dialect/echo"
	"github.com/switchboard-rt/switchboard/dialect/pusher"
	"github.com/switchboard-rt/switchboard/dialect/tokens"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/internal/adminauth"
	"github.com/switchboard-rt/switchboard/server"
	"github.com/switchboard-rt/switchboard/ws"
)

// legacyConfigFile is read from the working directory when no config file
// is named, as the token broker this server replaces did.
const legacyConfigFile = "websockets.conf"

// serveFlags are the flags of the serve command.
type serveFlags struct {
	config, host string
	port         int
	set          map[string]bool // the flags given on the command line
}

func serve(ctx context.Context, e *env, args []string) error {
	f, err := parseServeFlags(e, args)
	if err != nil {
		return err
	}
	cfg, source, err := loadConfig(f, e.getenv)
	if err != nil {
		return err
	}
	ln, err := listen(cfg)
	if err != nil {
		return err
	}
	defer ln.Close() // Serve closes it too; this is for the returns before Serve
	level := new(slog.LevelVar)
	level.Set(cfg.Log.SlogLevel())
	logger := newLogger(cfg.Log, level, e.stderr)
	slog.SetDefault(logger)
	logConfig(logger, cfg, source)
	logAdmission(logger, cfg)

	hubOpts, cluster, err := hubOptions(cfg, logger)
	if err != nil {
		return err
	}
	h, err := hub.New(hubOpts)
	if err != nil {
		if cluster != nil {
			_ = cluster.Close()
		}
		return err
	}
	defer h.Close() // after the dialects have shut down
	engine := ws.NewEngine()
	defer engine.Close() // after the dialects have shut down, before the hub
	ds, err := dialects(cfg, h, engine, logger)
	if err != nil {
		return err
	}
	guard, err := adminauth.New(cfg.Admin.Token)
	if err != nil {
		return err
	}
	ap, err := startApps(ctx, cfg, pusherOf(ds), logger)
	if err != nil {
		return err
	}
	defer ap.close()
	srv, err := server.New(cfg, logger, ds...)
	if err != nil {
		return err
	}
	if err := registerCluster(srv, cluster); err != nil {
		return err
	}
	if err := srv.Registry().Register(h.Collector()); err != nil {
		return fmt.Errorf("hub metrics: %w", err)
	}
	cons, err := mountConsole(cfg, srv, guard, h, ds, cluster, logger)
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	r := &reloader{flags: f, getenv: e.getenv, level: level, srv: srv, apps: ap, log: logger, cfg: cfg}
	if err := ap.mount(srv, guard, r.reload); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop) // a second signal kills at once
	defer r.watchHUP()()
	if cons != nil {
		// The console's streams never end by themselves: end them as the
		// shutdown starts, so that the server does not wait for them.
		context.AfterFunc(ctx, cons.Close)
	}
	return srv.Serve(ctx, ln)
}

// dialects builds every enabled dialect. Shared state (the hub and its bus,
// and the WebSocket engine: pollers, writers, sweeper) is built once, by
// serve, and handed to every dialect in the same Deps; the server package
// only mounts them. A nil engine gives each dialect's WebSocket server one
// of its own.
func dialects(cfg *config.Config, h *hub.Hub, engine *ws.Engine, logger *slog.Logger) ([]dialect.Dialect, error) {
	deps := dialect.Deps{Hub: h, WebSocket: server.WebSocketOptions(cfg.WebSocket), Logger: logger}
	deps.WebSocket.SendPath = probeSendPath(deps.WebSocket.SendPath, logger)
	deps.WebSocket.Engine = engine
	// One AddrLimit for every dialect, so the cap holds across endpoints.
	deps.WebSocket.AddrLimit = ws.NewAddrLimit(cfg.Limits.ConnectionsPerIP)
	enabled := []struct {
		on  bool
		new func() (dialect.Dialect, error)
	}{
		{cfg.Echo.Enabled, func() (dialect.Dialect, error) { return echo.New(cfg.Echo, deps) }},
		{cfg.Tokens.Enabled, func() (dialect.Dialect, error) { return tokens.New(cfg.Tokens, deps) }},
		{cfg.Pusher.Enabled, func() (dialect.Dialect, error) { return pusher.New(cfg.Pusher, deps) }},
		{cfg.Atmosphere.Enabled, func() (dialect.Dialect, error) { return atmosphere.New(cfg.Atmosphere, deps) }},
	}
	var ds []dialect.Dialect
	for _, e := range enabled {
		if !e.on {
			continue
		}
		d, err := e.new()
		if err != nil {
			shutdownAll(ds)
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// shutdownAll stops dialects already built when a later one fails: they
// have started goroutines of their own.
func shutdownAll(ds []dialect.Dialect) {
	for _, d := range ds {
		_ = d.Shutdown(context.Background())
	}
}

func parseServeFlags(e *env, args []string) (serveFlags, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	f := serveFlags{set: map[string]bool{}}
	fs.StringVar(&f.config, "config", "", "config `file` (HJSON); default $"+config.EnvConfig+", else ./"+legacyConfigFile+" if present; \"\" for none")
	fs.StringVar(&f.host, "host", "", "interface to listen on, overriding $"+config.EnvHost+" and the file (default localhost)")
	fs.Var(portValue{&f.port}, "port", "TCP `port` to listen on, overriding $"+config.EnvPort+" and the file (default 8000)")
	if err := parseFlags(fs, e, args); err != nil {
		return f, err
	}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	return f, nil
}

// configSource says where the config file came from, for the log.
type configSource struct {
	path string // "" when there is no file
	from string // "--config", the variable's name, or "working directory"
}

// loadConfig applies, lowest first: defaults, the file, the environment,
// flags; then validates. Every problem is returned at once.
func loadConfig(f serveFlags, getenv func(string) string) (*config.Config, configSource, error) {
	var src configSource
	switch {
	case f.set["config"]:
		src = configSource{f.config, "--config"}
	case getenv(config.EnvConfig) != "":
		src = configSource{getenv(config.EnvConfig), config.EnvConfig}
	default:
		if fi, err := os.Stat(legacyConfigFile); err == nil && fi.Mode().IsRegular() {
			src = configSource{legacyConfigFile, "working directory"}
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, src, fmt.Errorf("config: %w", err)
		}
	}
	cfg := config.Default()
	if src.path != "" {
		var err error
		if cfg, err = config.Load(src.path); err != nil {
			// Report the environment's problems with the file's.
			return nil, src, invalidConfig(errors.Join(err, config.Default().ApplyEnv(getenv)))
		}
	}
	envErr := cfg.ApplyEnv(getenv)
	if f.set["host"] {
		cfg.Host = f.host
	}
	if f.set["port"] {
		cfg.Port = f.port
	}
	if err := errors.Join(envErr, cfg.Validate()); err != nil {
		return nil, src, invalidConfig(err)
	}
	return cfg, src, nil
}

// configError lists every problem of a configuration.
type configError struct{ err error }

// invalidConfig returns err as a configError when it holds config problems,
// and unchanged otherwise (such as a file that cannot be read).
func invalidConfig(err error) error {
	var ce *config.Error
	if !errors.As(err, &ce) {
		return err
	}
	return configError{err}
}

func (e configError) Error() string {
	lines := errorLines(e.err)
	noun := "problem"
	if len(lines) > 1 {
		noun = "problems"
	}
	return fmt.Sprintf("invalid configuration, %d %s:\n  %s", len(lines), noun, strings.Join(lines, "\n  "))
}

func (e configError) Unwrap() error { return e.err }

// newLogger returns the logger c asks for, at level (which SIGHUP changes).
func newLogger(c config.Log, level slog.Leveler, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if c.JSON() {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func logConfig(logger *slog.Logger, cfg *config.Config, src configSource) {
	if src.path == "" {
		logger.Info("config", "file", "none", "note", "every key at its default")
	} else {
		logger.Info("config", "file", src.path, "from", src.from)
	}
	for _, w := range cfg.Warnings() {
		logger.Warn("config", "key", w.Key, "problem", w.Msg)
	}
}

// probeSendPath decides once, at start, how every dialect's WebSocket
// server writes to its sockets, and says so in one line when io_uring is
// asked for: used, or unavailable and replaced by send(2). The servers are
// given the outcome, so none of them tries io_uring again.
func probeSendPath(p ws.SendPath, logger *slog.Logger) ws.SendPath {
	got, err := ws.ProbeSendPath(p)
	switch {
	case err != nil && p == ws.SendPathUring:
		logger.Warn("websocket.send_path is uring, but io_uring is unavailable: writing with send(2)", "err", err)
	case err != nil:
		logger.Info("io_uring unavailable: writing with send(2)", "send_path", p.String(), "err", err)
	case got == ws.SendPathUring:
		logger.Info("writing to WebSocket sockets with io_uring", "send_path", p.String())
	}
	return got
}
