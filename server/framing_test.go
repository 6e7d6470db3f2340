package server_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/dialect"
)

// smuggled is a POST whose Content-Length covers a second, hidden request
// while its chunked body ends before it: a proxy framing by Content-Length
// sees one request, a server framing by Transfer-Encoding two.
const smuggled = "POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 42\r\nTransfer-Encoding: chunked\r\n\r\n" +
	"0\r\n\r\nGET /hidden HTTP/1.1\r\nHost: x\r\n\r\n"

// rawExchange writes req on a fresh connection to r and returns every
// response read before the server closed the connection.
func rawExchange(t *testing.T, r *running, req string) []*http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(r.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	var out []*http.Response
	for {
		resp, err := http.ReadResponse(br, nil)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return out
		}
		if err != nil {
			t.Fatalf("after %d responses: %v (the server should close, not time out)", len(out), err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		out = append(out, resp)
	}
}

func TestRequestSmugglingClosesTheConnection(t *testing.T) {
	var api, hidden atomic.Int32
	f := newFake("fake")
	f.routes = []dialect.Route{
		{Pattern: "POST /api", Protocol: dialect.ProtocolHTTP, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { api.Add(1) })},
		{Pattern: "GET /hidden", Protocol: dialect.ProtocolHTTP, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hidden.Add(1) })},
		{Pattern: "GET /ws", Protocol: dialect.ProtocolWebSocket, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hidden.Add(1) })},
	}
	r := start(t, testConfig(), f)

	for _, tc := range []struct {
		name, req  string
		wantStatus []int
		wantAPI    int32
	}{
		{"CL and TE: answered, then closed", smuggled, []int{200}, 1},
		{"TE alone: answered, then closed", "POST /api HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /hidden HTTP/1.1\r\nHost: x\r\n\r\n", []int{200}, 1},
		{"handshake with a body: 400, then closed", "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /hidden HTTP/1.1\r\nHost: x\r\n\r\n", []int{400}, 0},
		{"Content-Length alone keeps the connection", "POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhiGET /hidden HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", []int{200, 200}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api.Store(0)
			hidden.Store(0)
			resps := rawExchange(t, r, tc.req)
			var got []int
			for _, resp := range resps {
				got = append(got, resp.StatusCode)
			}
			if len(got) != len(tc.wantStatus) || got[0] != tc.wantStatus[0] {
				t.Fatalf("responses %v, want %v", got, tc.wantStatus)
			}
			if api.Load() != tc.wantAPI {
				t.Errorf("POST /api served %d times, want %d", api.Load(), tc.wantAPI)
			}
			wantHidden := int32(len(tc.wantStatus) - 1)
			if hidden.Load() != wantHidden {
				t.Errorf("hidden request served %d times, want %d", hidden.Load(), wantHidden)
			}
			if len(tc.wantStatus) == 1 && !resps[0].Close {
				t.Errorf("response lacks Connection: close")
			}
		})
	}
}

// waitClosed reads conn until the server closes it, failing after 5 s.
func waitClosed(t *testing.T, conn net.Conn, br *bufio.Reader) {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		t.Fatalf("the server did not close the connection: %v", err)
	}
}

func TestHTTPTimeoutsAreConfigurable(t *testing.T) {
	cfg := testConfig()
	cfg.HTTP.ReadHeaderTimeout = config.Duration(100 * time.Millisecond)
	cfg.HTTP.IdleTimeout = config.Duration(100 * time.Millisecond)
	r := start(t, cfg)
	addr := strings.TrimPrefix(r.base, "http://")

	t.Run("read_header_timeout", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n"); err != nil { // never ends
			t.Fatal(err)
		}
		waitClosed(t, conn, bufio.NewReader(conn))
	})
	t.Run("idle_timeout", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Close {
			t.Fatal("the server closed a keep-alive connection at once")
		}
		waitClosed(t, conn, br)
	})
}
