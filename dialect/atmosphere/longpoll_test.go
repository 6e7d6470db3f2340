package atmosphere

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/config"
)

// lpClient is a long-polling client of the subscription endpoint.
type lpClient struct {
	e    *env
	id   string
	tml  bool
	base string
}

// lpAnswer is one poll's answer.
type lpAnswer struct {
	code int
	body string
	hdr  http.Header
}

func (e *env) lpDo(method, query, body string) lpAnswer {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+"/event/subscription?"+query, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return lpAnswer{resp.StatusCode, string(b), resp.Header}
}

// lpConnect makes the handshake request of a new long-polling client.
func (e *env) lpConnect(tml bool) *lpClient {
	e.t.Helper()
	c := &lpClient{e: e, tml: tml, base: "X-Atmosphere-Framework=2.3.6-javascript&X-atmo-protocol=true&Content-Type=application%2Fjson"}
	if tml {
		c.base += "&X-Atmosphere-TrackMessageSize=true"
	}
	a := e.lpDo("GET", "X-Atmosphere-tracking-id=0&X-Atmosphere-Transport=long-polling&"+c.base, "")
	body := a.body
	if tml {
		msgs, _, err := unframe(body)
		if err != nil || len(msgs) != 1 {
			e.t.Fatalf("handshake %q", body)
		}
		body = msgs[0]
	}
	f := strings.Split(body, "|")
	if a.code != 200 || len(f) != 4 || len(f[0]) != 36 || f[1] != "30000" || f[2] != "X" {
		e.t.Fatalf("handshake answer %d %q", a.code, a.body)
	}
	if ct := a.hdr.Get("Content-Type"); ct != "text/plain; charset=utf-8" || a.hdr.Get("Cache-Control") != "no-cache, no-store, must-revalidate" || a.hdr.Get("Pragma") != "no-cache" || a.hdr.Get("Expires") != "0" {
		e.t.Errorf("headers %v", a.hdr)
	}
	c.id = f[0]
	return c
}

// poll makes one long-polling GET.
func (c *lpClient) poll() lpAnswer {
	return c.e.lpDo("GET", "X-Atmosphere-tracking-id="+c.id+"&X-Atmosphere-Transport=long-polling&"+c.base, "")
}

// startPoll makes a GET in the background and waits until the server holds
// it.
func (c *lpClient) startPoll() <-chan lpAnswer {
	c.e.t.Helper()
	ch := make(chan lpAnswer, 1)
	s := c.e.d.polls.lookup(c.id)
	var before *poll
	if s != nil {
		s.mu.Lock()
		before = s.waiter
		s.mu.Unlock()
	}
	go func() { ch <- c.poll() }()
	waitFor(c.e.t, "the poll to be held", func() bool {
		s := c.e.d.polls.lookup(c.id)
		if s == nil {
			return false
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.waiter != nil && s.waiter != before
	})
	return ch
}

func (c *lpClient) post(msg string) {
	c.e.t.Helper()
	a := c.e.lpDo("POST", "X-Atmosphere-tracking-id="+c.id+"&X-Atmosphere-Transport=polling&"+c.base, msg)
	if a.code != 200 || a.body != "" {
		c.e.t.Fatalf("POST answer %d %q", a.code, a.body)
	}
}

func wait(t *testing.T, ch <-chan lpAnswer) lpAnswer {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(5 * time.Second):
		t.Fatal("the poll was not answered")
		return lpAnswer{}
	}
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("%q is not a JSON object", s)
	}
	return m
}

