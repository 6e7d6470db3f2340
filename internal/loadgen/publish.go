package loadgen

import (
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

// newHTTPClient returns a keep-alive client for n sequential publishers
// that dials only the checked target.
func (r *runner) newHTTPClient(n int) *http.Client {
	nd := &net.Dialer{Timeout: r.o.ConnectTimeout}
	dst := r.d.dst.String()
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return nd.DialContext(ctx, "tcp", dst)
			},
			MaxIdleConns:        n,
			MaxIdleConnsPerHost: n,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
	}
}

// newPublisher returns publisher id for the run's protocol.
func (r *runner) newPublisher(ctx context.Context, id int, client *http.Client) (publisher, error) {
	o := &r.o
	switch {
	case o.Protocol == ProtocolPusher:
		return newPusherREST(o, client), nil
	case o.PublishVia == PublishWS:
		ctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
		defer cancel()
		c, err := r.d.dial(ctx, o.wsURL("/ws?RegisterToken=bench-publisher-"+strconv.Itoa(id)))
		if err != nil {
			return nil, fmt.Errorf("publisher: %w", err)
		}
		p := &tokensWS{c: c}
		r.wg.Add(1)
		go p.drain(r)
		return p, nil
	default:
		return &tokensHTTP{client: client, url: o.httpURL("/")}, nil
	}
}

// pusherREST publishes with POST /apps/{id}/events, signed as the Pusher
// server SDKs sign (auth_version 1.0).
type pusherREST struct {
	client *http.Client
	base   string // http://target
	path   string // /apps/{id}/events
	key    string
	mac    hash.Hash
	body   []byte
	sb     []byte // string to sign
	sum    []byte
}

func newPusherREST(o *Options, client *http.Client) *pusherREST {
	return &pusherREST{
		client: client,
		base:   o.httpURL(""),
		path:   "/apps/" + o.AppID + "/events",
		key:    o.AppKey,
		mac:    hmac.New(sha256.New, []byte(o.AppSecret)),
	}
}

func (p *pusherREST) publish(ctx context.Context, c int, msg []byte) error {
	p.body = append(p.body[:0], `{"name":"bench","channel":"`...)
	p.body = append(p.body, pusherChannel(c)...)
	p.body = append(p.body, `","data":"`...)
	p.body = append(p.body, msg...) // ASCII letters, digits and ':' need no escaping
	p.body = append(p.body, `"}`...)
	query := p.signedQuery(time.Now().Unix(), p.body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+p.path+"?"+query, bytes.NewReader(p.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return do(p.client, req)
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

func (p *pusherREST) close() {}

// tokensHTTP publishes with the token broker's form API:
// POST / method=broadcast&message={group}|{msg}.
type tokensHTTP struct {
	client *http.Client
	url    string
	body   []byte
}

func (p *tokensHTTP) publish(ctx context.Context, c int, msg []byte) error {
	p.body = append(p.body[:0], "method=broadcast&message="...)
	p.body = append(p.body, url.QueryEscape(tokenGroup(c))...)
	p.body = append(p.body, "%7C"...) // '|'
	p.body = append(p.body, msg...)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(p.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(p.client, req)
}

func (p *tokensHTTP) close() {}

// do sends req and fails on any status but 200.
func do(client *http.Client, req *http.Request) error {
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return fmt.Errorf("%s %s: %s %s", req.Method, req.URL.Path, resp.Status, bytes.TrimSpace(b))
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // so the connection is reused
	return err
}

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
