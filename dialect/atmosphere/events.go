package atmosphere

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/switchboard-rt/switchboard/hub"
)

// This file encodes events and derives, once per published message and
// node, every wire variant subscribers need: compact or full, with or
// without the trackMessageLength prefix, and the pieces batches are built
// from.

// chanKind is the kind of a hub channel of this dialect: one channel per
// tracker and kind.
type chanKind uint8

const (
	chState     chanKind = iota // payload: the full "state" event, as sent
	chReadings                  // payload: the readings object, tracker_id included
	chIoT                       // payload: the iot_last_values entry, tracker_id included
	chLifecycle                 // payload: the "lifecycle" event, as sent
)

var chanPrefixes = [...]string{"atmo:state:", "atmo:readings:", "atmo:iot:", "atmo:lifecycle:"}

// channelName returns the hub channel of kind k for tracker id.
func channelName(k chanKind, id int64) string {
	return chanPrefixes[k] + strconv.FormatInt(id, 10)
}

// userTimeLayout is the layout of user_time (spec §2.5).
const userTimeLayout = "2006-01-02 15:04:05"

// logoutEvent is the logout event (spec §2.5).
var logoutEvent = []byte(`{"type":"event","event":"logout","data":"session closed"}`)

// stateEvent encodes a state event.
func stateEvent(userTime string, data []byte) []byte {
	b := make([]byte, 0, len(data)+80)
	b = append(b, `{"type":"event","event":"state","user_time":"`...)
	b = append(b, userTime...)
	b = append(b, `","data":`...)
	b = append(b, data...)
	return append(b, '}')
}

// lifecycleData is the data of a lifecycle event.
type lifecycleData struct {
	SourceID       int64  `json:"source_id"`
	LifecycleEvent string `json:"lifecycle_event"`
}

// lifecycleEvent encodes a lifecycle event.
func lifecycleEvent(sourceID int64, event string) []byte {
	b, _ := json.Marshal(struct {
		Type  string        `json:"type"`
		Event string        `json:"event"`
		Data  lifecycleData `json:"data"`
	}{"event", "lifecycle", lifecycleData{sourceID, event}})
	return b
}

// batchEvent encodes a state_batch, readings_batch or iot_monitor event
// from its items.
func batchEvent(t evType, userTime string, items [][]byte) []byte {
	n := 96
	for _, it := range items {
		n += len(it) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, `{"type":"event","event":"`...)
	b = append(b, t.String()...)
	b = append(b, '"')
	if t != evIoTMonitor {
		b = append(b, `,"user_time":"`...)
		b = append(b, userTime...)
		b = append(b, '"')
	}
	b = append(b, `,"data":`...)
	if t == evIoTMonitor {
		b = append(b, `{"iot_last_values":`...)
	}
	b = append(b, '[')
	first := true
	for _, it := range items {
		if len(it) == 0 {
			continue // a message that did not parse
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, it...)
	}
	b = append(b, ']')
	if t == evIoTMonitor {
		b = append(b, '}')
	}
	return append(b, '}')
}

// compactKeys are the keys of a compact state, in output order (spec §2.5).
var compactKeys = []string{"source_id", "gps", "connection_status", "movement_status",
	"movement_status_update", "ignition", "ignition_update", "last_update"}

// compactState projects a state object on compactKeys.
func compactState(data []byte) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return data
	}
	b := make([]byte, 0, len(data))
	b = append(b, '{')
	first := true
	for _, k := range compactKeys {
		v, ok := m[k]
		if !ok {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = strconv.AppendQuote(b, k)
		b = append(b, ':')
		b = append(b, v...)
	}
	return append(b, '}')
}

// readingsFilter is a readings_batch subscription's filter.
type readingsFilter struct {
	sensorType string
	components bool
}

// none reports whether the filter keeps everything.
func (f readingsFilter) none() bool { return f.sensorType == "" && f.components }

