package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"
)

// sse writes Server-Sent Events. EventSource is what a page can open with
// the browser's stored Basic credentials (a WebSocket cannot send them).
type sse struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// startSSE answers the request as an event stream.
func startSSE(w http.ResponseWriter) (*sse, error) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	setPageHeaders(w)
	w.WriteHeader(http.StatusOK)
	s := &sse{w: w, rc: http.NewResponseController(w)}
	// A stream lasts as long as the page: the server's read timeout, if
	// any, must not end it (the request has no body left to read).
	_ = s.rc.SetReadDeadline(time.Time{})
	return s, s.flush()
}

// send writes one event named name with v as JSON data.
func (s *sse) send(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("console: encode %s: %w", name, err)
	}
	_ = s.rc.SetWriteDeadline(time.Now().Add(writeTimeout)) // a server WriteTimeout must not end the stream
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", name, b); err != nil {
		return err
	}
	return s.flush()
}

// ping writes a comment, which keeps a quiet stream alive.
func (s *sse) ping() error {
	_ = s.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := s.w.Write([]byte(": ping\n\n")); err != nil {
		return err
	}
	return s.flush()
}

func (s *sse) flush() error {
	if err := s.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

// hello is the first event of the overview stream.
type hello struct {
	IntervalMillis int64   `json:"interval_ms"`
	History        []Point `json:"history"`
	Stats          *Stats  `json:"stats,omitempty"`
}

// overviewStream serves GET api/stream: a "hello" event with the charts'
// history, then a "stats" event with every reading, about once a second,
// until the page goes away or the server shuts down. Readings are taken
// only while at least one such stream is open.
func (c *Console) overviewStream(w http.ResponseWriter, r *http.Request) {
	if !c.enterStream(w) {
		return
	}
	defer c.streams.Done()
	v, history, last := c.sampler.join()
	defer c.sampler.leave(v)
	s, err := startSSE(w)
	if err != nil {
		return
	}
	if err := s.send("hello", hello{c.opts.SampleInterval.Milliseconds(), history, last}); err != nil {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.ctx.Done():
			return
		case st := <-v.ch:
			if err := s.send("stats", st); err != nil {
				return
			}
		}
	}
}

// watch serves GET api/watch?app=ID&channel=NAME: the channel's events as
// "event" events, from the moment a "watching" event is sent until the
// page goes away. If the page cannot keep up, a "behind" event ends it.
func (c *Console) watch(w http.ResponseWriter, r *http.Request) {
	if c.opts.Apps == nil {
		writeError(w, http.StatusNotFound, "the Pusher dialect is off: there is nothing to watch")
		return
	}
	if !c.enterStream(w) {
		return
	}
	defer c.streams.Done()
	q := r.URL.Query()
	events := make(chan Event, watchBuffer)
	var behind atomic.Bool
	stop, err := c.opts.Apps.Watch(r.Context(), q.Get("app"), q.Get("channel"), func(e Event) bool {
		select {
		case events <- e:
			return true
		default:
			behind.Store(true)
			return false
		}
	})
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	defer stop()
	s, err := startSSE(w)
	if err != nil {
		return
	}
	if err := s.send("watching", map[string]string{"app": q.Get("app"), "channel": q.Get("channel")}); err != nil {
		return
	}
	t := time.NewTicker(keepAlive)
	defer t.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.ctx.Done():
			return
		case e := <-events:
			if err := s.send("event", e); err != nil {
				return
			}
			if behind.Load() && len(events) == 0 {
				_ = s.send("behind", map[string]string{"error": fmt.Sprintf("more than %d events arrived faster than this page read them; the watch stopped so as not to show a gap", watchBuffer)})
				return
			}
		case <-t.C:
			if err := s.ping(); err != nil {
				return
			}
		}
	}
}
