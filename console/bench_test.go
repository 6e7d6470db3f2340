package console_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/switchboard-rt/switchboard/console"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/internal/adminauth"
)

// BenchmarkStats measures one reading of the overview, as the sampler
// takes it once a second while a page is open, from a registry with the
// server's own collectors: its allocations per op are what an open
// console costs the garbage collector per second.
func BenchmarkStats(b *testing.B) {
	h, err := hub.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewBuildInfoCollector(), h.Collector())
	g, _ := adminauth.New("")
	c, err := console.New(console.Options{Path: "/console", Guard: g, Gatherer: reg, Hub: h})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := httptest.NewRequest("GET", "/console/api/stats", nil).WithContext(context.Background())
	req.RemoteAddr, req.Host = "127.0.0.1:5000", "localhost:8000"
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		c.Handler().ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}