// filterReadings applies f to a readings object: with a sensor type, only
// inputs and virtual sensors of that type are kept and states and counters
// are left out; without components, inputs that are parts of a composite
// sensor are left out.
func filterReadings(data []byte, f readingsFilter) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return data
	}
	var inputs, virtual []map[string]json.RawMessage
	_ = json.Unmarshal(m["inputs"], &inputs)
	_ = json.Unmarshal(m["virtual_sensors"], &virtual)
	if f.sensorType != "" {
		delete(m, "states")
		delete(m, "counters")
		want, _ := json.Marshal(f.sensorType)
		keep := func(items []map[string]json.RawMessage) []map[string]json.RawMessage {
			return slices.DeleteFunc(items, func(it map[string]json.RawMessage) bool {
				return !bytes.Equal(bytes.TrimSpace(it["type"]), want)
			})
		}
		inputs, virtual = keep(inputs), keep(virtual)
	}
	if !f.components {
		parts := map[string]bool{}
		for _, it := range inputs {
			var ids []json.Number
			_ = json.Unmarshal(it["composite_sensor_ids"], &ids)
			for _, id := range ids {
				parts[id.String()] = true
			}
		}
		inputs = slices.DeleteFunc(inputs, func(it map[string]json.RawMessage) bool {
			return parts[string(bytes.TrimSpace(it["sensor_id"]))]
		})
	}
	if _, ok := m["inputs"]; ok {
		m["inputs"], _ = json.Marshal(nonNil(inputs))
	}
	if _, ok := m["virtual_sensors"]; ok {
		m["virtual_sensors"], _ = json.Marshal(nonNil(virtual))
	}
	out, err := json.Marshal(m) // keys sorted: tracker_id's place moves, not its value
	if err != nil {
		return data
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// derived is what subscribers of one channel need of one published
// message, computed on first use and shared by all of them.
type derived struct {
	kind     chanKind
	src      *hub.Message // the message as published
	userTime string       // state: its user_time
	data     []byte       // state: its data; readings, IoT: the whole object

	mu       sync.Mutex
	compact  []byte                    // state: data projected on compactKeys
	variants [2][2]*hub.Message        // [compact][trackSize]; [0][0] is src
	filtered map[readingsFilter][]byte // readings: filtered objects
}

// newDerived parses m, published on a channel of kind k.
func newDerived(k chanKind, m *hub.Message) *derived {
	d := &derived{kind: k, src: m}
	d.variants[0][0] = m
	switch k {
	case chState:
		var ev struct {
			UserTime string          `json:"user_time"`
			Data     json.RawMessage `json:"data"`
		}
		if json.Unmarshal(m.Payload(), &ev) == nil {
			d.userTime, d.data = ev.UserTime, ev.Data
		}
	case chReadings, chIoT:
		d.data = m.Payload()
	}
	return d
}

// message returns the event as one client wants it.
func (d *derived) message(compact, trackSize bool) *hub.Message {
	if !compact && !trackSize {
		return d.src
	}
	ci, ti := b2i(compact && d.kind == chState), b2i(trackSize)
	d.mu.Lock()
	defer d.mu.Unlock()
	if m := d.variants[ci][ti]; m != nil {
		return m
	}
	payload := d.src.Payload()
	if ci == 1 {
		payload = stateEvent(d.userTime, d.compactLocked())
	}
	m := hub.NewMessage(frame(payload, trackSize))
	d.variants[ci][ti] = m
	return m
}

// stateData returns a state's data object, compact or full.
func (d *derived) stateData(compact bool) []byte {
	if !compact {
		return d.data
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.compactLocked()
}

func (d *derived) compactLocked() []byte {
	if d.compact == nil {
		d.compact = compactState(d.data)
	}
	return d.compact
}

// readings returns a readings object filtered by f.
func (d *derived) readings(f readingsFilter) []byte {
	if f.none() {
		return d.data
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if b, ok := d.filtered[f]; ok {
		return b
	}
	if d.filtered == nil {
		d.filtered = map[readingsFilter][]byte{}
	}
	if len(d.filtered) >= 16 { // filters are chosen by clients: bound them
		return filterReadings(d.data, f)
	}
	b := filterReadings(d.data, f)
	d.filtered[f] = b
	return b
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// derivedKey is the key of a message's derived values in its memo.
type derivedKey struct{}

// derivedOf returns the derived values of m, published on a channel of
// kind k: computed once per publish for all its subscribers on this node,
// kept in the message's memo. (One message is published on one channel,
// so on one kind.)
func derivedOf(k chanKind, m *hub.Message) *derived {
	return m.Memo(derivedKey{}, func(m *hub.Message) any { return newDerived(k, m) }).(*derived)
}

// userTime formats t as user_time in loc.
func userTime(t time.Time, loc *time.Location) string {
	return t.In(loc).Format(userTimeLayout)
}
