package atmosphere

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
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
		isNull := len(v) == 0 || string(v) == "null"
		if isNull {
			v = null
		}
		e.All[name] = pushValue(e.All[name], iotValue{msgTime, srvTime, v})
		if !isNull {
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

// publishIoT serves POST publisher/iot. Either one message of a tracker,
// {"tracker_id": 1, "msg_time": "...", "srv_time": "...", "fields":
// {"speed": 43, ...}}, added to the queues kept here, or the whole entry,
// {"tracker_id": 1, "data": {"nonnull_fields": {...}, "all_fields": {...}}},
// kept as it is. A list of either is accepted.
func (d *Dialect) publishIoT(w http.ResponseWriter, r *http.Request) {
	items, e := readItems(r)
	if e == nil {
		e = eachItem(items, func(i int, it *pubItem) *Error {
			// Held until the store has the new entry, so that two messages
			// of a tracker do not both start from the same old one.
			d.iotMu.Lock()
			defer d.iotMu.Unlock()
			payload, e := d.iotPayload(i, it)
			if e != nil {
				return e
			}
			ch := channelName(chIoT, it.id)
			if d.store.blocked(it.id) {
				ch = ""
			}
			return d.published(d.publish(r.Context(), updIoT, it.id, payload, ch, payload))
		})
	}
	d.answerPublish(w, len(items), e)
}

// iotPayload builds the entry to publish for one item. d.iotMu is held.
func (d *Dialect) iotPayload(i int, it *pubItem) ([]byte, *Error) {
	if len(it.Fields) == 0 {
		data, e := objectData(i, it.Data)
		if e != nil {
			return nil, e
		}
		return withTrackerID(i, data, it.id)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(it.Fields, &fields); err != nil {
		return nil, apiErr(CodeInvalidParameters, fmt.Sprintf("item %d: fields must be an object of attribute values", i))
	}
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
	b, err := json.Marshal(e)
	if err != nil {
		return nil, apiErr(CodeInvalidParameters, fmt.Sprintf("item %d: %v", i, err))
	}
	if len(b) > 4*maxPublishData {
		return nil, apiErr(CodeTooLarge, fmt.Sprintf("item %d: the tracker's IoT values are over %d bytes", i, 4*maxPublishData))
	}
	return b, nil
}
