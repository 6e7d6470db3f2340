package server

import (
	"net/http"
	"net/http/pprof"

	"github.com/switchboard-rt/switchboard/dialect"
)

// pprofRoutes are Go's profiling handlers under config.PprofPath. Importing
// net/http/pprof also registers them on http.DefaultServeMux, which
// Switchboard never serves.
func pprofRoutes() []dialect.Route {
	r := func(pattern string, h http.HandlerFunc) dialect.Route {
		return dialect.Route{Pattern: pattern, Protocol: dialect.ProtocolHTTP, Handler: h}
	}
	return []dialect.Route{
		r("GET /debug/pprof/", pprof.Index), // also heap, goroutine, allocs, block, mutex, threadcreate
		r("GET /debug/pprof/cmdline", pprof.Cmdline),
		r("GET /debug/pprof/profile", pprof.Profile),
		r("GET /debug/pprof/symbol", pprof.Symbol),
		r("POST /debug/pprof/symbol", pprof.Symbol),
		r("GET /debug/pprof/trace", pprof.Trace),
	}
}
