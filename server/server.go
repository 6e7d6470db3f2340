package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/dialect"
)

// MaxHeaderBytes bounds the size of a request's headers. The header and
// idle timeouts are the config's http section.
const MaxHeaderBytes = 64 << 10

// Server is Switchboard's HTTP server: one listener, one mux, every
// dialect. Create it with New, then call Serve or ListenAndServe once.
// AddReadinessCheck, Handler and Registry are safe for concurrent use.
type Server struct {
	cfg      *config.Config
	log      *slog.Logger
	dialects []dialect.Dialect
	mux      *http.ServeMux
	handler  http.Handler // mux behind the HTTP hardening of every request
	registry *prometheus.Registry
	tls      *tls.Config // nil without TLS
	cert     certificate // what tls presents
	served   []servedRoute
	checks   checks
	state    atomic.Int32
	started  atomic.Bool
	requests activeRequests // HTTP connections with a request in progress
	limits   *rateLimits
}

// servedRoute is one endpoint, as logged at start.
type servedRoute struct {
	pattern, protocol, dialect string
}

// New builds the mux: the dialects' routes, /healthz, /readyz, metrics and
// pprof as cfg says. cfg must be valid (config.Config.Validate) and must not
// change afterwards. It fails when two routes conflict, two dialects share a
// name, or the TLS files cannot be loaded.
func New(cfg *config.Config, logger *slog.Logger, dialects ...dialect.Dialect) (*Server, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: logger, dialects: dialects, mux: http.NewServeMux()}
	s.limits = newRateLimits(cfg.Limits.HandshakesPerIP, cfg.Limits.APIRequests)
	names := map[string]bool{}
	for _, d := range dialects {
		if names[d.Name()] {
			return nil, fmt.Errorf("server: two dialects are named %q", d.Name())
		}
		names[d.Name()] = true
		if rc, ok := d.(dialect.ReadinessChecker); ok {
			s.AddReadinessCheck(d.Name(), rc.Ready)
		}
	}
	reg, err := newRegistry(dialects)
	if err != nil {
		return nil, fmt.Errorf("server: metrics: %w", err)
	}
	s.registry = reg
	if err := reg.Register(s.limits.refused); err != nil {
		return nil, fmt.Errorf("server: metrics: %w", err)
	}
	if err := s.routes(); err != nil {
		return nil, err
	}
	s.handler = closeChunked(s.mux)
	if cfg.TLS.Enabled() {
		if err := s.cert.load(cfg.TLS.CertFile, cfg.TLS.KeyFile); err != nil {
			return nil, err
		}
		s.tls = s.cert.tlsConfig()
	}
	return s, nil
}

// routes mounts every endpoint on s.mux.
func (s *Server) routes() error {
	h := func(pattern, protocol, owner string, handler http.Handler) error {
		if err := handle(s.mux, pattern, handler); err != nil {
			return err
		}
		s.served = append(s.served, servedRoute{pattern, protocol, owner})
		return nil
	}
	errs := []error{
		h("GET /healthz", dialect.ProtocolHTTP, "", http.HandlerFunc(s.healthz)),
		h("GET /readyz", dialect.ProtocolHTTP, "", http.HandlerFunc(s.readyz)),
	}
	if s.cfg.Metrics.Enabled {
		errs = append(errs, h("GET "+s.cfg.Metrics.Path, dialect.ProtocolHTTP, "", metricsHandler(s.registry)))
	}
	if s.cfg.Pprof.Enabled {
		for _, r := range pprofRoutes() {
			errs = append(errs, handle(s.mux, r.Pattern, r.Handler))
		}
		s.served = append(s.served, servedRoute{config.PprofPath, dialect.ProtocolHTTP, ""})
	}
	for _, d := range s.dialects {
		for _, r := range d.Routes() {
			handler := r.Handler
			if r.Protocol == dialect.ProtocolWebSocket {
				handler = s.limitConnections(handler)
			}
			handler = s.limits.wrap(r.Protocol, handler)
			errs = append(errs, h(r.Pattern, r.Protocol, d.Name(), handler))
		}
	}
	return errors.Join(errs...)
}

