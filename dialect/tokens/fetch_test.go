package tokens

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/config"
)

// tokenServer serves RegisteredTokensUrl. Each request is announced on hits
// and then held until the test answers it on replies, so the test knows
// exactly which fetches have been applied: when request n+1 arrives, the
// answer to request n has been handled.
type tokenServer struct {
	*httptest.Server
	hits    chan struct{}
	replies chan reply
}

type reply struct {
	status int
	body   string
}

func newTokenServer(t *testing.T) *tokenServer {
	ts := &tokenServer{hits: make(chan struct{}), replies: make(chan reply)}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case ts.hits <- struct{}{}:
		case <-r.Context().Done():
			return
		}
		select {
		case rep := <-ts.replies:
			w.WriteHeader(rep.status)
			io.WriteString(w, rep.body)
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(ts.Close)
	return ts
}

// answer waits for the next request and answers it.
func (ts *tokenServer) answer(t *testing.T, status int, body string) {
	t.Helper()
	ts.awaitHit(t)
	ts.respond(t, status, body)
}

// respond answers the request that awaitHit saw.
func (ts *tokenServer) respond(t *testing.T, status int, body string) {
	t.Helper()
	select {
	case ts.replies <- reply{status, body}:
	case <-time.After(wait):
		t.Fatal("the fetch gave up before its answer")
	}
}

func (ts *tokenServer) awaitHit(t *testing.T) {
	t.Helper()
	select {
	case <-ts.hits:
	case <-time.After(wait):
		t.Fatal("no fetch of the registered-token URL")
	}
}

func (b *broker) tokenList(t *testing.T) string {
	t.Helper()
	status, body := b.post(t, form("method", "registeredTokenList"), nil)
	if status != 200 {
		t.Fatalf("registeredTokenList: %d %s", status, body)
	}
	return strings.TrimSpace(body)
}

func TestRegisteredTokensURL(t *testing.T) {
	ts := newTokenServer(t)
	b := newBroker(t, func(c *config.Tokens) {
		c.AllowUnregisteredClients = false
		c.RegisteredTokensURL = ts.URL + "/registeredtokens.php?secret=x"
		c.RegisteredTokensRefresh = config.Duration(time.Millisecond)
		c.RegisteredTokens = config.TokenList{"fromfile"}
	})
	// New returned while the first fetch is outstanding: start-up does not
	// wait for the URL.
	if got := b.tokenList(t); got != `{"fromfile":true}` {
		t.Fatalf("before the first fetch: %s", got)
	}
	steps := []struct {
		name   string
		status int
		body   string
		want   string // the list once the answer is applied
		log    string // a log line it causes
	}{
		{"success", 200, `{"abc1":true,"group\/item1":true,"off":false}`, `{"abc1":true,"fromfile":true,"group/item1":true,"off":false}`, "registered tokens: fetched"},
		{"server error keeps the list", 500, "oops", `{"abc1":true,"fromfile":true,"group/item1":true,"off":false}`, "HTTP status 500"},
		{"bad JSON keeps the list", 200, `{"abc1":`, `{"abc1":true,"fromfile":true,"group/item1":true,"off":false}`, "not a JSON object"},
		{"not an object keeps the list", 200, `"abc1"`, `{"abc1":true,"fromfile":true,"group/item1":true,"off":false}`, "not a JSON object"},
		{"refresh replaces the list", 200, `{"abc2":true}`, `{"abc2":true,"fromfile":true}`, "fetched again after a failure"},
		{"PHP empty array", 200, `[]`, `{"fromfile":true}`, ""},
	}
	ts.awaitHit(t)
	for _, s := range steps {
		ts.respond(t, s.status, s.body)
		ts.awaitHit(t) // the next fetch started: this answer was applied
		if got := b.tokenList(t); got != s.want {
			t.Fatalf("%s: list %s, want %s", s.name, got, s.want)
		}
		if !strings.Contains(b.logs.String(), s.log) {
			t.Fatalf("%s: no log %q in:\n%s", s.name, s.log, b.logs)
		}
	}
	if strings.Contains(b.logs.String(), "secret=x") {
		t.Error("the log shows the URL's query")
	}
}

func TestRegisteredTokensURLAdmits(t *testing.T) {
	ts := newTokenServer(t)
	b := newBroker(t, func(c *config.Tokens) {
		c.AllowUnregisteredClients = false
		c.RegisteredTokensURL = ts.URL
	})
	b.refused(t, "RegisterToken=abc1", nil, http.StatusForbidden, "unregistered token")
	ts.answer(t, 200, `{"abc1":true}`)
	waitFor(t, "the list to be applied", func() bool { return b.reg.registered("abc1") })
	b.dial(t, "abc1")
	// With no refresh interval the URL is fetched once: the API changes stay.
	if st, _ := b.post(t, form("method", "unregisterToken", "token", "abc1"), nil); st != 200 {
		t.Fatal(st)
	}
	b.refused(t, "RegisterToken=abc1", nil, http.StatusForbidden, "unregistered token")
}

func TestRegisteredTokensURLUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	b := newBroker(t, func(c *config.Tokens) { c.RegisteredTokensURL = url })
	waitFor(t, "the failure log", func() bool { return strings.Contains(b.logs.String(), "fetch failed") })
	b.dial(t, "abc1") // AllowUnregisteredClients: served all the same
}

func TestDecodeTokenList(t *testing.T) {
	tests := []struct {
		body string
		want int // tokens; -1 for an error
	}{
		{`{"abc1":true,"abc2":false}`, 2},
		{` {"group\/item1":true} `, 1},
		{`{}`, 0},
		{`[]`, 0},
		{` [ ] `, -1},
		{`["abc1"]`, -1},
		{`null`, -1},
		{``, -1},
		{`{"abc1":1}`, -1},
		{`{"abc1":"yes"}`, -1},
		{`<html>`, -1},
	}
	for _, tt := range tests {
		got, err := decodeTokenList([]byte(tt.body))
		if (err != nil) != (tt.want < 0) || (err == nil && len(got) != tt.want) {
			t.Errorf("decodeTokenList(%q) = %v, %v; want %d tokens", tt.body, got, err, tt.want)
		}
	}
}
