package atmosphere

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// This file parses the client's actions (spec §2.3, §2.4) into typed
// values. It knows the JSON shapes and the error codes of bad input, and
// nothing of sessions or subscriptions.

// Actions a client may send.
const (
	actionSubscribe   = "subscribe"
	actionUnsubscribe = "unsubscribe"
)

// evType is a subscribable event type.
type evType uint8

// Subscribable event types, in the order of their names below.
const (
	evState evType = iota
	evStateBatch
	evReadingsBatch
	evIoTMonitor
	numEvTypes
)

var evTypeNames = [numEvTypes]string{"state", "state_batch", "readings_batch", "iot_monitor"}

func (t evType) String() string { return evTypeNames[t] }

// batched reports whether events of t are batches sent at most once per
// rate limit.
func (t evType) batched() bool { return t != evState }

// Rate limits of batched subscriptions (spec §2.3, PROPOSED).
const (
	defaultRateLimit = time.Second
	minRateLimit     = 100 * time.Millisecond
	maxRateLimit     = time.Hour
)

// maxIoTTrackers is the most trackers one iot_monitor subscription may name.
const maxIoTTrackers = 10

// maxSensorType bounds the sensor_type filter.
const maxSensorType = 64

// action is one parsed client action.
type action struct {
	name   string // actionSubscribe or actionUnsubscribe
	hash   string // 32 lower-case hex digits
	legacy bool   // the deprecated events/trackers form
	reqs   []request
	// legacyData is the events/trackers of the legacy form, echoed in the
	// data of errors and of the unsubscribe response.
	legacyData *legacyData
	// invalid is the error 7 the parameters deserve; it is reported only
	// after the hash was checked.
	invalid *Error
}

// legacyData is the deprecated form's parameters.
type legacyData struct {
	Events   []string `json:"events"`
	Trackers []int64  `json:"trackers"`
}

// request is one entry of "requests" (or the legacy form's one state
// request).
type request struct {
	typ        evType
	all        bool    // target "all": every tracker of the user
	trackers   []int64 // target "selected" or "trackers", without duplicates
	compact    bool    // format "compact"
	rate       time.Duration
	sensorType string // readings_batch filter; "" for none
	components bool   // readings_batch include_components
}

// wireAction is the JSON shape of an action; fields are kept raw so that
// each can be checked for its type with a precise error.
type wireAction struct {
	Action   json.RawMessage `json:"action"`
	Hash     json.RawMessage `json:"hash"`
	Requests json.RawMessage `json:"requests"`
	Events   json.RawMessage `json:"events"`
	Trackers json.RawMessage `json:"trackers"`
}

type wireRequest struct {
	Type              json.RawMessage `json:"type"`
	Target            json.RawMessage `json:"target"`
	Trackers          json.RawMessage `json:"trackers"`
	Format            json.RawMessage `json:"format"`
	RateLimit         json.RawMessage `json:"rate_limit"`
	SensorType        json.RawMessage `json:"sensor_type"`
	IncludeComponents json.RawMessage `json:"include_components"`
}

type wireTarget struct {
	Type       json.RawMessage `json:"type"`
	TrackerIDs json.RawMessage `json:"tracker_ids"`
}

// parseAction parses one client frame. It returns the action, or an error
// frame's action name ("" when unknown) and error: code 5 for a frame that
// is not a JSON object with a known action, 3 for a bad hash. Errors in the
// parameters (code 7) are returned in action.invalid, to be reported after
// the session is checked.
func parseAction(msg []byte) (*action, string, *Error) {
	msg = bytes.TrimSpace(msg)
	if len(msg) == 0 || msg[0] != '{' {
		return nil, "", apiErr(CodeWrongFormat, "the message is not a JSON object")
	}
	var w wireAction
	if err := json.Unmarshal(msg, &w); err != nil {
		return nil, "", apiErr(CodeWrongFormat, "the message is not a JSON object")
	}
	var name string
	if !isNull(w.Action) && json.Unmarshal(w.Action, &name) != nil {
		return nil, "", apiErr(CodeWrongFormat, "action is not a string")
	}
	switch name {
	case actionSubscribe, actionUnsubscribe:
	case "":
		return nil, "", apiErr(CodeWrongFormat, `action is missing; use "subscribe" or "unsubscribe"`)
	default:
		if len(name) > 64 {
			name = name[:64]
		}
		return nil, name, apiErr(CodeWrongFormat, `unknown action; use "subscribe" or "unsubscribe"`)
	}
	a := &action{name: name}
	a.reqs, a.legacyData, a.legacy, a.invalid = parseRequests(&w, name == actionSubscribe)
	var hash string
	if isNull(w.Hash) || json.Unmarshal(w.Hash, &hash) != nil || !validHash(hash) {
		return nil, name, apiErr(CodeWrongHash, a.errData())
	}
	a.hash = strings.ToLower(hash)
	return a, name, nil
}

