package loadgen

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// fakeServer speaks just enough of the Pusher, token-broker and echo
// protocols for the generator, and misbehaves on purpose: it holds every
// message for delay before sending it, and drops the deliveries drop
// selects, counting them.
type fakeServer struct {
	t      *testing.T
	delay  time.Duration
	drop   func(sub int, pub, seq uint64) bool // sub: subscriber number, in order of subscription
	secret string

	// Set before the first connection. Subscriber slowSub (when slowDelay
	// > 0) takes slowDelay to write each message; a subscriber with more
	// than queueLimit messages queued (when > 0) is closed with 4100, as a
	// slow consumer.
	slowSub    int
	slowDelay  time.Duration
	queueLimit int
	// forward, when set, takes this server's accepted publishes to its own
	// subscribers instead, as a second node on a shared bus would: it
	// applies its own delay and drop.
	forward *fakeServer

	srv     *httptest.Server
	mu      sync.Mutex
	members map[string][]*fakeConn // Pusher channel or token → its connections
	nsubs   int
	wg      sync.WaitGroup

	maxQueued atomic.Int64 // most messages queued for one subscriber and not yet taken by its writer
	overrun   atomic.Int64 // subscribers closed as slow consumers
	dropped   atomic.Int64 // deliveries dropped on purpose
	pongs     atomic.Int64 // pusher:pong frames received
	published atomic.Int64 // publishes accepted
	requests  atomic.Int64 // publish requests received: REST calls, form posts, `recipients|text` frames
	badAuth   atomic.Int64 // REST calls refused for their signature
	wrongHost atomic.Int64 // requests whose Host header is not the address they came in on
}

type fakeConn struct {
	nc      net.Conn
	index   int
	out     chan fakeOut
	queued  atomic.Int64 // deliveries enqueued and not yet taken by the writer
	overrun atomic.Bool  // closed as a slow consumer: write the Close and stop
}

type fakeOut struct {
	due      time.Time
	frame    []byte
	delivery bool // a published message, not a protocol frame
}

func newFakeServer(t *testing.T, delay time.Duration, drop func(sub int, pub, seq uint64) bool) *fakeServer {
	f := &fakeServer{t: t, delay: delay, drop: drop, secret: "app-secret", members: map[string][]*fakeConn{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /app/{key}", f.pusherWS)
	mux.HandleFunc("POST /apps/{id}/events", f.pusherREST)
	mux.HandleFunc("GET /ws", f.tokensWS)
	mux.HandleFunc("POST /{$}", f.tokensHTTP)
	mux.HandleFunc("GET /echo", f.echoWS)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr); local == nil || r.Host != local.String() {
			f.wrongHost.Add(1)
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.close)
	return f
}

// target is the server's host:port.
func (f *fakeServer) target() string { return strings.TrimPrefix(f.srv.URL, "http://") }

func (f *fakeServer) close() {
	f.srv.CloseClientConnections()
	f.srv.Close()
	f.mu.Lock()
	for _, cs := range f.members {
		for _, c := range cs {
			_ = c.nc.Close()
		}
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// accept upgrades a request and starts the connection's delayed writer.
func (f *fakeServer) accept(w http.ResponseWriter, r *http.Request) *fakeConn {
	nc, _, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		f.t.Errorf("fake server: upgrade: %v", err)
		return nil
	}
	c := &fakeConn{nc: nc, index: -1, out: make(chan fakeOut, 1<<14)}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for m := range c.out {
			time.Sleep(time.Until(m.due)) // the delay under test, not synchronisation
			if m.delivery && f.slowDelay > 0 && c.index == f.slowSub {
				time.Sleep(f.slowDelay) // a slow subscriber, on purpose
			}
			if c.overrun.Load() {
				_ = ws.WriteFrame(nc, ws.NewCloseFrame(ws.NewCloseFrameBody(4100, "Over capacity")))
				_ = nc.Close()
				return
			}
			if m.delivery {
				// It leaves the queue as it is written: once written, the
				// client may count it (and publish the next) before this
				// goroutine runs again.
				c.queued.Add(-1)
			}
			if wsutil.WriteServerMessage(nc, ws.OpText, m.frame) != nil {
				return
			}
		}
	}()
	return c
}

// serve reads c's messages with handle until the connection ends.
func (f *fakeServer) serve(c *fakeConn, handle func([]byte)) {
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer f.leave(c)
		for {
			msg, op, err := wsutil.ReadClientData(c.nc)
			if err != nil {
				return
			}
			if op == ws.OpText {
				handle(msg)
			}
		}
	}()
}

// join registers c under name and numbers it, once.
func (f *fakeServer) join(name string, c *fakeConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.members[name] = append(f.members[name], c)
	if c.index < 0 {
		c.index = f.nsubs
		f.nsubs++
	}
}

// leave unregisters c and stops its writer; deliver, which holds the
// same lock, never sends to it afterwards.
func (f *fakeServer) leave(c *fakeConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for name, cs := range f.members {
		f.members[name] = slices.DeleteFunc(cs, func(x *fakeConn) bool { return x == c })
	}
	close(c.out)
}

// deliver accepts a publish and sends frame to every connection under a
// name matching match, here or on f.forward.
func (f *fakeServer) deliver(match func(name string) bool, data []byte, frame []byte) {
	pub, seq, _, ok := parseMessage(data)
	if !ok {
		f.t.Errorf("fake server: publish without a marker: %q", data)
		return
	}
	f.published.Add(1)
	if f.forward != nil {
		f.forward.fanOut(match, pub, seq, frame)
		return
	}
	f.fanOut(match, pub, seq, frame)
}

