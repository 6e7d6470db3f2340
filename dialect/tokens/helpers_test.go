package tokens

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/dialect"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait bounds every wait of a test.
const wait = 5 * time.Second

// broker is a Dialect mounted on an httptest server with a real hub.
type broker struct {
	*Dialect
	hub  *hub.Hub
	http *httptest.Server
	logs *testutil.LogBuffer
}

// newBroker starts a broker with the default tokens config changed by edit.
func newBroker(t *testing.T, edit func(*config.Tokens)) *broker {
	t.Helper()
	return newNodeBroker(t, nil, edit)
}

// newNodeBroker starts a broker on its own hub made with opts (nil for a
// hub of its own; one node of a test cluster shares opts.Shared, or a
// Redis bus, with the others), with the default tokens config changed by
// edit. Besides the dialect's routes it serves GET /other.
func newNodeBroker(t *testing.T, opts *hub.Options, edit func(*config.Tokens)) *broker {
	t.Helper()
	cfg := config.Default().Tokens
	if edit != nil {
		edit(&cfg)
	}
	h, err := hub.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testutil.LogBuffer{}
	d, err := New(cfg, dialect.Deps{Hub: h, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, r := range d.Routes() {
		mux.Handle(r.Pattern, r.Handler)
	}
	mux.HandleFunc("GET /other", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "other") })
	b := &broker{Dialect: d, hub: h, http: httptest.NewServer(mux), logs: logs}
	t.Cleanup(func() {
		testutil.Shutdown(t, d.Shutdown)
		b.http.Close()
		_ = h.Close()
	})
	return b
}

// wsURL returns the WebSocket URL with query q ("" for none).
func (b *broker) wsURL(q string) string {
	u := "ws" + strings.TrimPrefix(b.http.URL, "http") + "/ws"
	if q != "" {
		u += "?" + q
	}
	return u
}

// peer is a WebSocket client.
type peer struct {
	t *testing.T
	c *websocket.Conn
}

// dial connects with ?RegisterToken=token, or bare when token is "".
func (b *broker) dial(t *testing.T, token string) *peer {
	t.Helper()
	q := ""
	if token != "" {
		q = "RegisterToken=" + url.QueryEscape(token)
	}
	p, resp, err := b.tryDial(t, q, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %q: %v (HTTP %d)", token, err, status)
	}
	return p
}

// tryDial connects with the raw query q and headers h.
func (b *broker) tryDial(t *testing.T, q string, h http.Header) (*peer, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, b.wsURL(q), &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	p := &peer{t: t, c: c}
	// The client sees 101 before the server has subscribed it: a round
	// trip shows the server is done.
	p.sync()
	return p, resp, nil
}

// send sends a text frame.
func (p *peer) send(text string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := p.c.Write(ctx, websocket.MessageText, []byte(text)); err != nil {
		p.t.Fatalf("send %q: %v", text, err)
	}
}

// read returns the next frame's raw text.
func (p *peer) read() string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, data, err := p.c.Read(ctx)
	if err != nil {
		p.t.Fatalf("read: %v", err)
	}
	return string(data)
}

// expect reads the next frame and checks it is payload, encoded.
func (p *peer) expect(payload string) {
	p.t.Helper()
	if got, want := p.read(), string(Encode(payload)); got != want {
		p.t.Fatalf("got frame %q, want %q", got, want)
	}
}

// sync proves that everything this peer sent before was handled, and that
// every message routed to it before that was queued: it echoes a marker and
// checks the marker is the next frame. It is how a test shows a peer got
// nothing, without sleeping.
func (p *peer) sync() {
	p.t.Helper()
	p.send("Echo:sync-marker")
	p.expect("sync-marker")
}

// closeStatus waits for the connection to end and returns its close code.
func (p *peer) closeStatus() websocket.StatusCode {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for {
		if _, _, err := p.c.Read(ctx); err != nil {
			if ctx.Err() != nil {
				p.t.Fatal("connection not closed in time")
			}
			return websocket.CloseStatus(err)
		}
	}
}

// post calls the API at "/" with a form body and headers h; it returns the
// status and body.
func (b *broker) post(t *testing.T, form url.Values, h http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.http.URL+"/", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range h {
		req.Header[k] = v
	}
	return b.do(t, req)
}

// do sends req and returns the status and body.
func (b *broker) do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := b.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// form builds url.Values from key, value pairs.
func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// decode unmarshals a JSON body into a new T.
func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	return v
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, what, wait, cond)
}
