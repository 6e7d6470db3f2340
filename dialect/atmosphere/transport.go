package atmosphere

import (
	"net/http"
	"strings"

	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/ws"
)

// This file is the subscription endpoint (spec §1.5-§1.8): it sends each
// request to its transport, and holds the WebSocket transport.

// serveSubscription serves <prefix>/event/subscription[/]: WebSocket
// upgrades, long-polling GETs, POSTed messages and the close notice.
func (d *Dialect) serveSubscription(w http.ResponseWriter, r *http.Request) {
	if !d.cors(w, r) {
		return
	}
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	p := parseParams(r)
	if isUpgrade(r) {
		d.ws.ServeHTTP(w, r)
		return
	}
	switch {
	case p.transport == transportClose:
		d.closeNotice(w, p)
	case r.Method == http.MethodPost:
		d.polls.post(w, r, p)
	case r.Method != http.MethodGet:
		w.Header().Set("Allow", "GET, POST, OPTIONS")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	case p.transport == transportLongPolling:
		d.polls.get(w, r, p)
	case p.transport == transportStreaming || p.transport == transportSSE:
		// Not implemented (spec §1.7): 501 moves the client's fallback on.
		w.Header().Set("X-Atmosphere-error", "transport "+p.transport+" is not supported; use websocket or long-polling")
		http.Error(w, "transport not supported", http.StatusNotImplemented)
	default:
		http.Error(w, "X-Atmosphere-Transport must be websocket (with a WebSocket upgrade), long-polling, polling or close", http.StatusBadRequest)
	}
}

func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// closeNotice answers the client's disconnect notice (spec §1.8): the
// session of its tracking id and every subscription go.
func (d *Dialect) closeNotice(w http.ResponseWriter, p params) {
	if !p.newClient() {
		d.polls.end(p.trackingID)
		d.mu.Lock()
		c := d.byTracking[p.trackingID]
		d.mu.Unlock()
		if c != nil {
			c.dropAll()
		}
	}
	noCache(w.Header())
	w.WriteHeader(http.StatusOK)
}

// wsOutlet is the WebSocket transport of a client.
type wsOutlet struct{ conn *ws.Conn }

func (o wsOutlet) send(m *hub.Message) error { return o.conn.SendPrepared(m.Frame()) }

// sendBurst queues the burst as one entry of the connection's send queue,
// so a subscription to more trackers than the queue holds does not end the
// connection.
func (o wsOutlet) sendBurst(ms []*hub.Message) error {
	frames := make([]*ws.PreparedMessage, len(ms))
	for i, m := range ms {
		frames[i] = m.Frame()
	}
	return o.conn.SendPreparedBatch(frames)
}

func (o wsOutlet) close(code ws.StatusCode, reason string) { _ = o.conn.Close(code, reason) }

// accept sets up an upgraded WebSocket: the handshake frame first when the
// client asked for it, then actions in and events out.
func (d *Dialect) accept(conn *ws.Conn) {
	p := parseParams(conn.Request())
	c := d.newClient(wsOutlet{conn}, p)
	// The tracking id names the connection for the close notice: the one
	// the handshake gives, or the one a reconnecting client presents.
	var uuid string
	if !p.newClient() && validTrackingID(p.trackingID) {
		uuid = p.trackingID
	}
	if p.wantsHandshake() {
		uuid = newUUID()
		c.mu.Lock()
		_ = c.sendOwnLocked([]byte(handshakeFrame(uuid, d.cfg.ClientHeartbeat.Std())))
		c.mu.Unlock()
		c.idleLimit = 3 * d.cfg.ClientHeartbeat.Std()
	}
	if uuid != "" {
		d.mu.Lock()
		d.byTracking[uuid] = c
		d.mu.Unlock()
	}
	// The keep-alive compares with the dialect's clock as of its last tick
	// (sweepClock), not with the sweep's own time: the dialect stamps
	// activity with its clock, and a batch due at the same tick goes out
	// first, so that it counts as output.
	conn.OnTick(func(int64) { c.keepAlive(d.sweepClock()) })
	conn.OnMessage(func(t ws.MessageType, data []byte) {
		if t != ws.Text {
			c.mu.Lock()
			c.errorLocked("", apiErr(CodeWrongFormat, "binary messages are not supported"))
			c.mu.Unlock()
			return
		}
		c.handle(data)
	})
	conn.OnPong(func([]byte) { c.lastIn.Store(d.now().UnixNano()) })
	conn.OnClose(func(ws.StatusCode, string) {
		if uuid != "" {
			d.mu.Lock()
			if d.byTracking[uuid] == c {
				delete(d.byTracking, uuid)
			}
			d.mu.Unlock()
		}
		c.close()
	})
	d.log.Debug("websocket connected", "remote", conn.RemoteAddr().String(),
		"framework", p.framework, "handshake", p.wantsHandshake(), "track_size", p.trackSize)
}
