package atmosphere

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/ws"
)

// This file applies subscribe and unsubscribe actions to a client (spec
// §2.3, §2.4) and routes hub deliveries to it.

// subState is a client's subscriptions.
type subState struct {
	types  [numEvTypes]*typeSub
	chans  map[chanKey]*chanSub // hub subscriptions, one per tracker and channel kind
	owners map[*session]int     // subscription entries made with each session
}

// typeSub is a client's subscription to one event type: its trackers and
// options, and for batched types what waits for the next batch.
type typeSub struct {
	typ      evType
	compact  bool
	rate     time.Duration
	filter   readingsFilter
	trackers map[int64]*session // tracker -> the session it was subscribed with

	pending  map[int64]*derived // batched types: changed since the last batch, latest wins
	lastSent time.Time          // when the last batch went out
	marked   bool               // the batcher knows this client has pending items
}

func (t *typeSub) has(id int64) bool {
	if t == nil {
		return false
	}
	_, ok := t.trackers[id]
	return ok
}

// item returns d as one item of t's batches.
func (t *typeSub) item(d *derived) []byte {
	switch t.typ {
	case evStateBatch:
		return d.stateData(t.compact)
	case evReadingsBatch:
		return d.readings(t.filter)
	}
	return d.data
}

// chanKey names one hub subscription of a client.
type chanKey struct {
	kind chanKind
	id   int64
}

// chanSub is a client's subscriber on one hub channel.
type chanSub struct {
	c   *client
	key chanKey
}

// subResult is the result of one event type in a response.
type subResult struct {
	Success bool                     `json:"success"`
	Value   map[string]trackerStatus `json:"value"`
}

// subResults is a response's results: one per event type, in the order
// the requests first name them.
type subResults struct {
	events []string
	data   map[string]*subResult
}

// of returns typ's result, added if it is new.
func (r *subResults) of(typ evType) *subResult {
	name := typ.String()
	res := r.data[name]
	if res == nil {
		res = &subResult{Success: true, Value: map[string]trackerStatus{}}
		r.data[name] = res
		r.events = append(r.events, name)
	}
	return res
}

// response is the response frame to an action.
type response struct {
	Type   string   `json:"type"`
	Action string   `json:"action"`
	Events []string `json:"events"`
	Data   any      `json:"data"`
}

// resolve returns the trackers a request names.
func (c *client) resolve(req *request, s *session) []int64 {
	if req.all {
		return c.d.auth.allTrackers(s)
	}
	return req.trackers
}

// subscribeLocked applies a subscribe action: response first, then the
// current data of every newly subscribed tracker that is not blocked.
func (c *client) subscribeLocked(a *action, s *session, now time.Time) {
	ids := make([][]int64, len(a.reqs))
	for i := range a.reqs {
		ids[i] = c.resolve(&a.reqs[i], s)
		if a.reqs[i].typ == evIoTMonitor && len(ids[i]) > maxIoTTrackers {
			c.errorLocked(a.name, apiErr(CodeInvalidParameters,
				"requests["+strconv.Itoa(i)+"]: iot_monitor takes at most 10 trackers; target all names "+strconv.Itoa(len(ids[i]))))
			return
		}
	}
	if !c.d.auth.register(s, c) {
		c.errorLocked(a.name, apiErr(CodeSessionNotFound, a.errData()))
		return
	}
	if c.subs == nil {
		c.subs = &subState{chans: map[chanKey]*chanSub{}, owners: map[*session]int{}}
	}
	results := subResults{data: map[string]*subResult{}}
	fresh := map[evType][]int64{} // per type: trackers whose current data to send
	var touched []int64
	for i := range a.reqs {
		req := &a.reqs[i]
		res := results.of(req.typ)
		t := c.subs.types[req.typ]
		if t == nil {
			t = &typeSub{typ: req.typ, trackers: map[int64]*session{}}
			c.subs.types[req.typ] = t
		}
		t.compact, t.rate = req.compact, req.rate
		t.filter = readingsFilter{req.sensorType, req.components}
		for _, id := range ids[i] {
			st := c.d.auth.status(s, id, c.d.store.blocked)
			res.Value[strconv.FormatInt(id, 10)] = st
			if st != statusNormal && st != statusBlocked {
				continue
			}
			c.setOwnerLocked(t, id, s)
			touched = append(touched, id)
			if st == statusNormal {
				fresh[req.typ] = append(fresh[req.typ], id)
			}
		}
	}
	c.pruneOwnerLocked(s)
	if err := c.syncChannelsLocked(touched); err != nil {
		c.d.log.Warn("hub subscribe failed", "err", err)
		c.dropLocked(func(owner *session, id int64) bool { return slices.Contains(touched, id) && owner == s })
		c.errorLocked(a.name, apiErr(CodeUnexpected, nil))
		return
	}
	c.subscribed.Store(true)
	c.respondLocked(a.name, results.events, results.data)
	for typ := range numEvTypes {
		if list := fresh[typ]; len(list) > 0 {
			c.sendCurrentLocked(c.subs.types[typ], list, now)
		}
	}
}

