package atmosphere

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/config"
)

func TestUserAuth(t *testing.T) {
	e := newEnv(t, func(c *config.Atmosphere) { c.Users[1].DealerID = 7 })
	form := url.Values{"login": {"alice"}, "password": {alicePassword}}.Encode()
	for _, tt := range []struct {
		name, method, path, ct, body string
		wantCode                     int // API error code, 0 for success
		wantHTTP                     int
	}{
		{"JSON", "POST", "/user/auth", "application/json", `{"login":"alice","password":"` + alicePassword + `"}`, 0, 200},
		{"form", "POST", "/user/auth", "application/x-www-form-urlencoded", form, 0, 200},
		{"query GET", "GET", "/user/auth?" + form, "", "", 0, 200},
		{"query POST", "POST", "/user/auth?" + form, "", "", 0, 200},
		{"wrong password", "POST", "/user/auth", "application/json", `{"login":"alice","password":"nope"}`, 102, 400},
		{"unknown login", "POST", "/user/auth", "application/json", `{"login":"carol","password":"x"}`, 102, 400},
		{"missing password", "POST", "/user/auth", "application/json", `{"login":"alice"}`, 7, 400},
		{"dealer", "POST", "/user/auth", "application/json", `{"login":"bob","password":"` + bobPassword + `","dealer_id":7}`, 0, 200},
		{"other dealer", "POST", "/user/auth", "application/json", `{"login":"bob","password":"` + bobPassword + `","dealer_id":8}`, 102, 400},
		{"bad dealer", "POST", "/user/auth", "application/json", `{"login":"bob","password":"` + bobPassword + `","dealer_id":"x"}`, 7, 400},
		{"not JSON", "POST", "/user/auth", "application/json", `{login`, 5, 400},
		{"PUT", "PUT", "/user/auth", "", "", 5, 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out := e.call(tt.method, tt.path, tt.ct, tt.body)
			if code != tt.wantHTTP || apiCode(out) != tt.wantCode {
				t.Fatalf("%d %v", code, out)
			}
			if tt.wantCode == 0 {
				if out["success"] != true || out["type"] != "authenticated" || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(out["hash"].(string)) {
					t.Errorf("answer %v", out)
				}
			} else if out["success"] != false || get(out, "status", "description") != Code(tt.wantCode).Description() {
				t.Errorf("answer %v", out)
			}
		})
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t, func(c *config.Atmosphere) { c.LoginAttempts = 3 })
	body := `{"login":"bob","password":"wrong"}`
	for range 3 {
		if _, out := e.call("POST", "/user/auth", "application/json", body); apiCode(out) != 102 {
			t.Fatalf("got %v", out)
		}
	}
	// The limit holds for the right password too, and for other logins
	// from the same address.
	for _, b := range []string{`{"login":"bob","password":"` + bobPassword + `"}`, `{"login":"alice","password":"` + alicePassword + `"}`} {
		if code, out := e.call("POST", "/user/auth", "application/json", b); code != 400 || apiCode(out) != 105 {
			t.Fatalf("got %d %v", code, out)
		}
	}
	// The window refills.
	e.tick(time.Minute)
	e.login("bob", bobPassword)
}

func TestMaxSessionsPerUser(t *testing.T) {
	e := newEnv(t, func(c *config.Atmosphere) { c.MaxSessionsPerUser = 2 })
	e.login("bob", bobPassword)
	h := e.login("bob", bobPassword)
	if _, out := e.call("POST", "/user/auth", "application/json", `{"login":"bob","password":"`+bobPassword+`"}`); apiCode(out) != 104 {
		t.Fatalf("third session: %v", out)
	}
	// Logging out frees a place.
	if code, out := e.call("POST", "/user/logout", "application/json", `{"hash":"`+h+`"}`); code != 200 || out["success"] != true {
		t.Fatalf("logout %d %v", code, out)
	}
	e.login("bob", bobPassword)
}

