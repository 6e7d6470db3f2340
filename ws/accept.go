package ws

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/gobwas/ws"
)

// This file is the handshake: checking it, counting the connection in,
// and handing the accepted connection to OnConnection.

// ServeHTTP answers a WebSocket handshake: 101 and a new connection, or an
// HTTP error (400 bad handshake, 403 origin or Accept refused, 405 not GET,
// 426 wrong version, 429 over AddrLimit, 503 over MaxConnections or
// shutting down).
//
// The OnConnection callback runs after the handshake is validated and before
// the 101 response is written, so whatever it sets up (subscriptions, say)
// is in place by the time the client learns it is connected; frames it
// sends are written right behind the 101.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.start()
	if !s.checkOrigin(r) {
		http.Error(w, "websocket: origin not allowed", http.StatusForbidden)
		return
	}
	var addr netip.Addr
	if l := s.opts.AddrLimit; l != nil {
		a, ok := l.acquire(r)
		if !ok {
			s.metrics.refusedPerAddr.Add(1)
			w.Header().Set("Retry-After", "1")
			http.Error(w, "websocket: too many connections from this address", http.StatusTooManyRequests)
			return
		}
		addr = a
	}
	if !s.reserve() {
		s.opts.AddrLimit.release(addr)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "websocket: too many connections", http.StatusServiceUnavailable)
		return
	}
	up, c, ok := s.prepare(w, r)
	if !ok {
		s.opts.AddrLimit.release(addr)
		s.metrics.conns.Add(-1)
		return
	}
	if addr.IsValid() {
		// From here the connection's finish releases it.
		c.mu.Lock()
		c.extraLocked().limitedAddr = addr
		c.mu.Unlock()
	}
	s.metrics.accepted.Add(1)
	if s.onConn != nil {
		s.onConn(c)
	}
	// Only now is the connection visible to the sweeper, Clients and
	// Shutdown: its hooks are set. (Shutdown still waits for it: it is
	// counted since reserve.)
	s.mu.Lock()
	if !c.finished {
		s.conns[c] = struct{}{}
	}
	s.mu.Unlock()
	c.mu.Lock()
	if c.hs != nil {
		c.hs.req = nil
	}
	if s.opts.KeepRequest {
		c.extraLocked().req = handshakeRequest(r)
	}
	c.mu.Unlock()
	nc, brw, _, err := up.Upgrade(r, w)
	if err != nil {
		if nc != nil {
			_ = nc.Close()
		}
		s.reportError(fmt.Errorf("ws: handshake from %s: %w", r.RemoteAddr, err))
		c.terminate(StatusAbnormalClosure, "")
		return
	}
	var early []byte
	if n := brw.Reader.Buffered(); n > 0 {
		// The client sent frames right behind its handshake: they are
		// read before the poller takes over.
		early, _ = brw.Reader.Peek(n)
		early = append([]byte(nil), early...)
	}
	if s.shuttingDown() { // Shutdown began during the handshake
		_ = c.Close(s.opts.ShutdownCode, s.opts.ShutdownReason)
	}
	c.attach(nc, early)
}

// reserve counts a connection in, refusing it over MaxConnections or during
// shutdown.
func (s *Server) reserve() bool {
	// Under s.mu, so that Shutdown, which sets the flag under it, either
	// refuses this handshake or waits for it.
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		return false
	}
	n := s.metrics.conns.Add(1)
	if max := s.opts.MaxConnections; max > 0 && n > int64(max) {
		s.metrics.conns.Add(-1)
		return false
	}
	return true
}

// prepare checks a handshake and builds the upgrader and the connection for
// it. When the handshake is malformed, or refused by Accept, it answers with
// the error status itself and returns ok=false.
func (s *Server) prepare(w http.ResponseWriter, r *http.Request) (ws.HTTPUpgrader, *Conn, bool) {
	up := ws.HTTPUpgrader{Timeout: s.opts.WriteTimeout}
	if !wellFormed(r) {
		// gobwas/ws answers with the precise status (400, 405, 426).
		if nc, _, _, err := up.Upgrade(r, w); err == nil || nc != nil {
			_ = nc.Close()
		}
		return up, nil, false
	}
	var proto string
	if s.opts.Accept != nil {
		offered := offeredProtocols(r)
		var ok bool
		if proto, ok = s.opts.Accept(r, offered); !ok {
			http.Error(w, "websocket: connection refused", http.StatusForbidden)
			return up, nil, false
		}
		if proto != "" && !slices.Contains(offered, proto) {
			s.reportError(fmt.Errorf("ws: Accept selected sub-protocol %q, which the client did not offer (%q)", proto, offered))
			http.Error(w, "websocket: server selected an unoffered sub-protocol", http.StatusInternalServerError)
			return up, nil, false
		}
		if proto != "" {
			up.Protocol = func(p string) bool { return p == proto }
		}
	}
	compress := deflateOff
	if s.opts.Compression {
		answer, mode, err := negotiateDeflate(r)
		if err != nil {
			http.Error(w, "websocket: bad Sec-WebSocket-Extensions: "+err.Error(), http.StatusBadRequest)
			return up, nil, false
		}
		if compress = mode; compress.on() {
			up.Negotiate = deflateNegotiator(answer)
		}
	}
	c := &Conn{srv: s, compress: compress, hs: &handshake{req: r}}
	if proto != "" {
		c.extraLocked().subprotocol = proto // not shared yet: no lock needed
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		c.hs.remote = net.TCPAddrFromAddrPort(ap)
	}
	c.lastActivity.Store(s.clock.Load())
	return up, c, true
}

// wellFormed reports whether r is a handshake gobwas/ws will accept, so that
// a connection is only announced for handshakes that will succeed.
func wellFormed(r *http.Request) bool {
	key, err := base64.StdEncoding.DecodeString(r.Header.Get("Sec-WebSocket-Key"))
	return r.Method == http.MethodGet && r.ProtoAtLeast(1, 1) && r.Host != "" &&
		strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
		headerHasToken(r.Header.Values("Connection"), "upgrade") &&
		err == nil && len(key) == 16 &&
		r.Header.Get("Sec-WebSocket-Version") == "13"
}

func headerHasToken(values []string, token string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// handshakeRequest keeps what a connection may need of its handshake
// request, dropping its body and context.
func handshakeRequest(r *http.Request) *http.Request {
	return &http.Request{
		Method:     r.Method,
		URL:        r.URL,
		Proto:      r.Proto,
		ProtoMajor: r.ProtoMajor,
		ProtoMinor: r.ProtoMinor,
		Header:     r.Header,
		Host:       r.Host,
		RemoteAddr: r.RemoteAddr,
		RequestURI: r.RequestURI,
		TLS:        r.TLS,
	}
}

func offeredProtocols(r *http.Request) []string {
	var out []string
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func (s *Server) checkOrigin(r *http.Request) bool {
	if s.opts.CheckOrigin != nil {
		return s.opts.CheckOrigin(r)
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}
