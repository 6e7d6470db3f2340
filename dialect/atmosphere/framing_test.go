package atmosphere

import (
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestUTF16Len(t *testing.T) {
	for _, tt := range []struct {
		s    string
		want int
	}{
		{"", 0},
		{"X", 1},
		{`{"a":"b"}`, 9},
		{"é", 1},       // two bytes, one unit
		{"€", 1},       // three bytes, one unit
		{"😀", 2},       // four bytes, a surrogate pair
		{"a😀|b", 5},    // a, pair, |, b
		{"\xff", 1},    // invalid UTF-8 counts as U+FFFD
		{"𝄞𝄞", 4},      // two non-BMP characters
		{"日本語|🚗|x", 8}, // 3 + 1 + 2 + 1 + 1
	} {
		if got := utf16Len([]byte(tt.s)); got != tt.want {
			t.Errorf("utf16Len(%q) = %d, want %d", tt.s, got, tt.want)
		}
	}
}

func TestFrame(t *testing.T) {
	for _, tt := range []struct {
		msg       string
		trackSize bool
		want      string
	}{
		{`{"a":1}`, false, `{"a":1}`},
		{`{"a":1}`, true, `7|{"a":1}`},
		{"X", true, "1|X"},
		{`{"s":"🚗|🚗"}`, true, `13|{"s":"🚗|🚗"}`},
		{"", true, "0|"},
	} {
		if got := string(frame([]byte(tt.msg), tt.trackSize)); got != tt.want {
			t.Errorf("frame(%q, %v) = %q, want %q", tt.msg, tt.trackSize, got, tt.want)
		}
	}
}

// TestUnframe reads length-prefixed data the way atmosphere.js does:
// several messages in one chunk, a message split over chunks, '|' and
// non-BMP characters inside messages.
func TestUnframe(t *testing.T) {
	msgs := []string{`{"type":"event","data":"a|b"}`, "X", `{"s":"🚗😀"}`, "", `{"e":"é€|"}`}
	var all string
	for _, m := range msgs {
		all += string(frame([]byte(m), true))
	}
	got, rest, err := unframe(all)
	if err != nil || rest != "" || !slices.Equal(got, msgs) {
		t.Fatalf("unframe(all) = %q, %q, %v", got, rest, err)
	}
	// Every split point, including inside a prefix and inside a surrogate
	// pair's UTF-8, must give the same messages once the rest arrives.
	for i := range len(all) + 1 {
		first, rest, err := unframe(all[:i])
		if err != nil {
			t.Fatalf("split at %d: %v", i, err)
		}
		second, rest2, err := unframe(rest + all[i:])
		if err != nil || rest2 != "" {
			t.Fatalf("split at %d: rest %q, %v", i, rest2, err)
		}
		if got := append(first, second...); !slices.Equal(got, msgs) {
			t.Fatalf("split at %d: %q", i, got)
		}
	}
	if _, _, err := unframe("ab|cd"); err == nil {
		t.Error("a non-numeric prefix was accepted")
	}
}

func TestHandshakeFrame(t *testing.T) {
	uuid := newUUID()
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(uuid) {
		t.Fatalf("newUUID() = %q, not an RFC 4122 v4 UUID", uuid)
	}
	hs := handshakeFrame(uuid, 30*time.Second)
	if hs != uuid+"|30000|X|" {
		t.Errorf("handshake = %q", hs)
	}
	// Prefixed, the client reads the uuid from field 1 (spec §1.2).
	framed := string(frame([]byte(hs), true))
	if f := strings.Split(framed, "|"); f[0] != "45" || f[1] != uuid || f[2] != "30000" || f[3] != "X" {
		t.Errorf("framed handshake %q", framed)
	}
	if got := handshakeFrame(uuid, 0); got != uuid+"|0|X|" {
		t.Errorf("handshake without client heartbeat = %q", got)
	}
}

func TestParseParams(t *testing.T) {
	r := httptest.NewRequest("GET", "/event/subscription?X-Atmosphere-tracking-id=0&X-atmo-protocol=true&X-Atmosphere-Transport=WebSocket&X-Heartbeat-Server=90", nil)
	r.Header.Set("X-Atmosphere-TrackMessageSize", "true")  // from the header when not in the query
	r.Header.Set("X-Atmosphere-Transport", "long-polling") // the query wins
	p := parseParams(r)
	if !p.newClient() || !p.wantsHandshake() || !p.trackSize || p.transport != "websocket" || p.heartbeat != 90 {
		t.Errorf("params = %+v", p)
	}
	r = httptest.NewRequest("GET", "/event/subscription?X-Atmosphere-tracking-id=abc&X-atmo-protocol=true", nil)
	if p := parseParams(r); p.newClient() || p.wantsHandshake() {
		t.Errorf("a reconnecting client gets the handshake: %+v", p)
	}
	r = httptest.NewRequest("GET", "/event/subscription?X-Atmosphere-tracking-id=0", nil)
	if p := parseParams(r); p.wantsHandshake() || p.heartbeat != -1 {
		t.Errorf("a client without X-atmo-protocol gets the handshake: %+v", p)
	}
}

func TestHeartbeatPeriod(t *testing.T) {
	const cfg = 60 * time.Second
	for _, tt := range []struct {
		wish int // -1: none sent
		cfg  time.Duration
		want time.Duration
	}{
		{-1, cfg, cfg},
		{0, cfg, 0},                   // the client asks for none
		{30, cfg, cfg},                // shorter wishes are raised
		{120, cfg, 120 * time.Second}, // longer ones are honoured
		{120, 0, 0},                   // none configured
	} {
		if got := (params{heartbeat: tt.wish}).heartbeatPeriod(tt.cfg); got != tt.want {
			t.Errorf("wish %d, configured %v: %v, want %v", tt.wish, tt.cfg, got, tt.want)
		}
	}
}

func TestValidTrackingID(t *testing.T) {
	for id, want := range map[string]bool{
		newUUID(): true, "abc": true, "": false, strings.Repeat("a", 65): false, "a b": false, "é": false,
	} {
		if validTrackingID(id) != want {
			t.Errorf("validTrackingID(%q) = %v", id, !want)
		}
	}
}
