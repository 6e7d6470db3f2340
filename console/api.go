package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-rt/switchboard/hub"
)

// Limits of the API.
const (
	// maxChannels is the most channels one channel list answers with.
	maxChannels = 500
	// maxPublishBody bounds the body of POST api/publish.
	maxPublishBody = 64 << 10
	// watchBuffer is how many events a watch stream may fall behind by
	// before it ends; the page then says so and offers to watch again.
	watchBuffer = 256
	// keepAlive is how often a quiet stream sends a comment, so that
	// proxies and the browser see it alive.
	keepAlive = 15 * time.Second
	// writeTimeout bounds one write to a stream.
	writeTimeout = 10 * time.Second
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	setPageHeaders(w)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// stats serves GET api/stats: one reading, the same figures as the
// overview, without rates.
func (c *Console) stats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, c.read(r.Context()))
}

// spaceList returns the Pusher apps' spaces, then Options.Spaces.
func (c *Console) spaceList() []Space {
	var out []Space
	if c.opts.Apps != nil {
		for _, a := range c.opts.Apps.Apps() {
			label := "Pusher app " + a.ID
			if !a.Enabled {
				label += " (disabled)"
			}
			out = append(out, Space{ID: "pusher:" + a.ID, Label: label, Prefix: a.ChannelPrefix, App: a.ID, Presence: "presence-"})
		}
	}
	out = append(out, c.opts.Spaces...)
	if c.opts.Sessions != nil {
		out = append(out, Space{ID: SessionsSpace, Label: "Atmosphere: sessions and API keys (this node)", Kind: "sessions"})
	}
	return out
}

func (c *Console) space(id string) (Space, bool) {
	for _, s := range c.spaceList() {
		if s.ID == id {
			return s, true
		}
	}
	return Space{}, false
}

// spaces serves GET api/spaces: the channel groups, and the node picker's
// nodes.
func (c *Console) spaces(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"spaces": c.spaceList(), "node": c.opts.NodeID, "cluster": c.opts.Cluster != nil})
}

// channelEntry is one channel in a list.
type channelEntry struct {
	Name        string `json:"name"`
	Subscribers int    `json:"subscribers"`
	Presence    bool   `json:"presence,omitempty"`
}

// channels serves GET api/channels?space=ID&q=TEXT&node=all|local|NODE: the
// space's occupied channels whose names contain q, busiest first, at most
// maxChannels, with the total that matched.
func (c *Console) channels(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sp, ok := c.space(q.Get("space"))
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no channel space %q: GET api/spaces lists them", q.Get("space")))
		return
	}
	if sp.Kind == "sessions" {
		writeError(w, http.StatusBadRequest, "space "+sp.ID+" lists sessions, not channels: GET api/sessions")
		return
	}
	if c.opts.Hub == nil {
		writeJSON(w, http.StatusOK, map[string]any{"channels": []channelEntry{}, "total": 0})
		return
	}
	list, scope, note := c.channelList(r.Context(), sp.Prefix, q.Get("node"))
	search := strings.ToLower(q.Get("q"))
	out := []channelEntry{}
	for _, ch := range list {
		name := strings.TrimPrefix(ch.Name, sp.Prefix)
		if strings.HasPrefix(name, "#") || (search != "" && !strings.Contains(strings.ToLower(name), search)) {
			continue // '#': a dialect's internal channel
		}
		out = append(out, channelEntry{Name: name, Subscribers: ch.Subscribers, Presence: sp.Presence != "" && strings.HasPrefix(name, sp.Presence)})
	}
	slices.SortFunc(out, func(a, b channelEntry) int {
		if a.Subscribers != b.Subscribers {
			return b.Subscribers - a.Subscribers
		}
		return strings.Compare(a.Name, b.Name)
	})
	total := len(out)
	out = out[:min(total, maxChannels)]
	writeJSON(w, http.StatusOK, map[string]any{"channels": out, "total": total, "scope": scope, "note": note})
}

