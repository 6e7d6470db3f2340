package pusher

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/switchboard-rt/switchboard/hub"
)

func TestDecodeEvent(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    Event
		err     error
		dataStr string
	}{
		{in: `{"event":"pusher:ping","data":{}}`, want: Event{Event: "pusher:ping", Data: json.RawMessage(`{}`)}, dataStr: `{}`},
		{in: ` {"event":"client-a","channel":"private-x","data":"{\"a\":1}"}`, want: Event{Event: "client-a", Channel: "private-x", Data: json.RawMessage(`"{\"a\":1}"`)}, dataStr: `{"a":1}`},
		{in: `{"event":"client-a","channel":"private-x","data":[1,2]}`, want: Event{Event: "client-a", Channel: "private-x", Data: json.RawMessage(`[1,2]`)}, dataStr: `[1,2]`},
		{in: `{"event":"x","data":null}`, want: Event{Event: "x"}},
		{in: `{"event":"x","channel":null}`, want: Event{Event: "x"}},
		{in: `{"event":"x","extra":1}`, want: Event{Event: "x"}},
		{in: ``, err: ErrNotJSON},
		{in: `[]`, err: ErrNotJSON},
		{in: `"x"`, err: ErrNotJSON},
		{in: `{"event":`, err: ErrNotJSON},
		{in: `{}`, err: ErrNoEventName},
		{in: `{"event":""}`, err: ErrNoEventName},
		{in: `{"event":1}`, err: ErrNoEventName},
		{in: `{"event":"x","channel":1}`},
	} {
		got, err := DecodeEvent([]byte(tt.in))
		if tt.err != nil || (err != nil && tt.want.Event == "") {
			if err == nil || (tt.err != nil && !errors.Is(err, tt.err)) {
				t.Errorf("DecodeEvent(%s) = %+v, %v; want error %v", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("DecodeEvent(%s): %v", tt.in, err)
			continue
		}
		if got.Event != tt.want.Event || got.Channel != tt.want.Channel || string(got.Data) != string(tt.want.Data) {
			t.Errorf("DecodeEvent(%s) = %+v, want %+v", tt.in, got, tt.want)
		}
		if s := got.DataString(); s != tt.dataStr {
			t.Errorf("DecodeEvent(%s).DataString() = %q, want %q", tt.in, s, tt.dataStr)
		}
	}
}

func TestDataObject(t *testing.T) {
	for _, in := range []string{
		`{"event":"pusher:subscribe","data":{"channel":"a"}}`,
		`{"event":"pusher:subscribe","data":"{\"channel\":\"a\"}"}`,
	} {
		e, err := DecodeEvent([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		var d subscribeData
		if err := e.DataObject(&d); err != nil || d.Channel != "a" {
			t.Errorf("DataObject(%s) = %+v, %v", in, d, err)
		}
	}
}

func TestEncodeEvent(t *testing.T) {
	b := encodeEvent("my-event", "ch", "{\"a\":\"<b>&\u2028\"}", "u1")
	var got Event
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if got.Event != "my-event" || got.Channel != "ch" || got.UserID != "u1" || got.DataString() != `{"a":"<b>&`+"\u2028"+`"}` {
		t.Errorf("round trip: %s -> %+v", b, got)
	}
	if strings.Contains(string(b), "\u2028") {
		t.Errorf("U+2028 not escaped: %s", b)
	}
	if b := encodeEvent("e", "", "", ""); string(b) != `{"event":"e","data":""}` {
		t.Errorf("no channel: %s", b)
	}
}

func TestSocketID(t *testing.T) {
	h, err := hub.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, id := range []hub.SubscriberID{1, 1<<32 | 7, h.NewID(), h.NewID(), ^hub.SubscriberID(0)} {
		s := socketID(id)
		back, ok := parseSocketID(s)
		if !ok || back != id {
			t.Errorf("socketID(%d) = %q, parsed back %d %v", id, s, back, ok)
		}
	}
	for _, s := range []string{"", "1", "1.", ".1", "a.1", "1.2.3", "1.-2", "99999999999.1", " 1.2"} {
		if _, ok := parseSocketID(s); ok {
			t.Errorf("parseSocketID(%q) accepted", s)
		}
	}
}

func TestChannelNames(t *testing.T) {
	for _, tt := range []struct {
		name     string
		ok, rest bool
		kind     channelKind
		cache    bool
	}{
		{"my-channel", true, true, kindPublic, false},
		{"a_b-c=d@e,f.g;h", true, true, kindPublic, false},
		{"private-a", true, true, kindPrivate, false},
		{"presence-room", true, true, kindPresence, false},
		{"private-encrypted-x", true, true, kindEncrypted, false},
		{"cache-x", true, true, kindPublic, true},
		{"private-cache-x", true, true, kindPrivate, true},
		{"presence-cache-x", true, true, kindPresence, true},
		{"private-encrypted-cache-x", true, true, kindEncrypted, true},
		{strings.Repeat("a", MaxChannelNameLength), true, true, kindPublic, false},
		{strings.Repeat("a", MaxChannelNameLength+1), false, false, kindPublic, false},
		{"", false, false, kindPublic, false},
		{"has space", false, false, kindPublic, false},
		{"slash/x", false, false, kindPublic, false},
		{"#server-to-user-u1", false, true, kindPublic, false},
		{"#server-to-user-", false, false, kindPublic, false},
		{"#other", false, false, kindPublic, false},
	} {
		if got := channelNameProblem(tt.name) == ""; got != tt.ok {
			t.Errorf("channelNameProblem(%q) ok = %v, want %v", tt.name, got, tt.ok)
		}
		if got := restChannelProblem(tt.name) == ""; got != tt.rest {
			t.Errorf("restChannelProblem(%q) ok = %v, want %v", tt.name, got, tt.rest)
		}
		if typ := typeOf(tt.name); tt.ok && (typ.kind != tt.kind || typ.cache != tt.cache) {
			t.Errorf("typeOf(%q) = %+v, want kind %d cache %v", tt.name, typ, tt.kind, tt.cache)
		}
	}
}

func TestUserIDString(t *testing.T) {
	for in, want := range map[string]string{`"u1"`: "u1", `42`: "42", `-1.5`: "-1.5", `""`: "", `null`: "", `{}`: "", `true`: ""} {
		got, ok := userIDString(json.RawMessage(in))
		if got != want || ok != (want != "") {
			t.Errorf("userIDString(%s) = %q, %v", in, got, ok)
		}
	}
}

// FuzzDecodeEvent checks that the parser never panics and that whatever it
// accepts survives a server round trip: encoding the event and decoding it
// again gives the same name, channel and data string.
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"event":"pusher:subscribe","data":{"channel":"presence-a","auth":"k:s","channel_data":"{\"user_id\":1}"}}`,
		`{"event":"client-x","channel":"private-a","data":"\u0000\ud800"}`,
		`{"event":"pusher:ping","data":{}}`,
		`{"event":"a","data":"x","event":"b"}`,
		`{"event":"\xff","channel":"\xfe"}`,
		`{"event":"a","data":1e999}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEvent(b)
		if err != nil {
			return
		}
		if e.Event == "" {
			t.Fatalf("accepted an event without a name: %q", b)
		}
		var sd subscribeData
		_ = e.DataObject(&sd)
		data := e.DataString()
		out := encodeEvent(e.Event, e.Channel, data, "")
		if !json.Valid(out) || !utf8.Valid(out) {
			t.Fatalf("encodeEvent made invalid JSON %q from %q", out, b)
		}
		back, err := DecodeEvent(out)
		if err != nil {
			t.Fatalf("re-decode %q: %v", out, err)
		}
		if back.Event != validUTF8(e.Event) || back.Channel != validUTF8(e.Channel) || back.DataString() != validUTF8(data) {
			t.Fatalf("round trip of %q: %+v -> %+v", b, e, back)
		}
	})
}

// FuzzAppendString checks appendString against encoding/json.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b\\c", "\x00\x1f\x7f", "\xff\xfe", "\u2028\u2029", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("appendString(%q) = %s: %v", s, b, err)
		}
		if back != validUTF8(s) {
			t.Fatalf("appendString(%q) decodes to %q", s, back)
		}
	})
}

// validUTF8 is s with invalid bytes replaced as encoding/json does.
func validUTF8(s string) string {
	var b strings.Builder
	for _, r := range s { // ranging yields U+FFFD for each invalid byte
		b.WriteRune(r)
	}
	return b.String()
}