// setOwnerLocked records that t's tracker id is subscribed with s.
func (c *client) setOwnerLocked(t *typeSub, id int64, s *session) {
	old, had := t.trackers[id]
	t.trackers[id] = s
	c.subs.owners[s]++
	if had {
		c.subs.owners[old]--
		if old != s {
			c.pruneOwnerLocked(old)
		}
	}
}

// pruneOwnerLocked forgets s when no subscription of c uses it any more.
func (c *client) pruneOwnerLocked(s *session) {
	if c.subs.owners[s] <= 0 {
		delete(c.subs.owners, s)
		c.d.auth.unregister(s, c)
	}
}

func (c *client) respondLocked(action string, events []string, data any) {
	b, err := json.Marshal(response{"response", "subscription/" + action, events, data})
	if err != nil {
		c.errorLocked(action, apiErr(CodeUnexpected, nil))
		return
	}
	_ = c.sendOwnLocked(b)
}

// sendCurrentLocked sends the current data of ids for t: one state event
// each, sent as one burst, or one batch.
func (c *client) sendCurrentLocked(t *typeSub, ids []int64, now time.Time) {
	var items [][]byte
	var states []*hub.Message
	for _, id := range ids {
		td, ok := c.d.store.get(id)
		if !ok {
			continue
		}
		switch src := td.of(t.typ); {
		case src == nil:
		case t.typ == evState:
			states = append(states, src.message(t.compact, c.trackSize))
		default:
			items = append(items, t.item(src))
		}
		delete(t.pending, id) // just sent its latest
	}
	if len(states) > 0 {
		c.lastOut.Store(c.d.now().UnixNano())
		_ = c.out.sendBurst(states)
	}
	if t.typ.batched() {
		t.lastSent = now
		if len(items) > 0 {
			_ = c.sendOwnLocked(batchEvent(t.typ, userTime(now, c.d.loc), items))
		}
	}
}

// unsubscribeLocked applies an unsubscribe action. Unsubscribing what is
// not subscribed is not an error.
func (c *client) unsubscribeLocked(a *action, s *session) {
	results := subResults{data: map[string]*subResult{}}
	var removed []int64
	for i := range a.reqs {
		req := &a.reqs[i]
		res := results.of(req.typ)
		var t *typeSub
		if c.subs != nil {
			t = c.subs.types[req.typ]
		}
		if t == nil {
			continue
		}
		ids := req.trackers
		if req.all {
			ids = make([]int64, 0, len(t.trackers))
			for id := range t.trackers {
				ids = append(ids, id)
			}
		}
		for _, id := range ids {
			if owner, ok := t.trackers[id]; ok {
				delete(t.trackers, id)
				delete(t.pending, id)
				c.subs.owners[owner]--
				c.pruneOwnerLocked(owner)
				removed = append(removed, id)
				res.Value[strconv.FormatInt(id, 10)] = statusNormal
			}
		}
		if len(t.trackers) == 0 {
			c.subs.types[req.typ] = nil
		}
	}
	if c.subs != nil {
		_ = c.syncChannelsLocked(removed) // unsubscribing cannot fail
	}
	if a.legacy {
		c.respondLocked(a.name, a.legacyData.Events, nonNil(a.legacyData.Trackers))
		return
	}
	c.respondLocked(a.name, results.events, results.data)
}