func TestLongPolling(t *testing.T) {
	e := newEnv(t, nil)
	e.publish("state", stateBody(1, 1))
	hash := e.login("alice", alicePassword)
	c := e.lpConnect(false)

	// The answer to a POSTed action comes with the next poll; without
	// trackMessageLength, one message per answer.
	c.post("X") // a client heartbeat: no answer at all
	c.post(`{"action":"subscribe","hash":"` + hash + `","requests":[{"type":"state","trackers":[1,2]}]}`)
	if m := decode(t, c.poll().body); m["type"] != "response" {
		t.Fatalf("first poll %v", m)
	}
	if m := decode(t, c.poll().body); m["event"] != "state" {
		t.Fatalf("second poll %v", m)
	}
	// A held poll is answered by a publish.
	ch := c.startPoll()
	e.publish("state", stateBody(2, 5))
	a := wait(t, ch)
	if m := decode(t, a.body); get(m, "data", "source_id") != 1002.0 || a.hdr.Get("X-Atmosphere-tracking-id") != c.id {
		t.Fatalf("held poll %d %q %v", a.code, a.body, a.hdr)
	}
	// The poll timeout answers with the heartbeat.
	ch = c.startPoll()
	e.tick(29 * time.Second)
	select {
	case a := <-ch:
		t.Fatalf("answered early: %q", a.body)
	case <-time.After(100 * time.Millisecond):
	}
	e.tick(time.Second)
	if a := wait(t, ch); a.code != 200 || a.body != "X" {
		t.Fatalf("timeout answer %d %q", a.code, a.body)
	}
	// A second poll of the session ends the first with an empty answer.
	first := c.startPoll()
	second := c.startPoll()
	if a := wait(t, first); a.code != 200 || a.body != "" {
		t.Fatalf("superseded poll %d %q", a.code, a.body)
	}
	e.publish("state", stateBody(1, 3))
	if m := decode(t, wait(t, second).body); get(m, "data", "gps", "speed") != 3.0 {
		t.Fatalf("second poll %v", m)
	}
	// Errors too come through the poll, and keep the session.
	c.post(`{"action":"subscribe"}`)
	if m := decode(t, c.poll().body); apiCode(m) != int(CodeWrongHash) {
		t.Fatalf("error %v", m)
	}
	// The close notice ends the session and its subscriptions.
	if a := e.lpDo("GET", "X-Atmosphere-Transport=close&X-Atmosphere-tracking-id="+c.id, ""); a.code != 200 || a.body != "" {
		t.Fatalf("close notice %d %q", a.code, a.body)
	}
	if e.d.polls.lookup(c.id) != nil || e.hub.SubscriberCount(channelName(chState, 1)) != 0 {
		t.Fatal("the session survived its close notice")
	}
}

func TestLongPollingTrackSize(t *testing.T) {
	e := newEnv(t, nil)
	e.publish("state", `[`+stateBody(1, 1)+`,`+stateBody(2, 2)+`]`)
	c := e.lpConnect(true)
	c.post(`{"action":"subscribe","hash":"` + e.login("alice", alicePassword) + `","requests":[{"type":"state","trackers":[1,2]}]}`)
	// With trackMessageLength, everything queued shares one answer.
	msgs, rest, err := unframe(c.poll().body)
	if err != nil || rest != "" || len(msgs) != 3 {
		t.Fatalf("answer: %q %q %v", msgs, rest, err)
	}
	ch := c.startPoll()
	e.tick(30 * time.Second)
	if a := wait(t, ch); a.body != "1|X" {
		t.Fatalf("heartbeat %q", a.body)
	}
}

func TestLongPollingExpiry(t *testing.T) {
	e := newEnv(t, nil)
	c := e.lpConnect(false)
	c.post(`{"action":"subscribe","hash":"` + e.login("alice", alicePassword) + `","requests":[{"type":"state","trackers":[1]}]}`)
	if m := decode(t, c.poll().body); m["type"] != "response" {
		t.Fatalf("got %v", m)
	}
	e.tick(59 * time.Second)
	if e.d.polls.lookup(c.id) == nil {
		t.Fatal("expired early")
	}
	// A held poll keeps the session alive however long it lasts.
	ch := c.startPoll()
	e.tick(time.Minute)
	wait(t, ch)
	e.tick(59 * time.Second)
	if e.d.polls.lookup(c.id) == nil {
		t.Fatal("expired early")
	}
	e.tick(time.Second) // 2 x poll timeout without a poll
	if e.d.polls.lookup(c.id) != nil {
		t.Fatal("not expired")
	}
	if n := e.hub.SubscriberCount(channelName(chState, 1)); n != 0 {
		t.Errorf("%d subscribers left", n)
	}
	// A poll with the old id is told that the session is gone (410, which
	// makes atmosphere.js reconnect and fire onReopen), and starts a new,
	// empty session under that id for the reconnection.
	if a := c.poll(); a.code != 410 || a.hdr.Get("X-Atmosphere-error") == "" || a.hdr.Get("X-Atmosphere-tracking-id") != c.id {
		t.Fatalf("poll of an expired session: %d %q %v", a.code, a.body, a.hdr)
	}
	ch = c.startPoll()
	e.publish("state", stateBody(1, 1)) // not subscribed any more
	e.tick(30 * time.Second)
	if a := wait(t, ch); a.code != 200 || a.body != "X" {
		t.Fatalf("got %d %q", a.code, a.body)
	}
}