// channelList returns the channels starting with prefix on node: "all"
// (or "") for the cluster's counts, "local" or this node's id for this
// node's, another node's id for that node's. It falls back to this node's
// list, and says so in note, when the cluster's cannot be read.
func (c *Console) channelList(ctx context.Context, prefix, node string) (list []hub.ChannelInfo, scope, note string) {
	if c.opts.Cluster == nil || node == "local" || node == c.opts.NodeID {
		return c.opts.Hub.Channels(prefix), "local", ""
	}
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	var err error
	if node == "" || node == "all" {
		scope = "all"
		list, err = c.opts.Hub.ClusterChannels(ctx, prefix)
	} else {
		scope = node
		list, err = c.opts.Cluster.NodeChannels(ctx, node, prefix)
	}
	if err != nil {
		return c.opts.Hub.Channels(prefix), "local", "the cluster's counts are unavailable (" + err.Error() + "); showing this node's"
	}
	return list, scope, ""
}

// members serves GET api/members?space=ID&channel=NAME: a presence
// channel's members, on all nodes.
func (c *Console) members(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sp, ok := c.space(q.Get("space"))
	if !ok || sp.Presence == "" || !strings.HasPrefix(q.Get("channel"), sp.Presence) {
		writeError(w, http.StatusBadRequest, "members are listed for the presence channels of a Pusher app: give space=pusher:{app_id} and channel=presence-...")
		return
	}
	if c.opts.Hub == nil {
		writeJSON(w, http.StatusOK, map[string]any{"members": []any{}})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	ms, err := c.opts.Hub.Members(ctx, sp.Prefix+q.Get("channel"))
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "reading the members failed: "+err.Error())
		return
	}
	type member struct {
		ID   string          `json:"id"`
		Info json.RawMessage `json:"info,omitempty"`
	}
	out := make([]member, len(ms))
	for i, m := range ms {
		out[i] = member{m.UserID, m.Info}
	}
	writeJSON(w, http.StatusOK, map[string]any{"members": out})
}

// sessions serves GET api/sessions?q=TEXT: the Atmosphere sessions and
// API keys this node knows whose user contains q, most recently used
// first, at most maxChannels, with the total that matched.
func (c *Console) sessions(w http.ResponseWriter, r *http.Request) {
	if c.opts.Sessions == nil {
		writeError(w, http.StatusNotFound, "the Atmosphere endpoint is off: there are no sessions")
		return
	}
	search := strings.ToLower(r.URL.Query().Get("q"))
	out := []Session{}
	for _, s := range c.opts.Sessions.Sessions() {
		if search == "" || strings.Contains(strings.ToLower(s.User), search) {
			out = append(out, s)
		}
	}
	total := len(out)
	writeJSON(w, http.StatusOK, map[string]any{"sessions": out[:min(total, maxChannels)], "total": total})
}

// publishRequest is the body of POST api/publish.
type publishRequest struct {
	App     string `json:"app"`
	Channel string `json:"channel"`
	Event   string `json:"event"`
	Data    string `json:"data"`
}

// publish serves POST api/publish: the server publishes the event on the
// app's behalf, so the page never holds the app's secret. The body must be
// JSON: another site's form cannot send that without a CORS preflight,
// which the console does not answer.
func (c *Console) publish(w http.ResponseWriter, r *http.Request) {
	if c.opts.Apps == nil {
		writeError(w, http.StatusNotFound, "the Pusher dialect is off: there is nothing to publish to")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "send the event as JSON {app, channel, event, data} with Content-Type: application/json")
		return
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		writeError(w, http.StatusForbidden, "publishing is allowed from the console's own page only")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPublishBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "the event is larger than "+strconv.Itoa(maxPublishBody>>10)+" KiB")
		return
	}
	var req publishRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "the body is not JSON {app, channel, event, data}: "+err.Error())
		return
	}
	if err := c.opts.Apps.Trigger(req.App, req.Channel, req.Event, req.Data); err != nil {
		status := http.StatusInternalServerError
		if bad := (*BadEventError)(nil); errors.As(err, &bad) {
			status = http.StatusBadRequest
		}
		writeError(w, status, err.Error())
		return
	}
	c.log.Info("console: published an event", "app_id", req.App, "channel", req.Channel, "event", req.Event, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}
