package atmosphere

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const h32 = "f4bf1b754034213653dad99c78c4b237"

func TestParseActionErrors(t *testing.T) {
	for _, tt := range []struct {
		name, msg  string
		wantAction string // the error frame's action ("" for null)
		wantCode   Code   // from parseAction, or from action.invalid
	}{
		{"not JSON", `hello`, "", CodeWrongFormat},
		{"JSON array", `[1,2]`, "", CodeWrongFormat},
		{"JSON null", `null`, "", CodeWrongFormat},
		{"truncated", `{"action":"subscribe"`, "", CodeWrongFormat},
		{"no action", `{"hash":"` + h32 + `"}`, "", CodeWrongFormat},
		{"action not a string", `{"action":1,"hash":"` + h32 + `"}`, "", CodeWrongFormat},
		{"unknown action", `{"action":"publish","hash":"` + h32 + `"}`, "publish", CodeWrongFormat},
		{"no hash", `{"action":"subscribe","requests":[{"type":"state","trackers":[1]}]}`, "subscribe", CodeWrongHash},
		{"short hash", `{"action":"subscribe","hash":"abc","requests":[{"type":"state","trackers":[1]}]}`, "subscribe", CodeWrongHash},
		{"hash not hex", `{"action":"subscribe","hash":"` + strings.Repeat("z", 32) + `"}`, "subscribe", CodeWrongHash},
		{"hash a number", `{"action":"unsubscribe","hash":123}`, "unsubscribe", CodeWrongHash},
		{"no requests", `{"action":"subscribe","hash":"` + h32 + `"}`, "subscribe", CodeInvalidParameters},
		{"empty requests", `{"action":"subscribe","hash":"` + h32 + `","requests":[]}`, "subscribe", CodeInvalidParameters},
		{"requests an object", `{"action":"subscribe","hash":"` + h32 + `","requests":{}}`, "subscribe", CodeInvalidParameters},
		{"request not an object", `{"action":"subscribe","hash":"` + h32 + `","requests":[1]}`, "subscribe", CodeInvalidParameters},
		{"unknown type", `{"action":"subscribe","hash":"` + h32 + `","requests":[{"type":"position","trackers":[1]}]}`, "subscribe", CodeInvalidParameters},
		{"state without trackers", `{"action":"subscribe","hash":"` + h32 + `","requests":[{"type":"state"}]}`, "subscribe", CodeInvalidParameters},
		{"batch without target", `{"action":"subscribe","hash":"` + h32 + `","requests":[{"type":"state_batch"}]}`, "subscribe", CodeInvalidParameters},
		{"bad target type", `{"action":"subscribe","hash":"` + h32 + `","requests":[{"type":"state_batch","target":{"type":"some"}}]}`, "subscribe", CodeInvalidParameters},
		{"target not an object", `{"action":"subscribe","hash":"` + h32 + `","requests":[{"type":"state_batch","target":"all"}]}`, "subscribe", CodeInvalidParameters},
		{"selected without ids", `{"action":"subscribe","hash":"` + h32 + `","requests":[{"type":"state_batch","target":{"type":"selected"}}]}`, "subscribe", CodeInvalidParameters},
		{"fractional id", `{"action":"subscribe","hash":"` + h32 + `","requests":[{"type":"state","trackers":[1.5]}]}`, "subscribe", CodeInvalidParameters},
		{"string id", `{"action":"subscribe","hash":"` + h32 + `","requests":[{"type":"state","trackers":["1"]}]}`, "subscribe", CodeInvalidParameters},
		{"huge id", `{"action":"subscribe","hash":"` + h32 + `","requests":[{"type":"state","trackers":[99999999999999999999]}]}`, "subscribe", CodeInvalidParameters},
		{"bad format", `{"action":"subscribe","hash":"` + h32 + `","requests":[{"type":"state","trackers":[1],"format":"tiny"}]}`, "subscribe", CodeInvalidParameters},
		{"bad rate_limit", `{"action":"subscribe","hash":"` + h32 + `","requests":[{"type":"state_batch","target":{"type":"all"},"rate_limit":"5x"}]}`, "subscribe", CodeInvalidParameters},
		{"numeric rate_limit", `{"action":"subscribe","hash":"` + h32 + `","requests":[{"type":"state_batch","target":{"type":"all"},"rate_limit":5}]}`, "subscribe", CodeInvalidParameters},
		{"iot over 10", `{"action":"subscribe","hash":"` + h32 + `","requests":[{"type":"iot_monitor","target":{"type":"selected","tracker_ids":[1,2,3,4,5,6,7,8,9,10,11]}}]}`, "subscribe", CodeInvalidParameters},
		{"bad include_components", `{"action":"subscribe","hash":"` + h32 + `","requests":[{"type":"readings_batch","target":{"type":"all"},"include_components":"no"}]}`, "subscribe", CodeInvalidParameters},
		{"legacy other event", `{"action":"subscribe","hash":"` + h32 + `","events":["lifecycle"],"trackers":[1]}`, "subscribe", CodeInvalidParameters},
		{"legacy no trackers", `{"action":"subscribe","hash":"` + h32 + `","events":["state"]}`, "subscribe", CodeInvalidParameters},
		{"legacy no events", `{"action":"subscribe","hash":"` + h32 + `","trackers":[1]}`, "subscribe", CodeInvalidParameters},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, action, e := parseAction([]byte(tt.msg))
			if e == nil && a != nil {
				e = a.invalid
				action = a.name
			}
			if e == nil {
				t.Fatalf("accepted: %+v", a)
			}
			if e.Code != tt.wantCode || action != tt.wantAction {
				t.Errorf("got code %d action %q (%v), want %d %q", e.Code, action, e, tt.wantCode, tt.wantAction)
			}
		})
	}
}