// errData is the data of error frames about a: the legacy form's
// parameters, as Navixy shows them, or nothing.
func (a *action) errData() any {
	if a.legacyData != nil {
		return a.legacyData
	}
	return nil
}

// parseRequests reads the requests form, or the legacy form when requests
// is absent. strict also checks what only subscribe uses (format,
// rate_limit, filters, the iot_monitor limit).
func parseRequests(w *wireAction, strict bool) ([]request, *legacyData, bool, *Error) {
	if isNull(w.Requests) && (!isNull(w.Events) || !isNull(w.Trackers)) {
		return parseLegacy(w)
	}
	var raw []json.RawMessage
	if isNull(w.Requests) {
		return nil, nil, false, apiErr(CodeInvalidParameters, "requests is missing")
	}
	if json.Unmarshal(w.Requests, &raw) != nil {
		return nil, nil, false, apiErr(CodeInvalidParameters, "requests is not a list")
	}
	if len(raw) == 0 {
		return nil, nil, false, apiErr(CodeInvalidParameters, "requests is empty")
	}
	reqs := make([]request, 0, len(raw))
	for i, r := range raw {
		req, err := parseRequest(r, strict)
		if err != "" {
			return nil, nil, false, apiErr(CodeInvalidParameters, fmt.Sprintf("requests[%d]: %s", i, err))
		}
		reqs = append(reqs, req)
	}
	return reqs, nil, false, nil
}

func parseLegacy(w *wireAction) ([]request, *legacyData, bool, *Error) {
	ld := &legacyData{}
	if isNull(w.Events) || json.Unmarshal(w.Events, &ld.Events) != nil || len(ld.Events) == 0 {
		return nil, nil, true, apiErr(CodeInvalidParameters, `events must be a non-empty list, such as ["state"]`)
	}
	for _, e := range ld.Events {
		if e != "state" {
			return nil, nil, true, apiErr(CodeInvalidParameters, fmt.Sprintf(`events: %q cannot be used in this form; use "requests"`, trim(e)))
		}
	}
	ids, err := parseIDs(w.Trackers, "trackers")
	if err != "" {
		return nil, nil, true, apiErr(CodeInvalidParameters, err)
	}
	ld.Events, ld.Trackers = []string{"state"}, ids
	return []request{{typ: evState, trackers: ids, rate: defaultRateLimit, components: true}}, ld, true, nil
}

