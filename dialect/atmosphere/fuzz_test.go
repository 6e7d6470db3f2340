package atmosphere

import (
	"slices"
	"testing"
	"unicode/utf8"
)

// FuzzParseAction feeds arbitrary client frames to the action parser: it
// must not panic, and must answer every frame with an action or an error
// code of the spec's table.
func FuzzParseAction(f *testing.F) {
	for _, s := range []string{
		`{"action":"subscribe","hash":"f4bf1b754034213653dad99c78c4b237","requests":[{"type":"state_batch","target":{"type":"all"},"rate_limit":"5s","format":"compact"}]}`,
		`{"action":"subscribe","hash":"f4bf1b754034213653dad99c78c4b237","events":["state"],"trackers":[15564,15565]}`,
		`{"action":"unsubscribe","hash":"f4bf1b754034213653dad99c78c4b237","requests":[{"type":"iot_monitor","target":{"type":"selected","tracker_ids":[1]}}]}`,
		`{"action":1}`, `[]`, `X`, ``, `{"action":"subscribe","hash":null,"requests":[{"type":"state","trackers":[1e400]}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		a, _, e := parseAction(msg)
		if e != nil {
			if e.Code != CodeWrongFormat && e.Code != CodeWrongHash {
				t.Fatalf("code %d", e.Code)
			}
			_ = errorFrame("subscribe", e)
			return
		}
		if a.invalid != nil {
			if a.invalid.Code != CodeInvalidParameters {
				t.Fatalf("invalid with code %d", a.invalid.Code)
			}
			return
		}
		if !validHash(a.hash) || len(a.reqs) == 0 {
			t.Fatalf("accepted %+v", a)
		}
		for _, r := range a.reqs {
			if r.typ >= numEvTypes || r.rate < minRateLimit || r.rate > maxRateLimit {
				t.Fatalf("request %+v", r)
			}
		}
	})
}

// FuzzFraming checks that framing and unframing are inverse for any
// messages, split anywhere, as atmosphere.js reads them.
func FuzzFraming(f *testing.F) {
	f.Add("a|b", "😀", 3)
	f.Add("", "X", 0)
	f.Add(`{"x":"€"}`, "12|", 7)
	f.Fuzz(func(t *testing.T, m1, m2 string, split int) {
		if !utf8.ValidString(m1) || !utf8.ValidString(m2) {
			return // the server only frames valid UTF-8 (JSON it encoded)
		}
		data := string(frame([]byte(m1), true)) + string(frame([]byte(m2), true))
		if split < 0 || split > len(data) {
			split = len(data) / 2
		}
		first, rest, err := unframe(data[:split])
		if err != nil {
			t.Fatal(err)
		}
		second, rest, err := unframe(rest + data[split:])
		if err != nil || rest != "" {
			t.Fatalf("rest %q, %v", rest, err)
		}
		if got := append(first, second...); !slices.Equal(got, []string{m1, m2}) {
			t.Fatalf("got %q", got)
		}
	})
}
