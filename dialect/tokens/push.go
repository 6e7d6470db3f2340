package tokens

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-rt/switchboard/hub"
)

// HTTP push clients: endpoints registered with registerHttpClient get every
// message routed to their token as a form POST, message=<text>.
const (
	// PushTimeout bounds one POST to an HTTP client.
	PushTimeout = 5 * time.Second
	// PushFailures is how many failed POSTs in a row remove an HTTP client.
	PushFailures = 3
	// PushQueue bounds the messages waiting for one HTTP client; a message
	// that finds the queue full is dropped and counts as a failure.
	PushQueue = 256
)

// pushClients are this node's HTTP push clients. Each one is a hub
// subscriber like a connection; a client with messages waiting has one
// goroutine posting them in order, and none otherwise. Shutdown stops
// them all. Lock order: reg, then a pushClient's mu, then mu; hub calls
// may be made holding any of them, as the hub never calls Deliver while
// holding a lock of its own.
type pushClients struct {
	reg   sync.Mutex // serialises registrations; taken before any other lock
	mu    sync.Mutex // guards byURL; taken after a pushClient's mu
	byURL map[string]*pushClient
	http  *http.Client
}

// pushClient is one registered endpoint.
type pushClient struct {
	d        *Dialect
	endpoint string
	id       hub.SubscriberID

	mu       sync.Mutex // guards the fields below
	token    string
	queue    []string
	posting  bool // a goroutine is posting the queue
	failures int  // in a row
	removed  bool
}

// registerPush registers endpoint for token, or moves it to token.
func (d *Dialect) registerPush(token, endpoint string) error {
	p := &d.push
	p.reg.Lock()
	defer p.reg.Unlock()
	p.mu.Lock()
	c := p.byURL[endpoint]
	if c == nil {
		c = &pushClient{d: d, endpoint: endpoint, id: d.hub.NewID()}
	}
	p.mu.Unlock()

	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.token
	var oldChans []string
	if old != "" && !c.removed {
		oldChans = channelsOf(old)
	}
	newChans := channelsOf(token)
	if err := d.subscribe(c.id, c, newChans, oldChans); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	d.unsubscribe(c.id, oldChans, newChans)
	c.token, c.removed, c.failures = token, false, 0
	p.mu.Lock()
	p.byURL[endpoint] = c
	p.mu.Unlock()
	return nil
}

// pushList returns endpoint -> token.
func (d *Dialect) pushList() map[string]string {
	p := &d.push
	p.mu.Lock()
	list := make([]*pushClient, 0, len(p.byURL))
	for _, c := range p.byURL {
		list = append(list, c)
	}
	p.mu.Unlock()
	out := make(map[string]string, len(list))
	for _, c := range list {
		c.mu.Lock()
		if !c.removed {
			out[c.endpoint] = c.token
		}
		c.mu.Unlock()
	}
	return out
}

// Deliver queues a routed message for posting; see hub.Subscriber. It
// never blocks.
func (c *pushClient) Deliver(m *hub.Message) error {
	var text string
	if err := json.Unmarshal(m.Payload(), &text); err != nil {
		return nil // not a frame of this dialect
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removed || c.d.ctx.Err() != nil {
		return hub.ErrSubscriberGone
	}
	if len(c.queue) >= PushQueue {
		c.failedLocked("queue full: the endpoint is slower than the messages")
		return hub.ErrSlowSubscriber
	}
	c.queue = append(c.queue, text)
	if !c.posting && c.d.routines.Go(func(context.Context) { c.post() }) {
		c.posting = true
	}
	return nil
}

// post sends the queue, in order, until it is empty.
func (c *pushClient) post() {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 || c.removed || c.d.ctx.Err() != nil {
			c.queue, c.posting = nil, false
			c.mu.Unlock()
			return
		}
		text := c.queue[0]
		c.queue = c.queue[1:]
		c.mu.Unlock()

		err := c.send(text)
		c.mu.Lock()
		if err != nil && c.d.ctx.Err() == nil {
			c.failedLocked(err.Error())
		} else if err == nil {
			c.failures = 0
		}
		c.mu.Unlock()
	}
}

// send POSTs message=text to the endpoint and wants a 2xx answer.
func (c *pushClient) send(text string) error {
	ctx, cancel := context.WithTimeout(c.d.ctx, PushTimeout)
	defer cancel()
	body := url.Values{"message": {text}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.d.push.http.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("HTTP status %s, want 2xx", resp.Status)
	}
	return nil
}

// failedLocked counts a failure and removes the client after PushFailures
// in a row. c.mu is held.
func (c *pushClient) failedLocked(why string) {
	c.failures++
	log := c.d.log.With("endpoint", redactURL(c.endpoint), "err", why, "failures", c.failures)
	if c.failures < PushFailures || c.removed {
		log.Warn("HTTP client: delivery failed")
		return
	}
	log.Warn("HTTP client: removed after failed deliveries")
	c.removed, c.queue = true, nil
	// Unsubscribing takes hub locks, never while the hub holds any (Deliver
	// is called with none), so doing it here is safe.
	c.d.unsubscribe(c.id, channelsOf(c.token), nil)
	p := &c.d.push
	p.mu.Lock()
	if p.byURL[c.endpoint] == c {
		delete(p.byURL, c.endpoint)
	}
	p.mu.Unlock()
}

// pushEndpoint checks an endpoint given to registerHttpClient.
func pushEndpoint(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", badRequest("endpoint required: the http or https URL to POST messages to")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", badRequest("endpoint must be an http or https URL, such as https://app.example.com/push")
	}
	return s, nil
}