func TestLogoutEvent(t *testing.T) {
	e := newEnv(t, nil)
	e.publish("state", stateBody(1, 1))
	h1, h2 := e.login("alice", alicePassword), e.login("alice", alicePassword)
	c := e.dial("")
	c.subscribe(h1, `[{"type":"state","trackers":[1]}]`)
	_ = c.nextJSON()
	c.subscribe(h2, `[{"type":"state","trackers":[2]}]`)
	other := e.dial("")
	other.subscribe(h2, `[{"type":"state","trackers":[1]}]`)
	_ = other.nextJSON()

	if _, out := e.call("GET", "/user/logout?hash="+h1, "", ""); out["success"] != true {
		t.Fatalf("logout %v", out)
	}
	if ev := c.nextJSON(); ev["type"] != "event" || ev["event"] != "logout" || ev["data"] != "session closed" {
		t.Fatalf("got %v", ev)
	}
	// Subscriptions made with h1 are gone, the rest stays, and so does the
	// connection; other connections hear nothing.
	e.publish("state", stateBody(1, 2))
	e.publish("state", stateBody(2, 2))
	if ev := c.nextJSON(); get(ev, "data", "source_id") != 1002.0 {
		t.Fatalf("got %v", ev)
	}
	if ev := other.nextJSON(); get(ev, "data", "source_id") != 1001.0 {
		t.Fatalf("got %v", ev)
	}
	// The ended hash is refused, with code 4; a malformed one with 3.
	c.send(`{"action":"subscribe","hash":"` + h1 + `","requests":[{"type":"state","trackers":[1]}]}`)
	if m := c.nextJSON(); apiCode(m) != 4 {
		t.Fatalf("got %v", m)
	}
	if _, out := e.call("GET", "/user/logout?hash="+h1, "", ""); apiCode(out) != 4 {
		t.Fatalf("second logout %v", out)
	}
	if _, out := e.call("GET", "/user/logout?hash=zz", "", ""); apiCode(out) != 3 {
		t.Fatalf("bad hash %v", out)
	}
}

func TestSessionExpiry(t *testing.T) {
	e := newEnv(t, func(c *config.Atmosphere) { c.SessionTTL = config.Duration(time.Hour) })
	hash := e.login("bob", bobPassword)
	c := e.dial("")
	c.subscribe(hash, `[{"type":"state","trackers":[4]}]`)
	// Use renews the session.
	e.tick(50 * time.Minute)
	c.subscribe(hash, `[{"type":"state","trackers":[4]}]`)
	e.tick(50 * time.Minute)
	c.quiet()
	e.tick(10 * time.Minute) // an hour since the last use
	if ev := c.nextSkipX(); ev["event"] != "logout" {
		t.Fatalf("got %v", ev)
	}
	c.send(`{"action":"subscribe","hash":"` + hash + `","requests":[{"type":"state","trackers":[4]}]}`)
	if m := c.nextSkipX(); apiCode(m) != 4 {
		t.Fatalf("got %v", m)
	}
}

func TestAPIKeyNeverExpires(t *testing.T) {
	e := newEnv(t, func(c *config.Atmosphere) { c.SessionTTL = config.Duration(time.Hour) })
	c := e.dial("")
	c.subscribe(testKey, `[{"type":"state","trackers":[1]}]`)
	e.tick(48 * time.Hour)
	e.tick(time.Second)
	c.quiet()
	// Upper-case hex is the same key.
	c.send(`{"action":"subscribe","hash":"0123456789ABCDEF0123456789ABCDEF","requests":[{"type":"state","trackers":[2]}]}`)
	if r := c.nextSkipX(); r["type"] != "response" {
		t.Fatalf("got %v", r)
	}
	// A key cannot be logged out like a session.
	if _, out := e.call("GET", "/user/logout?hash="+testKey, "", ""); apiCode(out) != 4 {
		t.Fatalf("got %v", out)
	}
}

