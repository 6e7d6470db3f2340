package tokens

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/switchboard-rt/switchboard/config"
)

func TestAPIMethods(t *testing.T) {
	b := newBroker(t, func(c *config.Tokens) { c.RegisteredTokens = config.TokenList{"abc1"} })
	p := b.dial(t, "abc1")
	tests := []struct {
		name   string
		form   url.Values
		status int
		body   string // exact body, or "error:" + a substring of the error
	}{
		{"broadcast", form("method", "broadcast", "message", "abc1|hi"), 200, `{"ok":true}`},
		{"broadcast, no recipient", form("method", "broadcast", "message", "|hi"), 400, "error:message names no recipient"},
		{"broadcast, only commas", form("method", "broadcast", "message", ",|x"), 400, "error:message names no recipient"},
		{"broadcast, only blanks", form("method", "broadcast", "message", " , ,|x"), 400, "error:message names no recipient"},
		{"broadcast without message", form("method", "broadcast"), 400, "error:message required"},
		{"broadcast with empty message", form("method", "broadcast", "message", ""), 400, "error:message required"},
		{"broadcast without bar", form("method", "broadcast", "message", "abc1 hi"), 400, "error:message must be recipients|text"},
		{"duplicates count once", form("method", "broadcast", "message", strings.Repeat("x,", MaxRecipients)+strings.Repeat("y,", MaxRecipients)+"|x"), 200, `{"ok":true}`},
		{"registerToken", form("method", "registerToken", "token", "abc2"), 200, `{"ok":true}`},
		{"registerToken from message", form("method", "registerToken", "message", "abc3"), 200, `{"ok":true}`},
		{"registerToken trims", form("method", "registerToken", "token", " abc4 "), 200, `{"ok":true}`},
		{"registerToken without token", form("method", "registerToken"), 400, "error:token required"},
		{"registerToken invalid", form("method", "registerToken", "token", "a|b"), 400, "error:token contains"},
		{"unregisterToken", form("method", "unregisterToken", "token", "abc1"), 200, `{"ok":true}`},
		{"unregisterToken unknown", form("method", "unregisterToken", "token", "never"), 200, `{"ok":true}`},
		{"unregisterToken without token", form("method", "unregisterToken", "token", " "), 400, "error:token required"},
		{"registeredTokenList", form("method", "registeredTokenList"), 200, `{"abc1":false,"abc2":true,"abc3":true,"abc4":true,"never":false}`},
		{"unknown method", form("method", "nope"), 400, `error:unknown method "nope"`},
		{"method is case-sensitive", form("method", "Broadcast", "message", "abc1|x"), 400, "error:unknown method"},
		{"no method", form("message", "abc1|x"), 400, "error:method required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := b.post(t, tt.form, nil)
			checkAnswer(t, status, body, tt.status, tt.body)
		})
	}
	p.t = t
	p.expect("hi") // only the first broadcast reached abc1
	p.sync()
}

// checkAnswer checks an API answer against a status and an exact JSON body,
// or "error:" and a substring of the error message.
func checkAnswer(t *testing.T, status int, body string, wantStatus int, want string) {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("HTTP %d %q, want %d", status, body, wantStatus)
	}
	if msg, isErr := strings.CutPrefix(want, "error:"); isErr {
		got := decode[map[string]string](t, body)
		if len(got) != 1 || !strings.Contains(got["error"], msg) {
			t.Fatalf("body %q, want an error containing %q", body, msg)
		}
		return
	}
	if body != want+"\n" {
		t.Fatalf("body %q, want %q", body, want)
	}
}

func TestAPITooManyRecipients(t *testing.T) {
	b := newBroker(t, nil)
	var list strings.Builder
	for i := range MaxRecipients + 1 {
		list.WriteString("t" + strings.Repeat("x", i) + ",")
	}
	status, body := b.post(t, form("method", "broadcast", "message", list.String()+"|x"), nil)
	checkAnswer(t, status, body, 400, "error:too many recipients")
}

func TestAPIGetClients(t *testing.T) {
	b := newBroker(t, nil)
	b.dial(t, "abc1")
	b.dial(t, "group/item1")
	b.dial(t, "")
	status, body := b.post(t, form("method", "get_clients", "message", "ignored"), nil)
	if status != 200 {
		t.Fatalf("HTTP %d %s", status, body)
	}
	got := decode[map[string]string](t, body)
	var tokens []string
	for addr, tok := range got {
		if !strings.HasPrefix(addr, "127.0.0.1:") {
			t.Errorf("address %q, want 127.0.0.1:port", addr)
		}
		tokens = append(tokens, tok)
	}
	slices.Sort(tokens)
	if strings.Join(tokens, ",") != "abc1,group/item1,unregistered" {
		t.Fatalf("get_clients = %s", body)
	}
}