// parseRequest reads one entry of requests; the error says what is wrong.
func parseRequest(msg json.RawMessage, strict bool) (request, string) {
	req := request{rate: defaultRateLimit, components: true}
	var w wireRequest
	if len(bytes.TrimSpace(msg)) == 0 || bytes.TrimSpace(msg)[0] != '{' || json.Unmarshal(msg, &w) != nil {
		return req, "not an object"
	}
	var typ string
	if isNull(w.Type) || json.Unmarshal(w.Type, &typ) != nil {
		return req, "type is missing or not a string"
	}
	found := false
	for t, n := range evTypeNames {
		if n == typ {
			req.typ, found = evType(t), true
		}
	}
	if !found {
		return req, fmt.Sprintf(`type %q is not one of "state", "state_batch", "readings_batch", "iot_monitor"`, trim(typ))
	}
	if e := req.parseTarget(&w); e != "" {
		return req, e
	}
	if !strict {
		return req, ""
	}
	if req.typ == evIoTMonitor && !req.all && len(req.trackers) > maxIoTTrackers {
		return req, fmt.Sprintf("iot_monitor takes at most %d trackers, got %d", maxIoTTrackers, len(req.trackers))
	}
	if !isNull(w.Format) {
		var f string
		if json.Unmarshal(w.Format, &f) != nil || (f != "full" && f != "compact") {
			return req, `format must be "full" or "compact"`
		}
		req.compact = f == "compact"
	}
	if !isNull(w.RateLimit) {
		var s string
		if json.Unmarshal(w.RateLimit, &s) != nil {
			return req, `rate_limit must be a string such as "5s"`
		}
		d, ok := parseRateLimit(s)
		if !ok {
			return req, fmt.Sprintf(`rate_limit %q is not a timespan such as "500ms", "5s", "1m" or "1h"`, trim(s))
		}
		req.rate = d
	}
	if !isNull(w.SensorType) {
		if json.Unmarshal(w.SensorType, &req.sensorType) != nil || len(req.sensorType) > maxSensorType {
			return req, "sensor_type must be a sensor type name"
		}
	}
	if !isNull(w.IncludeComponents) && json.Unmarshal(w.IncludeComponents, &req.components) != nil {
		return req, "include_components must be true or false"
	}
	return req, ""
}

// parseTarget reads "target" (or, for state, "trackers").
func (req *request) parseTarget(w *wireRequest) string {
	if req.typ == evState && !isNull(w.Trackers) {
		ids, e := parseIDs(w.Trackers, "trackers")
		req.trackers = ids
		return e
	}
	if isNull(w.Target) {
		if req.typ == evState {
			return "trackers is missing"
		}
		return "target is missing"
	}
	var t wireTarget
	if json.Unmarshal(w.Target, &t) != nil || bytes.TrimSpace(w.Target)[0] != '{' {
		return `target must be {"type": "all"} or {"type": "selected", "tracker_ids": [...]}`
	}
	var typ string
	_ = json.Unmarshal(t.Type, &typ)
	switch typ {
	case "all":
		req.all = true
		return ""
	case "selected":
		ids, e := parseIDs(t.TrackerIDs, "target.tracker_ids")
		req.trackers = ids
		return e
	}
	return `target.type must be "all" or "selected"`
}

// parseIDs reads a list of tracker ids, dropping duplicates.
func parseIDs(raw json.RawMessage, name string) ([]int64, string) {
	var items []json.RawMessage
	if isNull(raw) {
		return nil, name + " is missing"
	}
	if json.Unmarshal(raw, &items) != nil {
		return nil, name + " must be a list of tracker ids (integers)"
	}
	ids := make([]int64, 0, len(items))
	seen := make(map[int64]bool, len(items))
	for _, it := range items {
		id, err := strconv.ParseInt(string(bytes.TrimSpace(it)), 10, 64)
		if err != nil {
			return nil, fmt.Sprintf("%s: %s is not an integer tracker id", name, trim(string(it)))
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, ""
}

// parseRateLimit reads a timespan "<digits>(ms|s|m|h)", clamped to
// [minRateLimit, maxRateLimit].
func parseRateLimit(s string) (time.Duration, bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, false
	}
	unit, ok := rateUnits[s[i:]]
	if !ok {
		return 0, false
	}
	if i > 18 { // more than any unit's worth of maxRateLimit
		return maxRateLimit, true
	}
	n, _ := strconv.ParseInt(s[:i], 10, 64)
	if n > int64(maxRateLimit/unit) {
		return maxRateLimit, true
	}
	return min(max(time.Duration(n)*unit, minRateLimit), maxRateLimit), true
}

var rateUnits = map[string]time.Duration{"ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour}

// validHash reports whether h looks like a session hash or API key: 32 hex
// digits.
func validHash(h string) bool { return isHex(h, 32) }

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// trim shortens a client-supplied value quoted in an error.
func trim(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
