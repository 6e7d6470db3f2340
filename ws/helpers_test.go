package ws

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"go.uber.org/goleak"
)

// TestMain runs the package's tests on the send path WS_TEST_SEND_PATH
// names (syscall, uring or auto) wherever a test leaves Options.SendPath
// zero: scripts/test.sh runs them once on each path.
func TestMain(m *testing.M) {
	if v := os.Getenv("WS_TEST_SEND_PATH"); v != "" {
		p, err := ParseSendPath(v)
		if err != nil {
			fmt.Fprintln(os.Stderr, "WS_TEST_SEND_PATH:", err)
			os.Exit(2)
		}
		if got, err := ProbeSendPath(p); err != nil || got != p && p != SendPathAuto {
			fmt.Fprintf(os.Stderr, "WS_TEST_SEND_PATH=%s: cannot be used here: %v\n", v, err)
			os.Exit(2)
		}
		defaultSendPath = p
	}
	goleak.VerifyTestMain(m)
}

// event is what a test server saw on a connection.
type event struct {
	kind   string // "message", "ping", "pong", "close", "error"
	typ    MessageType
	data   []byte
	code   int
	reason string
	err    error
}

// testServer runs a Server on httptest with every connection's events sent
// to events.
type testServer struct {
	*Server
	http   *httptest.Server
	url    string
	events chan event
	conns  chan *Conn
}

func newTestServer(t *testing.T, opts Options, echo bool) *testServer {
	t.Helper()
	ts := &testServer{Server: NewServer(opts), events: make(chan event, 1024), conns: make(chan *Conn, 16)}
	ts.OnConnection(func(c *Conn) {
		c.OnMessage(func(typ MessageType, data []byte) {
			ts.events <- event{kind: "message", typ: typ, data: data}
			if echo {
				_ = c.Send(typ, data)
			}
		})
		c.OnPing(func(d []byte) { ts.events <- event{kind: "ping", data: d} })
		c.OnPong(func(d []byte) { ts.events <- event{kind: "pong", data: d} })
		c.OnClose(func(code StatusCode, reason string) {
			ts.events <- event{kind: "close", code: int(code), reason: reason}
		})
		c.OnError(func(err error) { ts.events <- event{kind: "error", err: err} })
		ts.conns <- c
	})
	ts.http = httptest.NewServer(ts.Server)
	ts.url = "ws" + strings.TrimPrefix(ts.http.URL, "http")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := ts.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		ts.http.Close()
	})
	return ts
}

// next waits for the next event of kind, skipping others.
func (ts *testServer) next(t *testing.T, kind string) event {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case e := <-ts.events:
			if e.kind == kind {
				return e
			}
		case <-deadline:
			t.Fatalf("no %q event within 5s", kind)
		}
	}
}

// rawClient is a hand-driven client that can send frames a well-behaved
// library refuses to.
type rawClient struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, url string, hdr http.Header) *rawClient {
	t.Helper()
	d := ws.Dialer{Header: ws.HandshakeHeaderHTTP(hdr), Timeout: 5 * time.Second}
	nc, br, _, err := d.Dial(context.Background(), url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	if br == nil {
		br = bufio.NewReader(nc)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawClient{t: t, nc: nc, br: br}
}

// send writes f masked, as a client must.
func (c *rawClient) send(f ws.Frame) {
	c.t.Helper()
	c.sendRaw(ws.MaskFrame(f))
}

// sendRaw writes f exactly as given.
func (c *rawClient) sendRaw(f ws.Frame) {
	c.t.Helper()
	if err := ws.WriteFrame(c.nc, f); err != nil {
		c.t.Fatalf("write frame: %v", err)
	}
}

func (c *rawClient) read() ws.Frame {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := readFrame(c.br)
	if err != nil {
		c.t.Fatalf("read frame: %v", err)
	}
	if f.Header.Masked {
		c.t.Fatalf("server sent a masked frame")
	}
	return f
}

// readClose reads frames until a Close and returns its code.
func (c *rawClient) readClose() (StatusCode, string) {
	c.t.Helper()
	for {
		f := c.read()
		if f.Header.OpCode == ws.OpClose {
			code, reason := ws.ParseCloseFrameData(f.Payload)
			return StatusCode(code), reason
		}
	}
}

// expectEOF waits for the server to drop TCP.
func (c *rawClient) expectEOF() {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, err := readFrame(c.br); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				c.t.Fatalf("server did not close TCP")
			}
			return
		}
	}
}

// newTLSServer serves srv over TLS and returns its https URL.
func newTLSServer(t *testing.T, srv *Server) string {
	t.Helper()
	return serveOn(t, srv, httptest.NewTLSServer(srv)).URL
}

// serveOn returns hs, which serves srv; the test's cleanup shuts srv down
// (giving it 5 s) and closes hs.
func serveOn(t *testing.T, srv *Server, hs *httptest.Server) *httptest.Server {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		hs.Close()
	})
	return hs
}

// readFrame reads one whole frame.
func readFrame(r io.Reader) (ws.Frame, error) {
	h, err := ws.ReadHeader(r)
	if err != nil {
		return ws.Frame{}, err
	}
	f := ws.Frame{Header: h, Payload: make([]byte, h.Length)}
	_, err = io.ReadFull(r, f.Payload)
	return f, err
}

func bytesValidUTF8(b []byte) bool { return utf8.Valid(b) }
