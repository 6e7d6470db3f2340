package atmosphere

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/internal/localreq"
	"github.com/switchboard-rt/switchboard/internal/secret"
)

// This file is the publisher API, for the platform's backend: it publishes
// tracker states, readings, IoT values and lifecycle events (through the
// hub, so that every node delivers them), and manages users and API keys.
// It needs the publisher API key, or, with none configured, a loopback
// client. docs/atmosphere.md shows every call with curl.

// Limits of the publisher API.
const (
	maxPublishBody = 8 << 20  // one call's body
	maxPublishData = 64 << 10 // one item's data
	maxPublishN    = 10_000   // items in one call
)

// publisherHandler returns the publisher API's handler, mounted at
// <prefix>/publisher/.
func (d *Dialect) publisherHandler() http.Handler {
	p := d.cfg.Prefix + strings.TrimSuffix(config.AtmospherePublisherPath, "/")
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+p+"/state", d.publishState)
	mux.HandleFunc("POST "+p+"/readings", d.publishReadings)
	mux.HandleFunc("POST "+p+"/iot", d.publishIoT)
	mux.HandleFunc("POST "+p+"/lifecycle", d.publishLifecycle)
	mux.HandleFunc("GET "+p+"/trackers/{id}", d.getTracker)
	mux.HandleFunc("GET "+p+"/users", d.listUsers)
	mux.HandleFunc("PUT "+p+"/users/{login}", d.putUser)
	mux.HandleFunc("DELETE "+p+"/users/{login}", d.deleteUser)
	mux.HandleFunc("POST "+p+"/api_keys", d.createAPIKey)
	mux.HandleFunc("DELETE "+p+"/api_keys/{sha256}", d.deleteAPIKey)
	mux.HandleFunc(p+"/", func(w http.ResponseWriter, _ *http.Request) {
		writeAPIError(w, apiErr(CodeNotFound, "no such publisher API call; see docs/atmosphere.md"))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e := d.authorizePublisher(r); e != nil {
			writeAPIError(w, e)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxPublishBody)
		mux.ServeHTTP(w, r)
	})
}

// authorizePublisher checks the publisher API key, or, without one, that
// the caller is local.
func (d *Dialect) authorizePublisher(r *http.Request) *Error {
	want := d.cfg.PublisherAPIKey
	if want == "" {
		if !localreq.Is(r) {
			return apiErr(CodeAccessDenied, "the publisher API answers loopback clients only; set atmosphere.publisher_api_key to let others call it")
		}
		return nil
	}
	got := r.Header.Get("X-Api-Key")
	if a := r.Header.Get("Authorization"); got == "" && len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		got = strings.TrimSpace(a[7:])
	}
	if got == "" {
		return apiErr(CodeAccessDenied, "send the publisher API key in the X-Api-Key header or as Authorization: Bearer <key>")
	}
	key, err := secret.Parse(want) // validated with the config
	if err != nil || !key.Match(got) {
		return apiErr(CodeAccessDenied, "wrong publisher API key")
	}
	return nil
}

// pubItem is one item of a publish call; which fields count depends on the
// call.
type pubItem struct {
	TrackerID json.RawMessage `json:"tracker_id"`
	Data      json.RawMessage `json:"data"`
	Event     string          `json:"event"`     // lifecycle
	SourceID  *int64          `json:"source_id"` // lifecycle
	MsgTime   string          `json:"msg_time"`  // IoT message
	SrvTime   string          `json:"srv_time"`  // IoT message
	Fields    json.RawMessage `json:"fields"`    // IoT message

	id int64
}

// readItems reads a publish call's body: one item or a list of them.
func readItems(r *http.Request) ([]pubItem, *Error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, apiErr(CodeTooLarge, fmt.Sprintf("the body is over %d bytes", maxPublishBody))
	}
	body = bytes.TrimSpace(body)
	var items []pubItem
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	switch {
	case len(body) > 0 && body[0] == '[':
		err = dec.Decode(&items)
	case len(body) > 0 && body[0] == '{':
		items = make([]pubItem, 1)
		err = dec.Decode(&items[0])
	default:
		err = fmt.Errorf("want a JSON object or a list of objects")
	}
	if err != nil {
		return nil, apiErr(CodeWrongFormat, err.Error())
	}
	if len(items) == 0 || len(items) > maxPublishN {
		return nil, apiErr(CodeInvalidParameters, fmt.Sprintf("give 1 to %d items", maxPublishN))
	}
	for i := range items {
		id, err := strconv.ParseInt(string(items[i].TrackerID), 10, 64)
		if err != nil {
			return nil, apiErr(CodeInvalidParameters, fmt.Sprintf("item %d: tracker_id must be an integer", i))
		}
		items[i].id = id
	}
	return items, nil
}

