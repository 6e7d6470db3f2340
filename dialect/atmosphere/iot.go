package atmosphere

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// This file keeps IoT values for iot_monitor (spec §2.5): per tracker and
// attribute, the last iotDepth values newest first, in two queues: only
// the messages where the attribute was not null, and every message, with
// null where it was missing.

// iotDepth is how many messages each attribute queue keeps.
const iotDepth = 12

// maxIoTFields bounds the attributes kept per tracker.
const maxIoTFields = 256

// iotTimeLayout is the layout of msg_time and srv_time.
const iotTimeLayout = "2006-01-02T15:04:05Z"

// iotValue is one attribute value of one message.
type iotValue struct {
	MsgTime string          `json:"msg_time"`
	SrvTime string          `json:"srv_time"`
	Value   json.RawMessage `json:"value"`
}

// iotEntry is one tracker's item of iot_last_values.
type iotEntry struct {
	TrackerID int64                 `json:"tracker_id"`
	NonNull   map[string][]iotValue `json:"nonnull_fields"`
	All       map[string][]iotValue `json:"all_fields"`
}

// addMessage records one message's attributes in e.
func (e *iotEntry) addMessage(msgTime, srvTime string, fields map[string]json.RawMessage) {
	null := json.RawMessage("null")
	for name := range e.All {
		if _, ok := fields[name]; !ok {
			e.All[name] = pushValue(e.All[name], iotValue{msgTime, srvTime, null})
		}
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		v := fields[name]
		if _, known := e.All[name]; !known && len(e.All) >= maxIoTFields {
			continue
		}
		nullValue := isNull(v)
		if nullValue {
			v = null
		}
		e.All[name] = pushValue(e.All[name], iotValue{msgTime, srvTime, v})
		if !nullValue {
			e.NonNull[name] = pushValue(e.NonNull[name], iotValue{msgTime, srvTime, v})
		}
	}
}

// pushValue inserts v in q, kept newest first by msg_time, at most
// iotDepth long.
func pushValue(q []iotValue, v iotValue) []iotValue {
	i := 0
	for i < len(q) && q[i].MsgTime > v.MsgTime {
		i++
	}
	q = slices.Insert(q, i, v)
	if len(q) > iotDepth {
		q = q[:iotDepth]
	}
	return q
}

// maxIoTEntry bounds one tracker's IoT values as published; the oldest
// values are dropped to keep under it.
const maxIoTEntry = 4 * maxPublishData

// publishIoT serves POST publisher/iot. Either one message of a tracker,
// {"tracker_id": 1, "msg_time": "...", "srv_time": "...", "fields":
// {"speed": 43, ...}}, added to the queues kept here, or the whole entry,
// {"tracker_id": 1, "data": {"nonnull_fields": {...}, "all_fields": {...}}},
// kept as it is. A list of either is accepted.
func (d *Dialect) publishIoT(w http.ResponseWriter, r *http.Request) {
	items, e := readItems(r)
	if e == nil {
		e = eachItem(items, d.checkIoT, func(_ int, it *pubItem, payload []byte) *Error {
			// Held until the store has the new entry, so that two messages
			// of a tracker do not both start from the same old one.
			d.iotMu.Lock()
			defer d.iotMu.Unlock()
			if payload == nil {
				payload = d.iotMessage(it)
			}
			return d.publishData(r.Context(), updIoT, chIoT, it.id, payload)
		})
	}
	d.answerPublish(w, len(items), e)
}

// checkIoT checks one item of publisher/iot. It returns the entry to
// publish for a whole entry, and nil for a message, whose entry is made
// from the stored one when it is published.
func (d *Dialect) checkIoT(i int, it *pubItem) ([]byte, *Error) {
	if len(it.Fields) == 0 {
		data, e := objectData(i, it.Data)
		if e != nil {
			return nil, e
		}
		b, e := withTrackerID(i, data, it.id)
		if e == nil && len(b) > maxIoTEntry {
			e = apiErr(CodeTooLarge, fmt.Sprintf("item %d: data is over %d bytes", i, maxIoTEntry))
		}
		return b, e
	}
	if len(it.Fields) > maxPublishData {
		return nil, apiErr(CodeTooLarge, fmt.Sprintf("item %d: fields are over %d bytes", i, maxPublishData))
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(it.Fields, &fields); err != nil || fields == nil {
		return nil, apiErr(CodeInvalidParameters, fmt.Sprintf("item %d: fields must be an object of attribute values", i))
	}
	return nil, nil
}

// iotMessage builds the entry to publish for a message checked by
// checkIoT: the stored entry with the message added, the oldest values
// dropped to keep it under maxIoTEntry. d.iotMu is held.
func (d *Dialect) iotMessage(it *pubItem) []byte {
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(it.Fields, &fields) // checked by checkIoT
	now := d.now().UTC().Format(iotTimeLayout)
	msgTime, srvTime := it.MsgTime, it.SrvTime
	if msgTime == "" {
		msgTime = now
	}
	if srvTime == "" {
		srvTime = now
	}
	e := iotEntry{TrackerID: it.id}
	if td, ok := d.store.get(it.id); ok && td.iot != nil {
		_ = json.Unmarshal(td.iot.data, &e)
	}
	if e.NonNull == nil {
		e.NonNull = map[string][]iotValue{}
	}
	if e.All == nil {
		e.All = map[string][]iotValue{}
	}
	e.TrackerID = it.id
	e.addMessage(msgTime, srvTime, fields)
	return e.encode(maxIoTEntry)
}

// encode returns e as JSON of at most limit bytes, dropping the oldest
// values (by msg_time, across every attribute and both queues) as needed;
// an attribute left without values is forgotten.
func (e *iotEntry) encode(limit int) []byte {
	for {
		b, _ := json.Marshal(e) // strings, numbers and valid JSON values
		if len(b) <= limit {
			return b
		}
		if !e.dropOldest(len(b) - limit) {
			return b // nothing left to drop (cannot happen: a message is at most maxPublishData)
		}
	}
}

// dropOldest drops the oldest values until about excess bytes are freed,
// reporting whether it dropped any.
func (e *iotEntry) dropOldest(excess int) bool {
	type ref struct {
		nonNull bool // in NonNull, else in All
		name    string
		idx     int
		t       string
		size    int
	}
	var all []ref
	for qi, q := range []map[string][]iotValue{e.All, e.NonNull} {
		for name, vals := range q {
			for i, v := range vals {
				all = append(all, ref{qi == 1, name, i, v.MsgTime, len(v.MsgTime) + len(v.SrvTime) + len(v.Value) + 40})
			}
		}
	}
	if len(all) == 0 {
		return false
	}
	// Oldest first; within a queue (newest first) the later index is the
	// older, so each queue loses a tail.
	slices.SortFunc(all, func(a, b ref) int {
		if c := strings.Compare(a.t, b.t); c != 0 {
			return c
		}
		return b.idx - a.idx
	})
	type qk struct {
		nonNull bool
		name    string
	}
	keep := map[qk]int{} // values each cut queue keeps
	freed := 0
	for _, r := range all {
		if freed >= excess {
			break
		}
		k := qk{r.nonNull, r.name}
		if n, ok := keep[k]; !ok || r.idx < n {
			keep[k] = r.idx
		}
		freed += r.size
	}
	for k, n := range keep {
		q := e.All
		if k.nonNull {
			q = e.NonNull
		}
		if n == 0 {
			delete(q, k.name)
		} else {
			q[k.name] = q[k.name][:n]
		}
	}
	return true
}
