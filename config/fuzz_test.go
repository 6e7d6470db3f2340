package config

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzParse checks that Parse never panics, that it returns a Config or an
// error but not both, that a Config it returns is valid, and that writing
// that Config out and reading it back gives the same Config.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		legacySample,
		"",
		"port: 9000\nwebsocket: { max_payload: 10, ping_interval: \"1m\" }",
		"tokens: { registered_tokens: { a: true, \"b/c\": false }, origin: \"https://x.example\" }",
		"tokens: { registered_tokens: [\"a\", 1] }\nlog: { level: \"debug\" }",
		"{ Port: 8000, port: 1 }",
		"AutoTLS: yes\nHost: localhost,\nCrtfile: x",
		"{\n  a: [1, {b: 2}]\n}",
		"shutdown_timeout: 1e-9",
		"/* c */ # c\n// c\n{}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.hjson")
		if err != nil {
			if c != nil {
				t.Fatal("Parse returned a Config and an error")
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate rejects: %v", err)
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		back, err := Parse(out, "marshalled")
		if err != nil {
			t.Fatalf("reading back %s: %v", out, err)
		}
		back.keys, back.warnings, c.keys, c.warnings = nil, nil, nil, nil
		// The marshalled file sets every key, so its admission rule is
		// "file" whatever decided the original's; the value must match.
		if back.Admission().Open != c.Admission().Open {
			t.Fatalf("round trip changed admission: %+v, was %+v", back.Admission(), c.Admission())
		}
		back.admission, c.admission = Admission{}, Admission{}
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("round trip through %s:\n got %+v\nwant %+v", out, back, c)
		}
	})
}
