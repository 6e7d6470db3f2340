package server_test

import (
	"bufio"
	"crypto/tls"
	"io"
	"math/big"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/internal/testcert"
	"github.com/switchboard-rt/switchboard/server"
)

// tlsConn is one keep-alive HTTPS connection.
type tlsConn struct {
	c  *tls.Conn
	br *bufio.Reader
}

func dialTLS(t *testing.T, addr string, conf *tls.Config) *tlsConn {
	t.Helper()
	c, err := tls.Dial("tcp", addr, conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &tlsConn{c: c, br: bufio.NewReader(c)}
}

// serial is the serial number of the certificate the server presented.
func (c *tlsConn) serial() *big.Int { return c.c.ConnectionState().PeerCertificates[0].SerialNumber }

// healthz asks GET /healthz on the connection and checks the answer.
func (c *tlsConn) healthz(t *testing.T) {
	t.Helper()
	if err := c.c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c.c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz = %d", resp.StatusCode)
	}
}

func TestReloadTLS(t *testing.T) {
	ca := testcert.NewCA(t)
	dir := t.TempDir()
	cfg := testConfig()
	var first *big.Int
	cfg.TLS.CertFile, cfg.TLS.KeyFile, first = ca.Issue(t, dir, "first")
	r := start(t, cfg)
	addr := strings.TrimPrefix(r.base, "https://")
	conf := &tls.Config{RootCAs: ca.Pool()}

	old := dialTLS(t, addr, conf)
	old.healthz(t)
	if old.serial().Cmp(first) != 0 {
		t.Fatalf("serial %v, want %v", old.serial(), first)
	}

	_, _, second := ca.Issue(t, dir, "second") // replaced on disk
	if c := dialTLS(t, addr, conf); c.serial().Cmp(first) != 0 {
		t.Fatalf("the new file was used before ReloadTLS")
	}
	if err := r.srv.ReloadTLS("", ""); err != nil {
		t.Fatal(err)
	}
	if c := dialTLS(t, addr, conf); c.serial().Cmp(second) != 0 {
		t.Fatalf("after ReloadTLS: serial %v, want %v", c.serial(), second)
	}
	old.healthz(t) // the connection from before the reload still works

	// A broken file is refused and the certificate in use stays.
	if err := os.WriteFile(cfg.TLS.KeyFile, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.srv.ReloadTLS("", ""); err == nil {
		t.Fatal("ReloadTLS accepted a broken key")
	}
	if c := dialTLS(t, addr, conf); c.serial().Cmp(second) != 0 {
		t.Fatalf("after a failed reload: serial %v, want %v", c.serial(), second)
	}
}

func TestReloadTLSWithoutTLS(t *testing.T) {
	srv, err := server.New(testConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.ReloadTLS("", ""); err == nil || !strings.Contains(err.Error(), "restart") {
		t.Fatalf("ReloadTLS without TLS = %v, want an error saying to restart", err)
	}
}
