// Command server is an echo server on /echo built on one of the WebSocket
// engines Switchboard considered, so that they can be measured with the
// same load (`switchboard bench hold|echo --protocol echo`):
//
//	go run ./internal/enginecmp/server -engine=switchboard|gws|coder [-addr 127.0.0.1:8001] [-pprof 127.0.0.1:6061 -memprofilerate 1]
//
// It prints "listening ADDR pid PID engine ENGINE" once it serves, and
// runs until SIGINT or SIGTERM. Each engine runs with its defaults, as an
// embedder would first meet it:
//
//   - switchboard: our ws package, gobwas/ws framing on an epoll poller; no
//     goroutine and no buffer per idle connection.
//   - gws: github.com/lxzan/gws, one goroutine per connection (ReadLoop)
//     with a read buffer each.
//   - coder: github.com/coder/websocket, one goroutine per connection (the
//     HTTP handler's), blocking Read and Write.
//
// It listens on loopback addresses only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/switchboard-rt/switchboard/internal/loadgen"
)

func main() {
	engine := flag.String("engine", "switchboard", "WebSocket engine: switchboard, gws or coder")
	addr := flag.String("addr", "127.0.0.1:8001", "loopback address to listen on")
	pprofAddr := flag.String("pprof", "", "loopback address for /debug/pprof/ (off when empty)")
	rate := flag.Int("memprofilerate", 0, "runtime.MemProfileRate: 1 records every allocation, for exact heap profiles (default: Go's 512 KiB sampling)")
	flag.Parse()
	if *rate > 0 {
		runtime.MemProfileRate = *rate
	}
	if err := run(*engine, *addr, *pprofAddr); err != nil {
		log.Fatalf("enginecmp server: %v", err)
	}
}

func run(engine, addr, pprofAddr string) error {
	if _, err := loadgen.RaiseFileLimit(); err != nil {
		return fmt.Errorf("raise the open-file limit: %w", err)
	}
	echo, ok := engines[engine]
	if !ok {
		return fmt.Errorf("-engine %q: use switchboard, gws or coder", engine)
	}
	ln, err := listenLoopback(addr)
	if err != nil {
		return err
	}
	if pprofAddr != "" {
		pln, err := listenLoopback(pprofAddr)
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		go func() { _ = http.Serve(pln, mux) }()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h, shutdown := echo()
	mux := http.NewServeMux()
	mux.Handle("/echo", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("listening %s pid %d engine %s\n", ln.Addr(), os.Getpid(), engine)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	shutdown(sctx)
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("address %q: %w", addr, loadgen.ErrNotLoopback)
	}
	return net.Listen("tcp", addr)
}