// TestLongPollingGoneSession: a session ended as a slow consumer answers
// its POSTs and next poll with 410; the reconnection polls a new session,
// where the client subscribes again.
func TestLongPollingGoneSession(t *testing.T) {
	e := newEnv(t, func(c *config.Atmosphere) { c.LongPolling.QueueSize = 2 })
	hash := e.login("alice", alicePassword)
	c := e.lpConnect(false)
	sub := `{"action":"subscribe","hash":"` + hash + `","requests":[{"type":"state","trackers":[1]}]}`
	c.post(sub)
	for i := range 3 {
		e.publish("state", stateBody(1, i))
	}
	a := c.e.lpDo("POST", "X-Atmosphere-tracking-id="+c.id+"&X-Atmosphere-Transport=polling&"+c.base, sub)
	if a.code != 410 || a.hdr.Get("X-Atmosphere-error") == "" {
		t.Fatalf("POST to an ended session: %d %q", a.code, a.body)
	}
	if a := c.poll(); a.code != 410 {
		t.Fatalf("poll of an ended session: %d %q", a.code, a.body)
	}
	if n := e.hub.SubscriberCount(channelName(chState, 1)); n != 0 {
		t.Errorf("%d subscribers left", n)
	}
	// The reconnection: held, then the client subscribes again.
	ch := c.startPoll()
	c.post(sub)
	if m := decode(t, wait(t, ch).body); m["type"] != "response" {
		t.Fatalf("after resubscribing %v", m)
	}
	if m := decode(t, c.poll().body); get(m, "data", "gps", "speed") != 2.0 {
		t.Fatalf("current state %v", m)
	}
}

// TestLongPollingBigSubscription: a state subscription to more trackers
// than queue_size gets its response and every current state, and the
// session lives on.
func TestLongPollingBigSubscription(t *testing.T) {
	ids := []int64{1, 2, 3, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22}
	for _, tml := range []bool{true, false} {
		e := newEnv(t, func(c *config.Atmosphere) { c.LongPolling.QueueSize = 4 })
		items := make([]string, len(ids))
		for i, id := range ids {
			items[i] = stateBody(int(id), i)
		}
		e.publish("state", "["+strings.Join(items, ",")+"]")
		c := e.lpConnect(tml)
		c.post(`{"action":"subscribe","hash":"` + e.login("alice", alicePassword) + `","requests":[{"type":"state","target":{"type":"all"}}]}`)
		var msgs []string
		for len(msgs) < 1+len(ids) {
			a := c.poll()
			if a.code != 200 {
				t.Fatalf("tml %v: poll %d %q after %d messages", tml, a.code, a.body, len(msgs))
			}
			if !tml {
				msgs = append(msgs, a.body)
				continue
			}
			got, rest, err := unframe(a.body)
			if err != nil || rest != "" {
				t.Fatalf("tml %v: answer %q", tml, a.body)
			}
			msgs = append(msgs, got...)
		}
		if m := decode(t, msgs[0]); m["type"] != "response" || len(get(m, "data", "state", "value").(map[string]any)) != len(ids) {
			t.Fatalf("tml %v: first message %v", tml, m)
		}
		seen := map[float64]bool{}
		for _, s := range msgs[1:] {
			m := decode(t, s)
			if m["event"] != "state" {
				t.Fatalf("tml %v: %v", tml, m)
			}
			seen[get(m, "data", "source_id").(float64)] = true
		}
		if len(seen) != len(ids) {
			t.Fatalf("tml %v: states of %d trackers, want %d", tml, len(seen), len(ids))
		}
		// The session lives on, and the bound applies again.
		ch := c.startPoll()
		e.publish("state", stateBody(1, 99))
		body := wait(t, ch).body
		if tml {
			got, rest, err := unframe(body)
			if err != nil || rest != "" || len(got) != 1 {
				t.Fatalf("live answer %q", body)
			}
			body = got[0]
		}
		if m := decode(t, body); m["event"] != "state" || get(m, "data", "gps", "speed") != 99.0 {
			t.Fatalf("tml %v: live event %v", tml, m)
		}
		if e.d.polls.lookup(c.id) == nil {
			t.Fatalf("tml %v: the session ended", tml)
		}
	}
}

func TestLongPollingSlowConsumer(t *testing.T) {
	e := newEnv(t, func(c *config.Atmosphere) { c.LongPolling.QueueSize = 3 })
	c := e.lpConnect(false)
	c.post(`{"action":"subscribe","hash":"` + e.login("alice", alicePassword) + `","requests":[{"type":"state","trackers":[1]}]}`)
	for i := range 5 {
		e.publish("state", stateBody(1, i))
	}
	e.tick(time.Second)
	if e.d.polls.lookup(c.id) != nil {
		t.Fatal("the slow session was not ended")
	}
	if n := e.hub.SubscriberCount(channelName(chState, 1)); n != 0 {
		t.Errorf("%d subscribers left", n)
	}
	if e.hub.Stats().SlowConsumers == 0 {
		t.Error("not counted as a slow consumer")
	}
}

