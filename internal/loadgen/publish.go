package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gobwas/ws"
)

// publisher sends one message to channel c and returns once the server
// accepted it (HTTP) or it was written (WebSocket). One goroutine uses a
// publisher at a time.
type publisher interface {
	publish(ctx context.Context, c int, msg []byte) error
	close()
}

// newPublisher returns publisher id for the run's protocol.
func (r *runner) newPublisher(ctx context.Context, id int) (publisher, error) {
	o := &r.o
	switch {
	case o.Protocol == ProtocolPusher:
		return newPusherREST(o, r.newHTTPConn(ctx)), nil
	case o.PublishVia == PublishWS:
		ctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
		defer cancel()
		c, err := r.pd.dial(ctx, o.publishWSURL("/ws?RegisterToken=bench-publisher-"+strconv.Itoa(id)))
		if err != nil {
			return nil, fmt.Errorf("publisher: %w", err)
		}
		p := &tokensWS{c: c}
		r.wg.Add(1)
		go p.drain(r)
		return p, nil
	default:
		return &tokensHTTP{hc: r.newHTTPConn(ctx)}, nil
	}
}

// httpTimeout bounds one publish request, from writing it to reading the
// whole response.
const httpTimeout = 30 * time.Second

// httpConn is one publisher's keep-alive HTTP/1.1 connection to the
// publish target. It writes each request itself and reads the answer with
// http.ReadResponse: net/http's client hands every request to two
// goroutines of its transport and back: about a quarter of the
// generator's CPU in a profile of the channels scenario.
type httpConn struct {
	ctx  context.Context // the run's: ending it fails the request in flight
	dial func(ctx context.Context) (net.Conn, error)
	host string

	nc   net.Conn
	br   *bufio.Reader
	stop func() bool // unregisters nc's context.AfterFunc
	req  []byte
}

// newHTTPConn returns a publisher's connection to the publish target, not
// yet dialed.
func (r *runner) newHTTPConn(ctx context.Context) *httpConn {
	nd := &net.Dialer{Timeout: r.o.ConnectTimeout}
	dst := r.pd.dst.String()
	return &httpConn{
		ctx:  ctx,
		dial: func(ctx context.Context) (net.Conn, error) { return nd.DialContext(ctx, "tcp", dst) },
		host: r.o.publishTarget(),
	}
}

// post sends POST target (a path and query) with body and fails on any
// status but 200. A failed connection is closed, and the next post dials
// again.
func (h *httpConn) post(target, contentType string, body []byte) error {
	if h.nc == nil {
		nc, err := h.dial(h.ctx)
		if err != nil {
			return err
		}
		h.nc, h.br = nc, bufio.NewReader(nc)
		h.stop = context.AfterFunc(h.ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	}
	h.req = append(h.req[:0], "POST "...)
	h.req = append(h.req, target...)
	h.req = append(h.req, " HTTP/1.1\r\nHost: "...)
	h.req = append(h.req, h.host...)
	h.req = append(h.req, "\r\nContent-Type: "...)
	h.req = append(h.req, contentType...)
	h.req = append(h.req, "\r\nContent-Length: "...)
	h.req = strconv.AppendInt(h.req, int64(len(body)), 10)
	h.req = append(h.req, "\r\n\r\n"...)
	h.req = append(h.req, body...)
	err := h.roundTrip(target)
	if err != nil {
		h.close()
	}
	return err
}

func (h *httpConn) roundTrip(target string) error {
	if err := h.nc.SetDeadline(time.Now().Add(httpTimeout)); err != nil {
		return err
	}
	// The run may have ended just before the deadline above replaced the
	// past one its end set.
	if err := h.ctx.Err(); err != nil {
		return err
	}
	if _, err := h.nc.Write(h.req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(h.br, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		path, _, _ := strings.Cut(target, "?")
		return fmt.Errorf("POST %s: %s %s", path, resp.Status, bytes.TrimSpace(b))
	}
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)); err != nil {
		return err
	}
	if resp.Close {
		h.close() // the server will not take another request on it
	}
	return nil
}