func TestAPIRequestForms(t *testing.T) {
	b := newBroker(t, nil)
	p := b.dial(t, "abc1")
	req := func(method, target, contentType, body string) *http.Request {
		r, err := http.NewRequest(method, b.http.URL+target, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		return r
	}
	const js = "application/json"
	tests := []struct {
		name   string
		req    *http.Request
		status int
		body   string
	}{
		{"JSON body", req("POST", "/", js, `{"method":"broadcast","message":"abc1|json"}`), 200, `{"ok":true}`},
		{"JSON with charset", req("POST", "/", js+"; charset=utf-8", `{"method":"registerToken","token":"j"}`), 200, `{"ok":true}`},
		{"JSON and query", req("POST", "/?method=registerToken", js, `{"token":"k"}`), 200, `{"ok":true}`},
		{"bad JSON", req("POST", "/", js, `{"method":`), 400, "error:not a JSON object"},
		{"JSON array", req("POST", "/", js, `["broadcast"]`), 400, "error:not a JSON object"},
		{"JSON number field", req("POST", "/", js, `{"method":"registerToken","token":5}`), 400, `error:field "token" must be a string`},
		{"query string only", req("POST", "/?method=broadcast&message=abc1%7Cquery", "", ""), 200, `{"ok":true}`},
		{"GET with a method", req("GET", "/?method=registeredTokenList", "", ""), 200, `{"j":true,"k":true}`},
		{"bad form", req("POST", "/", "application/x-www-form-urlencoded", "method=%zz"), 400, "error:cannot read the request"},
		{"body too large", req("POST", "/", "application/x-www-form-urlencoded", "method=broadcast&message="+strings.Repeat("x", MaxAPIBody)), 413, "error:larger than 4 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := b.do(t, tt.req)
			checkAnswer(t, status, body, tt.status, tt.body)
		})
	}
	p.expect("json")
	p.expect("query")
	p.sync()
}