func TestSubscriptionEndpointRefusals(t *testing.T) {
	e := newEnv(t, func(c *config.Atmosphere) { c.LongPolling.MaxSessions = 1 })
	for _, tt := range []struct {
		method, query string
		want          int
	}{
		{"GET", "X-Atmosphere-tracking-id=0&X-Atmosphere-Transport=streaming", 501},
		{"GET", "X-Atmosphere-tracking-id=0&X-Atmosphere-Transport=sse", 501},
		{"GET", "X-Atmosphere-tracking-id=0", 400},
		{"GET", "X-Atmosphere-tracking-id=0&X-Atmosphere-Transport=websocket", 400}, // no upgrade
		{"POST", "X-Atmosphere-tracking-id=0&X-Atmosphere-Transport=polling", 400},  // no session to answer through
		{"PUT", "X-Atmosphere-tracking-id=0&X-Atmosphere-Transport=long-polling", 405},
		{"GET", "X-Atmosphere-tracking-id=a%20b&X-Atmosphere-Transport=long-polling", 400},
	} {
		if a := e.lpDo(tt.method, tt.query, ""); a.code != tt.want {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.query, a.code, tt.want)
		}
	}
	e.lpConnect(false)
	if a := e.lpDo("GET", "X-Atmosphere-tracking-id=0&X-Atmosphere-Transport=long-polling&X-atmo-protocol=true", ""); a.code != 503 {
		t.Errorf("over max_sessions: %d", a.code)
	}
}

func TestCORS(t *testing.T) {
	e := newEnv(t, func(c *config.Atmosphere) { c.Origin = "https://monitor.example" })
	req, _ := http.NewRequest("OPTIONS", e.srv.URL+"/event/subscription", nil)
	req.Header.Set("Origin", "https://monitor.example")
	req.Header.Set("Access-Control-Request-Headers", "content-type,x-atmosphere-framework")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://monitor.example" ||
		resp.Header.Get("Access-Control-Allow-Credentials") != "true" || resp.Header.Get("Access-Control-Allow-Headers") == "" {
		t.Errorf("preflight %d %v", resp.StatusCode, resp.Header)
	}
	req.Header.Set("Origin", "https://evil.example")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("other origin: %d", resp.StatusCode)
	}
}

// TestLongPollingSessionLimits: sessions per client address are capped
// (made-up tracking ids count too), and a session that never subscribes
// expires after unsubscribed_expiry without a poll.
func TestLongPollingSessionLimits(t *testing.T) {
	e := newEnv(t, func(c *config.Atmosphere) { c.LongPolling.MaxSessionsPerAddress = 3 })
	a := e.lpConnect(false)
	b := e.lpConnect(false)
	// A made-up id is answered 410 and makes a session, counted too.
	made := e.lpDo("GET", "X-Atmosphere-tracking-id=made-up-1&X-Atmosphere-Transport=long-polling", "")
	if made.code != 410 {
		t.Fatalf("made-up id: %d", made.code)
	}
	for _, q := range []string{
		"X-Atmosphere-tracking-id=0&X-Atmosphere-Transport=long-polling&X-atmo-protocol=true",
		"X-Atmosphere-tracking-id=made-up-2&X-Atmosphere-Transport=long-polling",
	} {
		if r := e.lpDo("GET", q, ""); r.code != 429 || r.hdr.Get("Retry-After") == "" {
			t.Errorf("over the address limit (%s): %d %q", q, r.code, r.body)
		}
	}
	if n := e.d.polls.len(); n != 3 {
		t.Fatalf("%d sessions, want 3", n)
	}
	// Clients of a local reverse proxy count by the address it forwards.
	req, _ := http.NewRequest("GET", e.srv.URL+"/event/subscription?X-Atmosphere-tracking-id=0&X-Atmosphere-Transport=long-polling&X-atmo-protocol=true", nil)
	req.Header.Set("X-Forwarded-For", "198.51.100.7, 203.0.113.9")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("another forwarded address: %d", resp.StatusCode)
	}
	// a subscribes; b and the others never do.
	a.post(`{"action":"subscribe","hash":"` + e.login("alice", alicePassword) + `","requests":[{"type":"state","trackers":[1]}]}`)
	e.tick(9 * time.Second)
	if e.d.polls.lookup(b.id) == nil {
		t.Fatal("an unsubscribed session expired early")
	}
	e.tick(time.Second)
	if e.d.polls.lookup(b.id) != nil || e.d.polls.lookup("made-up-1") != nil {
		t.Fatal("unsubscribed sessions did not expire")
	}
	if e.d.polls.lookup(a.id) == nil || e.d.polls.len() != 1 {
		t.Fatalf("the subscribed session expired, or others are left: %d", e.d.polls.len())
	}
	// The places are free again.
	e.lpConnect(false)
	e.lpConnect(false)
}