// authFrom calls user/auth as a client of a local reverse proxy that
// forwards for addr, and returns the status and the API error code.
func (e *env) authFrom(addr, login, password string) (int, int) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+"/user/auth", strings.NewReader(toJSON(map[string]string{"login": login, "password": password})))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", addr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, apiCode(out)
}

// TestLoginLimiterLockOut: one address trying 100,000 logins is stopped by
// its own bucket and makes no entry per login, so a right login from
// another address still succeeds; the table stays bounded, evicting rather
// than refusing once full.
func TestLoginLimiterLockOut(t *testing.T) {
	e := newEnv(t, nil)
	// Over HTTP: the attacker's address runs out after login_attempts.
	for i := range 50 {
		_, code := e.authFrom("198.51.100.66", "user"+strconv.Itoa(i), "x")
		if want := 102; i >= 10 {
			if code != 105 {
				t.Fatalf("attempt %d: code %d, want 105", i, code)
			}
		} else if code != want {
			t.Fatalf("attempt %d: code %d, want %d", i, code, want)
		}
	}
	// The rest of the 100,000, straight to the limiter.
	now := e.clock.now()
	for i := 50; i < 100_000; i++ {
		if e.d.auth.loginAllowed("198.51.100.66", "user"+strconv.Itoa(i), now) {
			t.Fatalf("attempt %d allowed", i)
		}
	}
	e.d.auth.mu.Lock()
	n := e.d.auth.limiter.len()
	e.d.auth.mu.Unlock()
	if n != 11 { // the address and the 10 logins it was allowed to try
		t.Fatalf("%d limiter entries, want 11", n)
	}
	if code, api := e.authFrom("203.0.113.20", "bob", bobPassword); code != 200 || api != 0 {
		t.Fatalf("login from a fresh address: %d %d", code, api)
	}
	// 100,000 distinct addresses fill the table; new ones still get in,
	// evicting the least recently used.
	for i := range maxLimiterEntries {
		e.d.auth.loginAllowed("10."+strconv.Itoa(i>>16)+"."+strconv.Itoa(i>>8&255)+"."+strconv.Itoa(i&255), "x", now)
	}
	if code, api := e.authFrom("203.0.113.21", "alice", alicePassword); code != 200 || api != 0 {
		t.Fatalf("login with a full table: %d %d", code, api)
	}
	e.d.auth.mu.Lock()
	n = e.d.auth.limiter.len()
	e.d.auth.mu.Unlock()
	if n != maxLimiterEntries {
		t.Fatalf("%d limiter entries, want %d", n, maxLimiterEntries)
	}
}

// TestLoginLength: logins over 256 bytes are refused before the limiter,
// which keys by a fixed-size hash whatever the login.
func TestLoginLength(t *testing.T) {
	e := newEnv(t, nil)
	if code, api := e.authFrom("203.0.113.30", strings.Repeat("l", maxLogin+1), "x"); code != 400 || api != int(CodeInvalidParameters) {
		t.Fatalf("long login: %d %d", code, api)
	}
	e.d.auth.mu.Lock()
	n := e.d.auth.limiter.len()
	e.d.auth.mu.Unlock()
	if n != 0 {
		t.Fatalf("a refused long login made %d limiter entries", n)
	}
	if _, api := e.authFrom("203.0.113.30", strings.Repeat("l", maxLogin), "x"); api != int(CodeWrongLogin) {
		t.Fatalf("a 256-byte login: code %d", api)
	}
	// A limiter key is a fixed-size array whatever the login's length (the
	// type bounds it); it must still tell logins apart, and kinds too.
	long := strings.Repeat("l", 60_000)
	if limiterKey('l', long) != limiterKey('l', strings.Clone(long)) {
		t.Fatal("one login gave two limiter keys")
	}
	if limiterKey('l', long) == limiterKey('l', long+"x") || limiterKey('l', long) == limiterKey('a', long) {
		t.Fatal("different logins or kinds share a limiter key")
	}
}
