// Package server wires Switchboard's HTTP side on one port: the dialects'
// endpoints, health and readiness probes, Prometheus metrics, optional pprof,
// TLS and graceful shutdown.
//
// The binary builds the hub, the bus and every dialect.Dialect, then hands
// the dialects to [New]:
//
//	e, _ := echo.New(cfg.Echo, dialect.Deps{WebSocket: server.WebSocketOptions(cfg.WebSocket), Logger: logger})
//	srv, err := server.New(cfg, logger, e)
//	if err != nil { ... }
//	srv.AddReadinessCheck("redis", bus.Ping) // optional
//	err = srv.ListenAndServe(ctx)           // until ctx is done, then a graceful shutdown
//
// Endpoints, all on the one port of config.Config.Addr:
//
//	GET /healthz        liveness: 200 "ok" while the process runs
//	GET /readyz         readiness: 200 while serving and every readiness check passes, 503 otherwise
//	GET /metrics        Prometheus text (metrics.path; off with metrics.enabled: false)
//	/debug/pprof/       Go profiling, only with pprof.enabled
//	...                 each dialect's routes
//
// Every request passes the same checks before its route: a request with a
// chunked body is answered and its connection closed (request smuggling,
// RFC 9112 §6.3), and the per-client limits of the config's limits section
// answer 429 with Retry-After. The header-read and keep-alive timeouts are
// the config's http section. With TLS, [Server.ReloadTLS] swaps the
// certificate for new connections.
//
// Shutdown, when the context given to Serve is done: /readyz turns 503, the
// listener closes (no new connections), then every dialect shuts down at
// once, each closing its WebSocket connections with its own close code, all
// within config.Config.ShutdownTimeout; connections still open then are cut,
// counted in a warning, and Serve still returns nil: a normal stop.
//
// This package knows dialects only through the dialect.Dialect interface,
// and uses nothing of the hub, the bus or any wire format.
package server