// handle is mux.Handle returning the panic of a bad or conflicting pattern
// as an error.
func handle(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("server: route %q: %v", pattern, r)
		}
	}()
	mux.Handle(pattern, h)
	return nil
}

// limitConnections answers 503 to a WebSocket handshake while the open
// connections of all dialects together reach websocket.max_connections.
// Handshakes running at the same moment may pass it together, so the cap can
// be exceeded by a few; each ws.Server also enforces it on its own.
func (s *Server) limitConnections(next http.Handler) http.Handler {
	limit := int64(s.cfg.WebSocket.MaxConnections)
	if limit <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var open int64
		for _, d := range s.dialects {
			open += d.Stats().Connections
		}
		if open >= limit {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "websocket: too many connections", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Mount serves h at pattern (an http.ServeMux pattern) on the server's
// port, behind the same checks as every route, for a surface built after
// New, such as the console, which reads the server's Registry. It fails
// when the pattern conflicts with a route, and after Serve has started.
func (s *Server) Mount(pattern string, h http.Handler) error {
	if s.started.Load() {
		return fmt.Errorf("server: Mount(%q) after Serve", pattern)
	}
	if err := handle(s.mux, pattern, h); err != nil {
		return err
	}
	s.served = append(s.served, servedRoute{pattern, dialect.ProtocolHTTP, ""})
	return nil
}

// Handler returns the server's handler (its mux behind the checks every
// request passes), for tests and for embedding under another server.
func (s *Server) Handler() http.Handler { return s.handler }

// Registry returns the server's Prometheus registry, to register more
// collectors on.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// ListenAndServe listens on cfg.Addr() and calls Serve.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr())
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln, with TLS when configured, until ctx is done, then shuts
// down gracefully (see the package doc) and returns nil, or what went wrong.
// Connections cut at the shutdown deadline are a normal stop (logged with
// their number), not an error. It closes ln. Serve may be called
// only once per Server.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.started.Swap(true) {
		if ln != nil {
			_ = ln.Close()
		}
		return errors.New("server: Serve called twice")
	}
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.HTTP.ReadHeaderTimeout.Std(),
		IdleTimeout:       s.cfg.HTTP.IdleTimeout.Std(),
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		Protocols:         new(http.Protocols),
		ConnState:         s.requests.track,
	}
	hs.Protocols.SetHTTP1(true)
	listenersClosed := make(chan struct{})
	hs.RegisterOnShutdown(func() { close(listenersClosed) })
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
	}

	for _, r := range s.served {
		s.logServing(r)
	}
	s.log.Info("listening", "addr", ln.Addr().String(), "tls", s.tls != nil)
	s.state.Store(stateServing)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	var serveErr error
	select {
	case serveErr = <-served:
		serveErr = fmt.Errorf("server: %w", serveErr)
		s.log.Error("serving failed", "err", serveErr)
	case <-ctx.Done():
		s.log.Info("shutting down", "reason", context.Cause(ctx), "timeout", s.cfg.ShutdownTimeout.Std())
	}
	err := s.shutdown(hs, listenersClosed)
	if serveErr == nil {
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			serveErr = fmt.Errorf("server: %w", err)
		}
	}
	return errors.Join(serveErr, err)
}

func (s *Server) logServing(r servedRoute) {
	method, path, found := strings.Cut(r.pattern, " ")
	if !found {
		method, path = "", r.pattern
	}
	attrs := []any{"endpoint", path}
	if r.dialect != "" {
		attrs = append(attrs, "dialect", r.dialect)
	}
	attrs = append(attrs, "protocol", r.protocol)
	if method != "" {
		attrs = append(attrs, "method", method)
	}
	s.log.Info("serving", attrs...)
}
