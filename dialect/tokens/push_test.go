package tokens

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/config"
)

// endpoint is an HTTP push client: every POST's message field is sent on
// got, answered with status.
type endpoint struct {
	*httptest.Server
	got    chan string
	status int
}

func newEndpoint(t *testing.T, status int) *endpoint {
	e := &endpoint{got: make(chan string, 64), status: status}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			t.Errorf("push: %s with %q", r.Method, r.Header.Get("Content-Type"))
		}
		e.got <- r.PostFormValue("message")
		w.WriteHeader(e.status)
	}))
	t.Cleanup(e.Close)
	return e
}

// expect waits for the next POST and checks its message.
func (e *endpoint) expect(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-e.got:
		if got != want {
			t.Fatalf("push message %q, want %q", got, want)
		}
	case <-time.After(wait):
		t.Fatalf("no push of %q", want)
	}
}

func TestHTTPPushClients(t *testing.T) {
	b := newBroker(t, func(c *config.Tokens) { c.AllowUnregisteredHTTPClients = true })
	e1, e2 := newEndpoint(t, 200), newEndpoint(t, 204)
	ws := b.dial(t, "group/ws")
	for _, f := range []map[string]string{
		{"token": "group/h1", "endpoint": e1.URL + "/push?k=1"},
		{"token": "abc1", "endpoint": e2.URL},
	} {
		st, body := b.post(t, form("method", "registerHttpClient", "token", f["token"], "endpoint", f["endpoint"]), nil)
		checkAnswer(t, st, body, 200, `{"ok":true}`)
	}
	st, body := b.post(t, form("method", "httpClientsList"), nil)
	if got := decode[map[string]string](t, body); st != 200 || len(got) != 2 || got[e1.URL+"/push?k=1"] != "group/h1" || got[e2.URL] != "abc1" {
		t.Fatalf("httpClientsList: %d %s", st, body)
	}

	ws.send("group/|to the group <&>")
	ws.expect("to the group <&>")
	e1.expect(t, "to the group <&>") // the text itself, not its JSON frame
	b.post(t, form("method", "broadcast", "message", "abc1,group/h1|a|b"), nil)
	e2.expect(t, "a|b")
	e1.expect(t, "a|b")
	for i := range 5 { // in order
		b.post(t, form("method", "broadcast", "message", "abc1|"+string(rune('0'+i))), nil)
	}
	for i := range 5 {
		e2.expect(t, string(rune('0'+i)))
	}

	// Registering the endpoint again moves it to another token.
	st, body = b.post(t, form("method", "registerHttpClient", "token", "other", "endpoint", e2.URL), nil)
	checkAnswer(t, st, body, 200, `{"ok":true}`)
	b.post(t, form("method", "broadcast", "message", "abc1|old"), nil)
	b.post(t, form("method", "broadcast", "message", "other|new"), nil)
	e2.expect(t, "new")
}

func TestHTTPPushClientErrors(t *testing.T) {
	b := newBroker(t, func(c *config.Tokens) { c.RegisteredTokens = config.TokenList{"abc1"} })
	e := newEndpoint(t, 200)
	tests := []struct {
		name   string
		form   []string
		status int
		body   string
	}{
		{"no endpoint", []string{"token", "abc1"}, 400, "error:endpoint required"},
		{"not http", []string{"token", "abc1", "endpoint", "ftp://x/"}, 400, "error:http or https URL"},
		{"no host", []string{"token", "abc1", "endpoint", "http:///x"}, 400, "error:http or https URL"},
		{"unregistered token", []string{"token", "zzz", "endpoint", e.URL}, 403, "error:unregistered token"},
		{"no token is unregistered", []string{"endpoint", e.URL}, 403, "error:unregistered token"},
		{"invalid token", []string{"token", "a,b", "endpoint", e.URL}, 400, "error:token contains"},
		{"registered token", []string{"token", "abc1", "endpoint", e.URL}, 200, `{"ok":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, body := b.post(t, form(append([]string{"method", "registerHttpClient"}, tt.form...)...), nil)
			checkAnswer(t, st, body, tt.status, tt.body)
		})
	}
}

func TestHTTPPushClientRemovedAfterFailures(t *testing.T) {
	b := newBroker(t, func(c *config.Tokens) { c.AllowUnregisteredHTTPClients = true })
	bad := newEndpoint(t, 500)
	url := bad.URL + "/?k=1"
	b.post(t, form("method", "registerHttpClient", "token", "abc1", "endpoint", url), nil)
	for i := range PushFailures {
		b.post(t, form("method", "broadcast", "message", "abc1|"+string(rune('a'+i))), nil)
	}
	for i := range PushFailures {
		bad.expect(t, string(rune('a'+i)))
	}
	waitFor(t, "the endpoint to be removed", func() bool { return len(b.pushList()) == 0 })
	b.post(t, form("method", "broadcast", "message", "abc1|gone"), nil)
	// It may be registered again.
	b.post(t, form("method", "registerHttpClient", "token", "abc1", "endpoint", url), nil)
	b.post(t, form("method", "broadcast", "message", "abc1|back"), nil)
	bad.expect(t, "back")
	l := b.logs.String()
	for _, want := range []string{"HTTP client: delivery failed", "HTTP client: removed after failed deliveries", "HTTP status 500"} {
		if !strings.Contains(l, want) {
			t.Errorf("no log %q in:\n%s", want, l)
		}
	}
	if strings.Contains(l, "k=1") {
		t.Error("the log shows an endpoint's query")
	}
}
