package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hjson/hjson-go/v4"
)

func TestKeyPositions(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		want map[string][2]int
	}{
		{"braces", "{\n  port: 1\n  host: x\n}", map[string][2]int{"port": {2, 3}, "host": {3, 3}}},
		{"no braces", "port: 1\nhost: x", map[string][2]int{"port": {1, 1}, "host": {2, 1}}},
		{"byte order mark", "\xef\xbb\xbfport: 1", map[string][2]int{"port": {1, 1}}},
		{"comments", "# a: 1\n// b: 2\n/* c: 3\n*/ d: 4", map[string][2]int{"d": {4, 4}}},
		{"nested on one line", "echo: { path: \"/e\", x: 1 }", map[string][2]int{"echo": {1, 1}, "echo.path": {1, 9}, "echo.x": {1, 21}}},
		{"quoted keys", "{\"a b\": 1, 'c': 2, \"d\\\"\": 3}", map[string][2]int{`"a b"`: {1, 2}, "c": {1, 12}, `"d\""`: {1, 20}}},
		{"lists", "a: [\n  { k: 1 }\n  [ { j: 2 } ]\n]", map[string][2]int{"a": {1, 1}, "a[0].k": {2, 5}, "a[1][0].j": {3, 7}}},
		{"quoteless strings keep colons and brackets", "a: x: } ] { #\nb: 1", map[string][2]int{"a": {1, 1}, "b": {2, 1}}},
		{"numbers end at a comma", "{ a: 1, b: true, c: -2.5e3 }", map[string][2]int{"a": {1, 3}, "b": {1, 9}, "c": {1, 18}}},
		{"multi-line strings", "a: '''\n  b: 1\n  '''\nc: 2", map[string][2]int{"a": {1, 1}, "c": {4, 1}}},
		{"the first of a key given twice", "a: {x: 1}\na: {x: 2}", map[string][2]int{"a": {1, 1}, "a.x": {1, 5}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := keyPositions([]byte(tc.text))
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("keyPositions(%q) = %v, want %v", tc.text, got, tc.want)
			}
		})
	}
}

func TestUnknownKeysHaveTheirPosition(t *testing.T) {
	_, err := Parse([]byte("{\n  port: 8000\n  hots: x\n  echo: { pathh: \"/e\" }\n  pusher: { apps: [ { id: \"a\", key: \"k\", secret: \"s\", nmae: 1 } ] }\n}\n"), "s.hjson")
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"s.hjson:3:3: hots: unknown key (did you mean host?)",
		"s.hjson:4:11: echo.pathh: unknown key (did you mean path?)",
		"s.hjson:5:55: pusher.apps[0].nmae: unknown key",
	} {
		if !strings.Contains(err.Error(), want+"\n") && !strings.HasSuffix(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// FuzzKeyPositions checks that keyPositions never panics and, for text
// hjson-go parses, finds every key hjson-go finds.
func FuzzKeyPositions(f *testing.F) {
	for _, seed := range []string{
		legacySample,
		"{\n  a: [1, {b: 2}]\n}",
		"a: x: } ] { #\nb: 1",
		"{\"a b\": 1, 'c': 2, \"d\\\"\": 3, e: '''\nx'''\n}",
		"a: 1 // c\nb: [1, 2,\n3]\n/* x */ c: { d: null }",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		found := keyPositions(data)
		root, err := parseHJSON(data)
		if err != nil {
			return
		}
		var walk func(path string, v any)
		walk = func(path string, v any) {
			switch v := v.(type) {
			case *hjson.OrderedMap:
				for _, k := range v.Keys {
					p := joinKey(path, k)
					if _, ok := found[p]; !ok && !strings.HasSuffix(k, "...") && len(k) <= 64 {
						t.Fatalf("key %s not found in %q; found %v", p, data, found)
					}
					walk(p, v.Map[k])
				}
			case []any:
				for i, e := range v {
					walk(fmt.Sprintf("%s[%d]", path, i), e)
				}
			}
		}
		walk("", root)
	})
}