func TestAPIPageAndCORS(t *testing.T) {
	b := newBroker(t, nil)
	resp, err := b.http.Client().Get(b.http.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	r, _ := http.NewRequest(http.MethodOptions, b.http.URL+"/", nil)
	resp, err = b.http.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := resp.Header
	if resp.StatusCode != 200 || resp.ContentLength != 0 || h.Get("Access-Control-Allow-Origin") != "*" ||
		h.Get("Access-Control-Allow-Methods") != corsMethods || !strings.HasPrefix(h.Get("Access-Control-Allow-Headers"), "Accept, Content-Type") {
		t.Fatalf("OPTIONS /: %d %v", resp.StatusCode, h)
	}

	custom := newBroker(t, func(c *config.Tokens) { c.ResponseHeaders = "https://app.example" })
	none := newBroker(t, func(c *config.Tokens) { c.ResponseHeaders = "" })
	for want, br := range map[string]*broker{"https://app.example": custom, "": none} {
		resp, err := br.http.Client().PostForm(br.http.URL+"/", form("method", "registeredTokenList"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != want || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("Access-Control-Allow-Origin %q, want %q; Content-Type %q", got, want, resp.Header.Get("Content-Type"))
		}
	}
}

// TestAPIAccess calls the handler directly to fake remote addresses.
func TestAPIAccess(t *testing.T) {
	tests := []struct {
		name, key, remote, host string
		header                  http.Header
		body                    string
		status                  int
	}{
		{"loopback v4", "", "127.0.0.1:5000", "localhost:8000", nil, "", 200},
		{"loopback v6", "", "[::1]:5000", "[::1]:8000", nil, "", 200},
		{"loopback to 127.0.0.1", "", "127.0.0.1:5000", "127.0.0.1:8000", nil, "", 200},
		{"local web page", "", "127.0.0.1:5000", "localhost:8000", http.Header{"Origin": {"http://localhost:3000"}}, "", 200},
		{"remote", "", "203.0.113.5:5000", "localhost:8000", nil, "", 403},
		{"through a proxy", "", "127.0.0.1:5000", "localhost:8000", http.Header{"X-Forwarded-For": {"203.0.113.5"}}, "", 403},
		{"Forwarded", "", "127.0.0.1:5000", "localhost:8000", http.Header{"Forwarded": {"for=203.0.113.5"}}, "", 403},
		{"DNS rebinding", "", "127.0.0.1:5000", "evil.example:8000", nil, "", 403},
		{"cross-site form", "", "127.0.0.1:5000", "localhost:8000", http.Header{"Origin": {"https://evil.example"}}, "", 403},
		{"cross-site image", "", "127.0.0.1:5000", "localhost:8000", http.Header{"Referer": {"https://evil.example/page"}}, "", 403},
		{"cross-site, no referrer", "", "127.0.0.1:5000", "localhost:8000", http.Header{"Sec-Fetch-Site": {"cross-site"}}, "", 403},
		{"same-site page", "", "127.0.0.1:5000", "localhost:8000", http.Header{"Sec-Fetch-Site": {"same-site"}, "Referer": {"http://localhost:3000/"}}, "", 200},
		{"typed in the address bar", "", "127.0.0.1:5000", "localhost:8000", http.Header{"Sec-Fetch-Site": {"none"}}, "", 200},
		{"key missing", "s3cret", "127.0.0.1:5000", "localhost:8000", nil, "", 401},
		{"key wrong", "s3cret", "127.0.0.1:5000", "localhost:8000", http.Header{"X-Api-Key": {"nope"}}, "", 403},
		{"key prefix", "s3cret", "203.0.113.5:5000", "broker.example", http.Header{"X-Api-Key": {"s3cre"}}, "", 403},
		{"X-Api-Key", "s3cret", "203.0.113.5:5000", "broker.example", http.Header{"X-Api-Key": {"s3cret"}}, "", 200},
		{"Bearer", "s3cret", "203.0.113.5:5000", "broker.example", http.Header{"Authorization": {"Bearer s3cret"}}, "", 200},
		{"api_key field", "s3cret", "203.0.113.5:5000", "broker.example", nil, "&api_key=s3cret", 200},
		{"key field", "s3cret", "203.0.113.5:5000", "broker.example", nil, "&key=s3cret", 200},
		{"api_key field, wrong", "s3cret", "203.0.113.5:5000", "broker.example", nil, "&api_key=nope", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBroker(t, func(c *config.Tokens) { c.APIKey = tt.key })
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("method=registeredTokenList"+tt.body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.RemoteAddr, r.Host = tt.remote, tt.host
			for k, v := range tt.header {
				r.Header[k] = v
			}
			w := httptest.NewRecorder()
			b.serveAPI(w, r)
			if w.Code != tt.status {
				t.Fatalf("HTTP %d %s, want %d", w.Code, w.Body, tt.status)
			}
			if tt.status == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if strings.Contains(w.Body.String(), "s3cret") {
				t.Error("the answer shows the key")
			}
		})
	}
}

// TestAPIKeyNotInURL: a key in the query string is refused even when it is
// right, since URLs end up in access logs; the body and headers still work.
func TestAPIKeyNotInURL(t *testing.T) {
	b := newBroker(t, func(c *config.Tokens) { c.APIKey = "s3cret" })
	for _, tt := range []struct {
		name, query, ct, body string
		status                int
		msg                   string
	}{
		{"api_key in the URL", "?api_key=s3cret", "application/x-www-form-urlencoded", "method=registeredTokenList", 401, "not accepted in the URL"},
		{"key in the URL", "?key=s3cret", "application/x-www-form-urlencoded", "method=registeredTokenList", 401, "not accepted in the URL"},
		{"GET with the key in the URL", "?method=registeredTokenList&api_key=s3cret", "", "", 401, "not accepted in the URL"},
		{"JSON body with the key in the URL", "?api_key=s3cret", "application/json", `{"method":"registeredTokenList"}`, 401, "not accepted in the URL"},
		{"JSON body field", "", "application/json", `{"method":"registeredTokenList","api_key":"s3cret"}`, 200, ""},
		{"form body field, method in the URL", "?method=registeredTokenList", "application/x-www-form-urlencoded", "api_key=s3cret", 200, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			method := http.MethodPost
			if tt.body == "" {
				method = http.MethodGet
			}
			r := httptest.NewRequest(method, "/"+tt.query, strings.NewReader(tt.body))
			if tt.ct != "" {
				r.Header.Set("Content-Type", tt.ct)
			}
			r.RemoteAddr, r.Host = "203.0.113.5:5000", "broker.example"
			w := httptest.NewRecorder()
			b.serveAPI(w, r)
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.msg) {
				t.Fatalf("HTTP %d %s, want %d with %q", w.Code, w.Body, tt.status, tt.msg)
			}
			if tt.status == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if strings.Contains(w.Body.String(), "s3cret") {
				t.Error("the answer shows the key")
			}
		})
	}
}

func TestStartupLogSaysWhoMayCallTheAPI(t *testing.T) {
	open := newBroker(t, nil)
	keyed := newBroker(t, func(c *config.Tokens) { c.APIKey = "s3cret" })
	if l := open.logs.String(); !strings.Contains(l, "loopback clients only") || !strings.Contains(l, "level=WARN") ||
		!strings.Contains(l, "tokens.api_key") || !strings.Contains(l, "docs/token-broker.md#security") {
		t.Errorf("log without a key: %s", open.logs)
	}
	for _, line := range strings.Split(open.logs.String(), "\n") {
		if len(line) > 200 {
			t.Errorf("start-up log line of %d characters, want one short line with the detail in the docs: %s", len(line), line)
		}
	}
	if l := keyed.logs.String(); !strings.Contains(l, "requires the API key") || strings.Contains(l, "s3cret") {
		t.Errorf("log with a key: %s", l)
	}
}
