//go:build unix

package main

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-rt/switchboard/internal/testcert"
	"github.com/switchboard-rt/switchboard/internal/testutil"
)

// TestSIGHUPReloadsTLSAndLogLevel replaces the certificate on disk and
// raises the log level in the file, then sends SIGHUP: new connections get
// the new certificate, an open WebSocket stays open and working, and debug
// lines appear.
func TestSIGHUPReloadsTLSAndLogLevel(t *testing.T) {
	t.Chdir(t.TempDir())
	ca := testcert.NewCA(t)
	certFile, keyFile, first := ca.Issue(t, ".", "first")
	conf := func(level string) {
		writeFile(t, "tls.hjson", `tls: { cert_file: "`+certFile+`", key_file: "`+keyFile+`" }
log: { level: "`+level+`" }
`)
	}
	conf("info")
	tlsConf := &tls.Config{RootCAs: ca.Pool()}
	s := startServe(t, tlsConf, "--config", "tls.hjson")
	serialOfNew := func() string {
		c, err := tls.Dial("tcp", s.addr, tlsConf)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	if got := serialOfNew(); got != first.String() {
		t.Fatalf("serial %s, want %s", got, first)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf}}
	defer hc.CloseIdleConnections()
	ws, _, err := websocket.Dial(ctx, "wss://"+s.addr+"/echo", &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	echo := func(msg string) {
		t.Helper()
		if err := ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if _, got, err := ws.Read(ctx); err != nil || string(got) != msg {
			t.Fatalf("echo %q: %q, %v", msg, got, err)
		}
	}
	echo("before")

	_, _, second := ca.Issue(t, ".", "second")
	conf("debug")
	hup := func(n int) {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		testutil.WaitFor(t, "reloaded", 10*time.Second, func() bool {
			return strings.Count(s.logs.String(), "msg=reloaded") == n
		})
	}
	hup(1)
	if got := serialOfNew(); got != second.String() {
		t.Fatalf("after SIGHUP: serial %s, want %s", got, second)
	}
	echo("after") // the connection from before the reload
	hup(2)        // now at debug level, the reload logs its debug line
	logs := s.logs.String()
	if n := strings.Count(logs, "SIGHUP: reloading"); n != 1 {
		t.Errorf("%d debug lines of a reload, want 1 (the second, at debug level):\n%s", n, logs)
	}
	if !strings.Contains(logs, "msg=reloaded log_level=DEBUG tls_cert=") {
		t.Errorf("no reload line naming the level and the certificate:\n%s", logs)
	}
	_ = ws.Close(websocket.StatusNormalClosure, "")
	if code := s.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestSIGHUPWithABadConfigKeepsRunning breaks the file, then sends SIGHUP:
// the server says so and keeps its configuration.
func TestSIGHUPWithABadConfigKeepsRunning(t *testing.T) {
	t.Chdir(t.TempDir())
	writeFile(t, "s.hjson", "log: { level: \"info\" }\n")
	s := startServe(t, nil, "--config", "s.hjson")
	writeFile(t, "s.hjson", "log: { level: \"loud\" }\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the reload's error", 10*time.Second, func() bool {
		return strings.Contains(s.logs.String(), `msg="reload failed; the running configuration stays"`)
	})
	writeFile(t, "s.hjson", "log: { level: \"info\" }\nshutdown_timeout: \"3s\"\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the restart warning", 10*time.Second, func() bool {
		return strings.Contains(s.logs.String(), "take effect at the next restart")
	})
	if code := s.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