// objectData checks and compacts an item's data, which must be a JSON
// object.
func objectData(i int, raw json.RawMessage) ([]byte, *Error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, apiErr(CodeInvalidParameters, fmt.Sprintf("item %d: data must be a JSON object", i))
	}
	if len(raw) > maxPublishData {
		return nil, apiErr(CodeTooLarge, fmt.Sprintf("item %d: data is over %d bytes", i, maxPublishData))
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, apiErr(CodeInvalidParameters, fmt.Sprintf("item %d: data: %v", i, err))
	}
	return buf.Bytes(), nil
}

// publish sends an update to every node's store, then, if ch is not empty,
// the event to its channel. This node's store is updated at once, so that
// the next call sees it whatever the bus; the update coming back through
// the bus then changes nothing.
func (d *Dialect) publish(ctx context.Context, kind byte, id int64, storePayload []byte, ch string, payload []byte) error {
	d.store.apply(kind, id, storePayload)
	if err := d.hub.Publish(ctx, storeChannel, storeUpdate(kind, id, storePayload), hub.NoID); err != nil {
		return err
	}
	if ch == "" {
		return nil
	}
	return d.hub.Publish(ctx, ch, payload, hub.NoID)
}

// publishData publishes a data item (state, readings, IoT): to every
// node's store and, unless the tracker is blocked, to its channel.
func (d *Dialect) publishData(ctx context.Context, upd byte, kind chanKind, id int64, payload []byte) *Error {
	ch := channelName(kind, id)
	if d.store.blocked(id) {
		ch = ""
	}
	return d.published(d.publish(ctx, upd, id, payload, ch, payload))
}

// publishState serves POST publisher/state: {"tracker_id": 1, "data": {...}}
// or a list of them. A blocked tracker's state is kept but not sent.
func (d *Dialect) publishState(w http.ResponseWriter, r *http.Request) {
	d.publishObjects(w, r, updState, chState, func(_ int, data []byte, _ int64) ([]byte, *Error) {
		return stateEvent(userTime(d.now(), d.loc), data), nil
	})
}

// publishReadings serves POST publisher/readings: {"tracker_id": 1,
// "data": {"inputs": [...], "states": [...], ...}} or a list of them.
func (d *Dialect) publishReadings(w http.ResponseWriter, r *http.Request) {
	d.publishObjects(w, r, updReadings, chReadings, withTrackerID)
}

// publishObjects serves a publisher call whose items each carry a "data"
// object: encode makes item i's payload from its data and tracker id, and
// each payload is published as an upd update on the tracker's channel of
// kind k.
func (d *Dialect) publishObjects(w http.ResponseWriter, r *http.Request, upd byte, k chanKind,
	encode func(i int, data []byte, id int64) ([]byte, *Error)) {
	items, e := readItems(r)
	if e == nil {
		e = eachItem(items, func(i int, it *pubItem) ([]byte, *Error) {
			data, e := objectData(i, it.Data)
			if e != nil {
				return nil, e
			}
			return encode(i, data, it.id)
		}, func(_ int, it *pubItem, payload []byte) *Error {
			return d.publishData(r.Context(), upd, k, it.id, payload)
		})
	}
	d.answerPublish(w, len(items), e)
}

// withTrackerID sets "tracker_id" in a JSON object.
func withTrackerID(i int, data []byte, id int64) ([]byte, *Error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, apiErr(CodeInvalidParameters, fmt.Sprintf("item %d: data: %v", i, err))
	}
	m["tracker_id"] = json.RawMessage(strconv.FormatInt(id, 10))
	b, err := json.Marshal(m)
	if err != nil {
		return nil, apiErr(CodeInvalidParameters, fmt.Sprintf("item %d: data: %v", i, err))
	}
	return b, nil
}