func (h *httpConn) close() {
	if h.nc != nil {
		h.stop()
		_ = h.nc.Close()
		h.nc, h.br = nil, nil
	}
}

// pusherREST publishes with POST /apps/{id}/events, signed as the Pusher
// server SDKs sign (auth_version 1.0).
type pusherREST struct {
	hc   *httpConn
	path string // /apps/{id}/events
	key  string
	mac  hash.Hash
	body []byte
	sb   []byte // string to sign
	sum  []byte
}

func newPusherREST(o *Options, hc *httpConn) *pusherREST {
	return &pusherREST{
		hc:   hc,
		path: "/apps/" + o.AppID + "/events",
		key:  o.AppKey,
		mac:  hmac.New(sha256.New, []byte(o.AppSecret)),
	}
}

func (p *pusherREST) publish(_ context.Context, c int, msg []byte) error {
	p.body = append(p.body[:0], `{"name":"bench","channel":"`...)
	p.body = append(p.body, pusherChannel(c)...)
	p.body = append(p.body, `","data":"`...)
	p.body = append(p.body, msg...) // ASCII letters, digits and ':' need no escaping
	p.body = append(p.body, `"}`...)
	query := p.signedQuery(time.Now().Unix(), p.body)
	return p.hc.post(p.path+"?"+query, "application/json", p.body)
}

// signedQuery returns the query string of a request with body at unix time
// ts: auth_key, auth_timestamp, auth_version and body_md5, sorted, then
// auth_signature, the hex HMAC-SHA256 of "POST\n{path}\n{query}" with the
// app secret.
func (p *pusherREST) signedQuery(ts int64, body []byte) string {
	md := md5.Sum(body)
	q := "auth_key=" + p.key + "&auth_timestamp=" + strconv.FormatInt(ts, 10) +
		"&auth_version=1.0&body_md5=" + hex.EncodeToString(md[:])
	p.sb = append(append(append(p.sb[:0], "POST\n"...), p.path...), '\n')
	p.sb = append(p.sb, q...)
	p.mac.Reset()
	p.mac.Write(p.sb)
	p.sum = p.mac.Sum(p.sum[:0])
	// The signature covers the values unescaped; the URL carries them escaped.
	return "auth_key=" + url.QueryEscape(p.key) + q[len("auth_key=")+len(p.key):] +
		"&auth_signature=" + hex.EncodeToString(p.sum)
}

func (p *pusherREST) close() { p.hc.close() }

// tokensHTTP publishes with the token broker's form API:
// POST / method=broadcast&message={group}|{msg}.
type tokensHTTP struct {
	hc   *httpConn
	body []byte
}

func (p *tokensHTTP) publish(_ context.Context, c int, msg []byte) error {
	p.body = append(p.body[:0], "method=broadcast&message="...)
	p.body = append(p.body, url.QueryEscape(tokenGroup(c))...)
	p.body = append(p.body, "%7C"...) // '|'
	p.body = append(p.body, msg...)
	return p.hc.post("/", "application/x-www-form-urlencoded", p.body)
}

func (p *tokensHTTP) close() { p.hc.close() }

// tokensWS publishes `{group}|{msg}` frames on a WebSocket of its own. A
// write returns when the kernel took the bytes: there is no back-pressure
// beyond the socket buffer, so use it with a rate.
type tokensWS struct {
	c   *conn
	buf []byte
}

func (p *tokensWS) publish(_ context.Context, c int, msg []byte) error {
	p.buf = append(append(append(p.buf[:0], tokenGroup(c)...), '|'), msg...)
	return p.c.writeFrame(ws.OpText, p.buf)
}

// drain reads what the server sends the publisher (pings, errors) until the
// connection closes.
func (p *tokensWS) drain(r *runner) {
	defer r.wg.Done()
	for {
		if _, _, err := p.c.readMessage(); err != nil {
			return
		}
	}
}

func (p *tokensWS) close() { p.c.close() }
