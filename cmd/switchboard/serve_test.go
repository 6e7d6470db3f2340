package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-rt/switchboard/internal/testutil"
)

// serving is the serve command running in-process for one test.
type serving struct {
	addr   string // 127.0.0.1:port
	cancel context.CancelFunc
	done   chan int // the exit status, once run returns
	logs   *testutil.LogBuffer
}

// startServe runs "serve" with args on a free loopback port and returns once
// /readyz answers 200. tlsConf, when not nil, is used to reach it over
// HTTPS. The test's cleanup stops it if the test did not.
func startServe(t *testing.T, tlsConf *tls.Config, args ...string) *serving {
	t.Helper()
	return startServeEnv(t, tlsConf, nil, args...)
}

// startServeEnv is startServe with the environment variables vars.
func startServeEnv(t *testing.T, tlsConf *tls.Config, vars map[string]string, args ...string) *serving {
	t.Helper()
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{addr: fmt.Sprintf("127.0.0.1:%d", port), cancel: cancel, done: make(chan int, 1), logs: &testutil.LogBuffer{}}
	args = append([]string{"serve", "--host", "127.0.0.1", "--port", fmt.Sprint(port)}, args...)
	go func() {
		s.done <- run(ctx, args, func(k string) string { return vars[k] }, io.Discard, s.logs)
	}()
	t.Cleanup(func() { s.stop(t) })

	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: tlsConf}, Timeout: time.Second}
	scheme := "http"
	if tlsConf != nil {
		scheme = "https"
	}
	testutil.WaitFor(t, "/readyz 200", 10*time.Second, func() bool {
		select {
		case code := <-s.done:
			s.done <- code
			t.Fatalf("exit %d before serving; stderr:\n%s", code, s.logs)
		default:
		}
		resp, err := c.Get(scheme + "://" + s.addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return s
}

// stop cancels the command and returns its exit status.
func (s *serving) stop(t *testing.T) int {
	t.Helper()
	s.cancel()
	select {
	case code := <-s.done:
		s.done <- code
		return code
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not stop within 20s; stderr:\n%s", s.logs)
		return -1
	}
}

// TestSmugglingOnEveryHTTPEndpoint sends a request with both Content-Length
// and Transfer-Encoding, hiding a second request in its body, to the HTTP
// endpoint of each dialect: it must be answered and the connection closed,
// the hidden request never answered.
func TestSmugglingOnEveryHTTPEndpoint(t *testing.T) {
	t.Chdir(t.TempDir())
	s := startServe(t, nil, "--config", "")
	for _, path := range []string{"/apps/1/events", "/", "/publisher/", "/user/auth"} {
		t.Run(path, func(t *testing.T) {
			conn, err := net.Dial("tcp", s.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
				t.Fatal(err)
			}
			hidden := "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
			req := "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
				fmt.Sprintf("Content-Length: %d\r\n", 5+len(hidden)) + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + hidden
			if _, err := io.WriteString(conn, req); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if !resp.Close {
				t.Errorf("%d answer without Connection: close", resp.StatusCode)
			}
			if second, err := http.ReadResponse(br, nil); !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				if err == nil {
					t.Fatalf("the hidden request was answered: %s", second.Status)
				}
				t.Fatalf("want the connection closed, got %v", err)
			}
		})
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if strings.Contains(s.logs.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", s.logs)
	}
}

// TestShutdownThatCutsExitsZero holds an /echo connection that never reads
// the server's close frame, so the shutdown has to cut it: still exit 0,
// with the number cut in the log.
func TestShutdownThatCutsExitsZero(t *testing.T) {
	t.Chdir(t.TempDir())
	writeFile(t, "cut.hjson", "shutdown_timeout: 200ms\n")
	s := startServe(t, nil, "--config", "cut.hjson")
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	handshake := "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(conn, handshake); err != nil {
		t.Fatal(err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	// The client never answers the close frame from now on.
	if code := s.stop(t); code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, s.logs)
	}
	if logs := s.logs.String(); !strings.Contains(logs, "cut=1") {
		t.Fatalf("the log does not say one connection was cut:\n%s", logs)
	}
}

// TestLegacyFileWithoutAllowUnregisteredIsClosed starts from a legacy
// websockets.conf whose AllowUnregisteredClients line is commented out, as
// the original broker's comment says to close it.
func TestLegacyFileWithoutAllowUnregisteredIsClosed(t *testing.T) {
	t.Chdir(t.TempDir())
	writeFile(t, legacyConfigFile, "{\n  Origin: \"*\",\n# AllowUnregisteredClients: \"yes\",\n}\n")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"legacy file", nil, `level=WARN msg="tokens admission" allow_unregistered_clients=false rule=legacy-default`},
		{"no file", []string{"--config", ""}, `level=INFO msg="tokens admission" allow_unregistered_clients=true rule=default`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServe(t, nil, tc.args...)
			if code := s.stop(t); code != 0 {
				t.Fatalf("exit %d", code)
			}
			if !strings.Contains(s.logs.String(), tc.want) {
				t.Fatalf("logs lack %q:\n%s", tc.want, s.logs)
			}
		})
	}
}

// TestConnectionsPerIPAcrossDialects holds one connection on /echo with
// limits.connections_per_ip = 1: a handshake on another dialect's endpoint
// from the same address is refused with 429, and counted in /metrics.
func TestConnectionsPerIPAcrossDialects(t *testing.T) {
	t.Chdir(t.TempDir())
	cfg := writeFile(t, "limits.hjson", "limits: { connections_per_ip: 1 }\n")
	s := startServe(t, nil, "--config", cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	held, _, err := websocket.Dial(ctx, "ws://"+s.addr+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer held.CloseNow()

	_, resp, err := websocket.Dial(ctx, "ws://"+s.addr+"/app/app-key?protocol=7", nil)
	if err == nil {
		t.Fatal("a second connection from one address was accepted over limits.connections_per_ip = 1")
	}
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("response %v, want 429", resp)
	}
	metrics, err := http.Get("http://" + s.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(metrics.Body)
	metrics.Body.Close()
	if want := `switchboard_connections_refused_per_ip_total{dialect="pusher"} 1`; !strings.Contains(string(body), want) {
		t.Fatalf("/metrics lacks %q", want)
	}
}
