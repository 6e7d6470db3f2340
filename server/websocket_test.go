package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-rt/switchboard/dialect"
	"github.com/switchboard-rt/switchboard/dialect/echo"
	"github.com/switchboard-rt/switchboard/server"
	"github.com/switchboard-rt/switchboard/ws"
)

// newEcho is the echo dialect as the binary builds it.
func newEcho(t *testing.T) *echo.Dialect {
	cfg := testConfig()
	d, err := echo.New(cfg.Echo, dialect.Deps{WebSocket: server.WebSocketOptions(cfg.WebSocket)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// dial opens a WebSocket to url; the test's cleanup drops it.
func dial(t *testing.T, ctx context.Context, url string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	if opts == nil {
		opts = &websocket.DialOptions{HTTPClient: client}
	}
	c, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

func roundTrip(t *testing.T, ctx context.Context, c *websocket.Conn, msg string) {
	t.Helper()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	typ, got, err := c.Read(ctx)
	if err != nil || typ != websocket.MessageText || string(got) != msg {
		t.Fatalf("read = %v %q %v, want text %q", typ, got, err, msg)
	}
}

func TestMetricsCountEchoTraffic(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := start(t, testConfig(), newEcho(t))
	c := dial(t, ctx, "ws"+strings.TrimPrefix(r.base, "http")+"/echo", nil)
	roundTrip(t, ctx, c, "hello")

	want := []string{
		`switchboard_connections{dialect="echo"} 1`,
		`switchboard_connections_accepted_total{dialect="echo"} 1`,
		`switchboard_messages_received_total{dialect="echo"} 1`,
		`switchboard_received_bytes_total{dialect="echo"} 5`,
		`switchboard_frames_sent_total{dialect="echo"} 1`,
		`switchboard_sent_bytes_total{dialect="echo"} 7`, // 2-byte header + "hello"
		`switchboard_socket_writes_total{dialect="echo"} 1`,
		`switchboard_slow_consumer_closes_total{dialect="echo"} 0`,
		"go_goroutines ",
		"process_open_fds ",
		"go_build_info{",
	}
	// The writer counts its write after the system call returns, so the
	// client may see the echo a moment before the counters do.
	var missing []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		code, body := get(t, client, r.base+"/metrics")
		if code != 200 {
			t.Fatalf("GET /metrics = %d", code)
		}
		missing = missing[:0]
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, w := range missing {
		t.Errorf("metrics lack %q", w)
	}

	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatalf("close: %v", err)
	}
	eventually(t, "the connections gauge to drop to 0", func() bool {
		_, body := get(t, client, r.base+"/metrics")
		return strings.Contains(body, `switchboard_connections{dialect="echo"} 0`+"\n")
	})
}

func TestShutdownClosesWebSocketsWith1001(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := start(t, testConfig(), newEcho(t))
	c := dial(t, ctx, "ws"+strings.TrimPrefix(r.base, "http")+"/echo", nil)
	roundTrip(t, ctx, c, "before")

	readErr := make(chan error, 1)
	go func() {
		_, _, err := c.Read(ctx)
		readErr <- err
	}()
	if err := r.stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if err := <-readErr; websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("read after shutdown = %v, want close 1001", err)
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(r.base, "http://"), time.Second); err == nil {
		t.Fatal("listener still accepts after shutdown")
	}
}

func TestMaxConnectionsCountsEveryDialect(t *testing.T) {
	cfg := testConfig()
	cfg.WebSocket.MaxConnections = 3
	busy := newFake("busy")
	busy.stats = ws.Stats{Connections: 3}
	r := start(t, cfg, newEcho(t), busy)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(r.base, "http")+"/echo", &websocket.DialOptions{HTTPClient: client})
	if err == nil {
		_ = c.CloseNow()
		t.Fatal("handshake accepted over websocket.max_connections")
	}
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("handshake over the cap = %v, %v; want 503 with Retry-After", resp, err)
	}
}

func TestTLS(t *testing.T) {
	cfg := testConfig()
	pool := x509.NewCertPool()
	cfg.TLS.CertFile, cfg.TLS.KeyFile = selfSigned(t, pool)
	r := start(t, cfg, newEcho(t))
	tc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: true, // the server must still answer HTTP/1.1
	}}
	if code, body := get(t, tc, r.base+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("GET /healthz over TLS = %d %q", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dial(t, ctx, "wss"+strings.TrimPrefix(r.base, "https")+"/echo", &websocket.DialOptions{HTTPClient: tc})
	roundTrip(t, ctx, c, "over tls")
	_ = c.Close(websocket.StatusNormalClosure, "")
}

func TestTLSWithBadFiles(t *testing.T) {
	cfg := testConfig()
	dir := t.TempDir()
	cfg.TLS.CertFile, cfg.TLS.KeyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for _, f := range []string{cfg.TLS.CertFile, cfg.TLS.KeyFile} {
		if err := os.WriteFile(f, []byte("not pem"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := server.New(cfg, nil); err == nil || !strings.Contains(err.Error(), "tls") {
		t.Fatalf("New with bad TLS files = %v, want a tls error", err)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key to a temporary
// directory, adds the certificate to pool and returns the two paths.
func selfSigned(t *testing.T, pool *x509.CertPool) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "switchboard test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool.AddCert(cert)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
