// Command idlecost measures what an idle WebSocket connection costs the
// server, over TLS or not, with permessage-deflate or not: it opens -n connections to -path on a loopback
// -target, holds them idle, and prints the server's RSS (from /proc/-pid)
// before and after, per connection, with the server's goroutines from
// /metrics. It is the measurement behind BENCHMARKS.md's TLS figure:
//
//	go run ./internal/idlecost -n 10000 -pid $PID -target 127.0.0.1:8443 -ca ca.pem
//	go run ./internal/idlecost -n 10000 -pid $PID -target 127.0.0.1:8000
//	go run ./internal/idlecost -n 10000 -pid $PID -target 127.0.0.1:8000 -deflate
//
// The connections never read: the server's pings wait in the socket
// buffers, which is what an idle client looks like to the server.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"

	"github.com/switchboard-rt/switchboard/internal/loadgen"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "idlecost:", err)
		os.Exit(1)
	}
}

func run() error {
	target := flag.String("target", "127.0.0.1:8000", "server `host:port`, loopback only")
	path := flag.String("path", "/echo", "WebSocket path")
	n := flag.Int("n", 1000, "connections to hold")
	caFile := flag.String("ca", "", "PEM `file` of the CA to trust: connect with TLS (wss); empty for ws")
	pid := flag.Int("pid", 0, "the server's process ID, to read its RSS")
	idle := flag.Duration("idle", 10*time.Second, "how long to hold the connections before measuring")
	concurrency := flag.Int("concurrency", 32, "connections being opened at once")
	deflate := flag.Bool("deflate", false, "offer permessage-deflate (the server needs websocket.compression) and require it")
	flag.Parse()

	host, _, err := net.SplitHostPort(*target)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		return fmt.Errorf("-target %q: use a loopback host:port", *target)
	}
	if *pid <= 0 {
		return errors.New("-pid: give the server's process ID")
	}
	if _, err := loadgen.RaiseFileLimit(); err != nil {
		return err
	}
	var tlsConf *tls.Config
	scheme := "ws"
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("-ca %s: no certificate", *caFile)
		}
		tlsConf = &tls.Config{RootCAs: pool, ClientSessionCache: tls.NewLRUClientSessionCache(64)}
		scheme = "wss"
	}
	url := scheme + "://" + *target + *path
	dialer := ws.Dialer{Timeout: 10 * time.Second, TLSConfig: tlsConf}
	if *deflate {
		dialer.Extensions = []httphead.Option{wsflate.Parameters{ServerNoContextTakeover: true, ClientNoContextTakeover: true}.Option()}
	}

	before, err := loadgen.ReadRSS(*pid)
	if err != nil {
		return err
	}
	goBefore := goroutines(*target, tlsConf)
	conns := make([]net.Conn, *n)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	t0 := time.Now()
	for range *concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= *n || failed.Load() != nil {
					return
				}
				c, _, hs, err := dialer.Dial(context.Background(), url)
				if err == nil && *deflate && len(hs.Extensions) == 0 {
					_ = c.Close()
					err = errors.New("permessage-deflate not negotiated: set websocket.compression")
				}
				if err != nil {
					failed.CompareAndSwap(nil, fmt.Errorf("connection %d: %w", i+1, err))
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
	}()
	if err, _ := failed.Load().(error); err != nil {
		return err
	}
	took := time.Since(t0)
	time.Sleep(*idle)
	after, err := loadgen.ReadRSS(*pid)
	if err != nil {
		return err
	}
	goAfter := goroutines(*target, tlsConf)
	if *deflate {
		scheme += "+deflate"
	}
	fmt.Printf("%s x %d: opened in %.1f s (%.0f/s); server RSS %.1f -> %.1f MiB: %.0f bytes per connection; server goroutines %d -> %d\n",
		scheme, *n, took.Seconds(), float64(*n)/took.Seconds(), float64(before)/(1<<20), float64(after)/(1<<20),
		float64(after-before)/float64(*n), goBefore, goAfter)
	return nil
}

// goroutines reads go_goroutines from the server's /metrics, or -1.
func goroutines(target string, tlsConf *tls.Config) int {
	scheme := "http"
	if tlsConf != nil {
		scheme = "https"
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf, DisableKeepAlives: true}}
	resp, err := c.Get(scheme + "://" + target + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 1<<22))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			var n int
			_, _ = fmt.Sscan(v, &n)
			return n
		}
	}
	return -1
}