// fanOut sends frame to every connection under a name matching match,
// unless drop selects the delivery.
func (f *fakeServer) fanOut(match func(name string) bool, pub, seq uint64, frame []byte) {
	due := time.Now().Add(f.delay)
	f.mu.Lock()
	defer f.mu.Unlock()
	for name, cs := range f.members {
		if !match(name) {
			continue
		}
		for _, c := range cs {
			if f.drop != nil && f.drop(c.index, pub, seq) {
				f.dropped.Add(1)
				continue
			}
			if c.overrun.Load() {
				continue
			}
			q := c.queued.Add(1)
			for m := f.maxQueued.Load(); q > m && !f.maxQueued.CompareAndSwap(m, q); m = f.maxQueued.Load() {
			}
			if f.queueLimit > 0 && q > int64(f.queueLimit) {
				c.overrun.Store(true)
				f.overrun.Add(1)
				continue
			}
			c.out <- fakeOut{due: due, frame: frame, delivery: true}
		}
	}
}

func (f *fakeServer) pusherWS(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("protocol") != "7" {
		http.Error(w, "protocol 7 expected", http.StatusBadRequest)
		return
	}
	c := f.accept(w, r)
	if c == nil {
		return
	}
	c.out <- fakeOut{frame: []byte(`{"event":"pusher:connection_established","data":"{\"socket_id\":\"1.1\",\"activity_timeout\":120}"}`)}
	c.out <- fakeOut{frame: []byte(`{"event":"pusher:ping","data":{}}`)}
	f.serve(c, func(msg []byte) {
		var ev struct {
			Event string `json:"event"`
			Data  struct {
				Channel string `json:"channel"`
			} `json:"data"`
		}
		if err := json.Unmarshal(msg, &ev); err != nil {
			f.t.Errorf("fake server: client frame %q: %v", msg, err)
			return
		}
		switch ev.Event {
		case "pusher:pong":
			f.pongs.Add(1)
		case "pusher:subscribe":
			f.join(ev.Data.Channel, c)
			c.out <- fakeOut{frame: []byte(`{"event":"pusher_internal:subscription_succeeded","channel":` + jsonString(ev.Data.Channel) + `,"data":"{}"}`)}
		}
	})
}

// pusherREST checks the signature as a Pusher server must, then publishes.
func (f *fakeServer) pusherREST(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	body, _ := io.ReadAll(r.Body)
	q := r.URL.Query()
	var keys []string
	for k := range q {
		if k != "auth_signature" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+q.Get(k))
	}
	mac := hmac.New(sha256.New, []byte(f.secret))
	mac.Write([]byte("POST\n" + r.URL.Path + "\n" + strings.Join(parts, "&")))
	sum := md5.Sum(body)
	if q.Get("auth_key") != "app-key" || q.Get("auth_version") != "1.0" ||
		q.Get("body_md5") != hex.EncodeToString(sum[:]) ||
		!hmac.Equal([]byte(q.Get("auth_signature")), []byte(hex.EncodeToString(mac.Sum(nil)))) {
		f.badAuth.Add(1)
		http.Error(w, `{"error":"bad signature"}`, http.StatusUnauthorized)
		return
	}
	var ev struct{ Name, Channel, Data string }
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	frame := []byte(`{"event":` + jsonString(ev.Name) + `,"channel":` + jsonString(ev.Channel) + `,"data":` + jsonString(ev.Data) + `}`)
	f.deliver(func(name string) bool { return name == ev.Channel }, []byte(ev.Data), frame)
	_, _ = io.WriteString(w, "{}")
}

func (f *fakeServer) tokensWS(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("RegisterToken")
	c := f.accept(w, r)
	if c == nil {
		return
	}
	if !strings.HasPrefix(tok, "bench-publisher-") {
		f.join(tok, c)
	}
	f.serve(c, func(msg []byte) {
		if text, ok := strings.CutPrefix(string(msg), "Echo:"); ok {
			c.out <- fakeOut{frame: []byte(jsonString(text) + "\n")}
			return
		}
		f.requests.Add(1)
		f.route(string(msg))
	})
}

func (f *fakeServer) tokensHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if err := r.ParseForm(); err != nil || r.Form.Get("method") != "broadcast" {
		http.Error(w, `{"error":"unknown method"}`, http.StatusBadRequest)
		return
	}
	f.route(r.Form.Get("message"))
}

// route delivers "recipients|text" as the token broker does: exact tokens
// and "/"-terminated group prefixes; the frame is a JSON string and "\n".
func (f *fakeServer) route(message string) {
	recipients, text, ok := strings.Cut(message, "|")
	if !ok {
		f.t.Errorf("fake server: message without '|': %q", message)
		return
	}
	list := strings.Split(recipients, ",")
	match := func(tok string) bool {
		for _, e := range list {
			if e == tok || strings.HasSuffix(e, "/") && strings.HasPrefix(tok, e) {
				return true
			}
		}
		return false
	}
	f.deliver(match, []byte(text), []byte(jsonString(text)+"\n"))
}

func (f *fakeServer) echoWS(w http.ResponseWriter, r *http.Request) {
	c := f.accept(w, r)
	if c == nil {
		return
	}
	f.serve(c, func(msg []byte) {
		c.out <- fakeOut{due: time.Now().Add(f.delay), frame: append([]byte(nil), msg...)}
	})
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