// publishLifecycle serves POST publisher/lifecycle: {"tracker_id": 1,
// "event": "block"|"unblock"|"corrupt", "source_id": 2}. Unblocking sends
// the tracker's current state again; corrupt forgets the tracker. Blocks
// beyond max_last_states blocked trackers are refused (error 9).
func (d *Dialect) publishLifecycle(w http.ResponseWriter, r *http.Request) {
	items, e := readItems(r)
	if e == nil {
		newBlocks := map[int64]struct{}{} // trackers this call blocks that are not blocked yet
		e = eachItem(items, func(i int, it *pubItem) (struct{}, *Error) {
			switch it.Event {
			case "block":
				if !d.store.blocked(it.id) {
					newBlocks[it.id] = struct{}{}
				}
				if !d.store.canBlockMore(len(newBlocks)) {
					return struct{}{}, d.blockLimit(i)
				}
			case "unblock", "corrupt":
			default:
				return struct{}{}, apiErr(CodeInvalidParameters, fmt.Sprintf(`item %d: event must be "block", "unblock" or "corrupt"`, i))
			}
			return struct{}{}, nil
		}, func(i int, it *pubItem, _ struct{}) *Error {
			src := it.id
			if it.SourceID != nil {
				src = *it.SourceID
			} else if s, ok := d.store.sourceID(it.id); ok {
				src = s
			}
			ev := lifecycleEvent(src, it.Event)
			ch := channelName(chLifecycle, it.id)
			ctx := r.Context()
			switch it.Event {
			case "block":
				ok, added := d.store.reserveBlock(it.id)
				if !ok { // a concurrent call took the last places since the check
					return d.blockLimit(i)
				}
				err := d.publish(ctx, updBlock, it.id, nil, ch, ev)
				if err != nil && added {
					d.store.unreserveBlock(it.id)
				}
				return d.published(err)
			case "unblock":
				if err := d.publish(ctx, updUnblock, it.id, nil, ch, ev); err != nil {
					return d.published(err)
				}
				if td, ok := d.store.get(it.id); ok && td.state != nil {
					return d.published(d.hub.Publish(ctx, channelName(chState, it.id), td.state.src.Payload(), hub.NoID))
				}
				return nil
			default: // corrupt
				if err := d.hub.Publish(ctx, ch, ev, hub.NoID); err != nil {
					return d.published(err)
				}
				return d.published(d.publish(ctx, updCorrupt, it.id, nil, "", nil))
			}
		})
	}
	d.answerPublish(w, len(items), e)
}

// blockLimit is the error of item i, a block over max_last_states.
func (d *Dialect) blockLimit(i int) *Error {
	return apiErr(CodeTooLarge, fmt.Sprintf("item %d: at most %d trackers can be blocked at once (atmosphere.max_last_states)", i, d.cfg.MaxLastStates))
}

// eachItem checks every item with check first and, only if all pass,
// publishes each with what check made of it, stopping at the first error.
// A call with a bad item thus publishes nothing, and can be corrected and
// sent again without duplicates; only a failing hub (error 1) can stop a
// call partway.
func eachItem[T any](items []pubItem, check func(i int, it *pubItem) (T, *Error), pub func(i int, it *pubItem, v T) *Error) *Error {
	vals := make([]T, len(items))
	for i := range items {
		v, e := check(i, &items[i])
		if e != nil {
			return e
		}
		vals[i] = v
	}
	for i := range items {
		if e := pub(i, &items[i], vals[i]); e != nil {
			return e
		}
	}
	return nil
}

// published turns a hub error into an API error.
func (d *Dialect) published(err error) *Error {
	if err == nil {
		return nil
	}
	d.log.Error("publish failed", "err", err)
	return apiErr(CodeUnexpected, "publish failed")
}

func (d *Dialect) answerPublish(w http.ResponseWriter, n int, e *Error) {
	if e != nil {
		writeAPIError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Success bool `json:"success"`
		Count   int  `json:"count"`
	}{true, n})
}

// getTracker serves GET publisher/trackers/{id}: what the store keeps.
func (d *Dialect) getTracker(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeAPIError(w, apiErr(CodeInvalidParameters, "the tracker id must be an integer"))
		return
	}
	td, ok := d.store.get(id)
	if !ok {
		writeAPIError(w, apiErr(CodeNotFound, nil))
		return
	}
	raw := func(x *derived) json.RawMessage {
		if x == nil || len(x.data) == 0 {
			return nil
		}
		return x.data
	}
	writeJSON(w, http.StatusOK, struct {
		Success  bool            `json:"success"`
		Blocked  bool            `json:"blocked"`
		State    json.RawMessage `json:"state,omitempty"`
		Readings json.RawMessage `json:"readings,omitempty"`
		IoT      json.RawMessage `json:"iot,omitempty"`
	}{true, td.blocked, raw(td.state), raw(td.readings), raw(td.iot)})
}