// dropLocked removes every subscription entry for which drop is true.
func (c *client) dropLocked(drop func(owner *session, id int64) bool) {
	var removed []int64
	for typ, t := range c.subs.types {
		if t == nil {
			continue
		}
		for id, owner := range t.trackers {
			if drop(owner, id) {
				delete(t.trackers, id)
				delete(t.pending, id)
				c.subs.owners[owner]--
				c.pruneOwnerLocked(owner)
				removed = append(removed, id)
			}
		}
		if len(t.trackers) == 0 {
			c.subs.types[typ] = nil
		}
	}
	_ = c.syncChannelsLocked(removed)
}

// needs reports whether c's subscriptions need the channel key.
func (c *client) needs(key chanKey) bool {
	ty := &c.subs.types
	switch key.kind {
	case chState:
		return ty[evState].has(key.id) || ty[evStateBatch].has(key.id)
	case chReadings:
		return ty[evReadingsBatch].has(key.id)
	case chIoT:
		return ty[evIoTMonitor].has(key.id)
	}
	return ty[evState].has(key.id) || ty[evStateBatch].has(key.id) || ty[evReadingsBatch].has(key.id)
}

// syncChannelsLocked brings c's hub subscriptions for ids in line with its
// subscription entries: lifecycle and logout come automatically with the
// others (spec §2.3). It returns the first hub error.
func (c *client) syncChannelsLocked(ids []int64) error {
	var first error
	for _, id := range ids {
		for k := range chanKind(len(chanPrefixes)) {
			key := chanKey{k, id}
			need, have := c.needs(key), c.subs.chans[key] != nil
			switch {
			case need && !have:
				sub := &chanSub{c: c, key: key}
				if err := c.subscribeHub(channelName(k, id), sub); err != nil {
					if first == nil {
						first = err
					}
					continue
				}
				c.subs.chans[key] = sub
			case !need && have:
				delete(c.subs.chans, key)
				c.d.hub.Unsubscribe(channelName(k, id), c.id)
			}
		}
	}
	return first
}

// Deliver routes a message published on s's channel to the client: sent at
// once (state, lifecycle) or kept for the next batch. It makes chanSub a
// hub.Subscriber.
func (s *chanSub) Deliver(m *hub.Message) error {
	c := s.c
	d := derivedOf(s.key.kind, m)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.subs == nil || c.subs.chans[s.key] != s {
		return ws.ErrClosed // unsubscribed meanwhile
	}
	ty := &c.subs.types
	id := s.key.id
	switch s.key.kind {
	case chState:
		var err error
		if t := ty[evState]; t.has(id) {
			err = c.sendLocked(d.message(t.compact, c.trackSize))
		}
		if t := ty[evStateBatch]; t.has(id) {
			c.queueLocked(t, id, d)
		}
		return err
	case chReadings:
		if t := ty[evReadingsBatch]; t.has(id) {
			c.queueLocked(t, id, d)
		}
	case chIoT:
		if t := ty[evIoTMonitor]; t.has(id) {
			c.queueLocked(t, id, d)
		}
	case chLifecycle:
		return c.sendLocked(d.message(false, c.trackSize))
	}
	return nil
}

// queueLocked keeps d as tracker id's latest item for t's next batch.
func (c *client) queueLocked(t *typeSub, id int64, d *derived) {
	if t.pending == nil {
		t.pending = map[int64]*derived{}
	}
	t.pending[id] = d
	if !t.marked {
		t.marked = true
		c.d.batches.mark(c)
	}
}