func TestParseActionValid(t *testing.T) {
	a, _, e := parseAction([]byte(`{"action":"subscribe","hash":"F4BF1B754034213653DAD99C78C4B237","requests":[
		{"type":"state_batch","target":{"type":"all"},"rate_limit":"5s","format":"compact"},
		{"type":"readings_batch","target":{"type":"all"},"rate_limit":"5s","sensor_type":"temperature","include_components":false},
		{"type":"state","trackers":[1701976,1701975,1701976],"format":"compact"},
		{"type":"iot_monitor","target":{"type":"selected","tracker_ids":[21080]},"rate_limit":"5s"}]}`))
	if e != nil || a.invalid != nil {
		t.Fatalf("error %v %v", e, a.invalid)
	}
	if a.hash != strings.ToLower("F4BF1B754034213653DAD99C78C4B237") || a.legacy || len(a.reqs) != 4 {
		t.Fatalf("action %+v", a)
	}
	r := a.reqs
	if r[0].typ != evStateBatch || !r[0].all || !r[0].compact || r[0].rate != 5*time.Second {
		t.Errorf("state_batch %+v", r[0])
	}
	if r[1].typ != evReadingsBatch || r[1].sensorType != "temperature" || r[1].components {
		t.Errorf("readings_batch %+v", r[1])
	}
	if r[2].typ != evState || !slices.Equal(r[2].trackers, []int64{1701976, 1701975}) || r[2].rate != defaultRateLimit {
		t.Errorf("state %+v", r[2])
	}
	if r[3].typ != evIoTMonitor || r[3].all || !slices.Equal(r[3].trackers, []int64{21080}) {
		t.Errorf("iot_monitor %+v", r[3])
	}

	// The legacy form, and requests winning over it.
	a, _, e = parseAction([]byte(`{"action":"subscribe","hash":"` + h32 + `","events":["state"],"trackers":[15564,15565]}`))
	if e != nil || a.invalid != nil || !a.legacy || len(a.reqs) != 1 || a.reqs[0].typ != evState || !slices.Equal(a.reqs[0].trackers, []int64{15564, 15565}) {
		t.Fatalf("legacy: %+v %v", a, e)
	}
	a, _, _ = parseAction([]byte(`{"action":"subscribe","hash":"` + h32 + `","events":["state"],"trackers":[1],"requests":[{"type":"state","trackers":[2]}]}`))
	if a.legacy || a.reqs[0].trackers[0] != 2 {
		t.Errorf("requests did not win: %+v", a)
	}
	// unsubscribe ignores what only subscribe uses.
	a, _, _ = parseAction([]byte(`{"action":"unsubscribe","hash":"` + h32 + `","requests":[{"type":"iot_monitor","target":{"type":"all"},"rate_limit":"bad"}]}`))
	if a.invalid != nil {
		t.Errorf("unsubscribe checked rate_limit: %v", a.invalid)
	}
}

func TestParseRateLimit(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"5s": 5 * time.Second, "500ms": 500 * time.Millisecond, "1m": time.Minute, "2h": time.Hour,
		"10ms": minRateLimit, "0s": minRateLimit, "99999999999999999999s": time.Hour, "100000000h": time.Hour,
	} {
		if got, ok := parseRateLimit(in); !ok || got != want {
			t.Errorf("parseRateLimit(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "s", "5", "5 s", "-5s", "5.5s", "5S", "1d", "5sec", "PT5S"} {
		if _, ok := parseRateLimit(in); ok {
			t.Errorf("parseRateLimit(%q) accepted", in)
		}
	}
}
