package pusher

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Event is one message of the Pusher protocol, in either direction: the
// envelope {"event":..., "channel":..., "data":..., "user_id":...}.
type Event struct {
	// Event is the event name, such as "pusher:subscribe" or "client-typing".
	Event string `json:"event"`
	// Channel is the channel the event is on; "" for connection events.
	Channel string `json:"channel,omitempty"`
	// Data is the data exactly as received: usually a JSON string holding
	// JSON (what servers send), sometimes a JSON object (what pusher-js
	// sends for pusher:subscribe and client events). Empty when absent.
	Data json.RawMessage `json:"data,omitempty"`
	// UserID is the sender of a client event on a presence channel, added
	// by the server.
	UserID string `json:"user_id,omitempty"`
}

// Errors returned by DecodeEvent.
var (
	// ErrNotJSON is returned for a message that is not a JSON object.
	ErrNotJSON = errors.New("pusher: message is not a JSON object")
	// ErrNoEventName is returned for a message without an event name.
	ErrNoEventName = errors.New("pusher: message has no event name")
)

// DecodeEvent parses one client message. It fails on anything but a JSON
// object whose "event" is a non-empty string and whose "channel", if
// present, is a string.
func DecodeEvent(b []byte) (Event, error) {
	var raw struct {
		Event   json.RawMessage `json:"event"`
		Channel json.RawMessage `json:"channel"`
		Data    json.RawMessage `json:"data"`
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return Event{}, ErrNotJSON
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrNotJSON, err)
	}
	var e Event
	if err := unmarshalString(raw.Event, &e.Event); err != nil || e.Event == "" {
		return Event{}, ErrNoEventName
	}
	if err := unmarshalString(raw.Channel, &e.Channel); err != nil {
		return Event{}, fmt.Errorf("pusher: channel is not a string: %w", err)
	}
	if !isNull(raw.Data) {
		e.Data = raw.Data
	}
	return e, nil
}

// unmarshalString sets *s from a JSON string; absent or null leaves it "".
func unmarshalString(raw json.RawMessage, s *string) error {
	if isNull(raw) {
		return nil
	}
	if raw[0] != '"' {
		return fmt.Errorf("want a string, got %.20s", raw)
	}
	return json.Unmarshal(raw, s)
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// DataString returns the event's data as the string a server sends on: the
// contents of a JSON string, or the JSON text of any other value.
func (e Event) DataString() string {
	if len(e.Data) > 0 && e.Data[0] == '"' {
		if s, ok := plainJSONString(e.Data); ok {
			return s
		}
		var s string
		if json.Unmarshal(e.Data, &s) == nil {
			return s
		}
	}
	return string(e.Data)
}

// plainJSONString returns the text of a JSON string with nothing to
// unescape or replace (printable ASCII, no backslash), as json.Unmarshal
// would, without its reflection; ok is false for any other input.
func plainJSONString(b []byte) (string, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", false
	}
	for _, c := range b[1 : len(b)-1] {
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
			return "", false
		}
	}
	return string(b[1 : len(b)-1]), true
}

// DataObject decodes the event's data into v: a JSON object, or a JSON
// string holding one (both forms are seen from clients).
func (e Event) DataObject(v any) error {
	d := []byte(e.Data)
	if len(d) > 0 && d[0] == '"' {
		var s string
		if err := json.Unmarshal(d, &s); err != nil {
			return err
		}
		d = []byte(s)
	}
	if len(d) == 0 {
		d = []byte("{}")
	}
	return json.Unmarshal(d, v)
}

// encodeEvent builds a server message. data is sent as a JSON string, as
// the protocol asks of servers; channel and userID are left out when "".
func encodeEvent(event, channel, data, userID string) []byte {
	b := make([]byte, 0, 40+len(event)+len(channel)+len(data)+len(data)/8+len(userID))
	b = append(b, `{"event":`...)
	b = appendString(b, event)
	if channel != "" {
		b = append(b, `,"channel":`...)
		b = appendString(b, channel)
	}
	b = append(b, `,"data":`...)
	b = appendString(b, data)
	if userID != "" {
		b = append(b, `,"user_id":`...)
		b = appendString(b, userID)
	}
	return append(b, '}')
}

// encodeEventJSON is encodeEvent with v marshalled as the data.
func encodeEventJSON(event, channel string, v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("pusher: marshal %s data: %v", event, err)) // only our own types are marshalled
	}
	return encodeEvent(event, channel, string(data), "")
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does; '<', '>' and '&' are kept as they are.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' { // valid JSON, but not in JavaScript source
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// errorData is the data of pusher:error.
type errorData struct {
	Message string `json:"message"`
	Code    *int   `json:"code"`
}

// subscriptionErrorData is the data of pusher:subscription_error, in the
// form pusher-js produces for its own authorization errors.
type subscriptionErrorData struct {
	Type   string `json:"type"`
	Error  string `json:"error"`
	Status int    `json:"status"`
}

// presenceData is the data of a presence channel's subscription_succeeded.
type presenceData struct {
	Presence struct {
		IDs   []string                   `json:"ids"`
		Hash  map[string]json.RawMessage `json:"hash"`
		Count int                        `json:"count"`
	} `json:"presence"`
}

// memberData is the data of member_added and member_removed.
type memberData struct {
	UserID   string          `json:"user_id"`
	UserInfo json.RawMessage `json:"user_info,omitempty"`
}

// userIDString returns a presence or sign-in user id as a string: JSON
// strings as they are, numbers as their text (Laravel uses integer ids).
func userIDString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil || s == "" {
			return "", false
		}
		return s, true
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return "", false
		}
		if _, err := strconv.ParseFloat(n.String(), 64); err != nil {
			return "", false
		}
		return n.String(), true
	}
	return "", false
}
