package config

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func TestSyntaxErrors(t *testing.T) {
	for _, tt := range []struct {
		text      string
		line, col int
		msg       string
	}{
		{"{a: 1} x", 1, 8, "trailing characters"},
		{"port: 1\nwebsocket: {\n  max_payload: ]\n}", 3, 16, "punctuator"},
		{"\n\n\n{ port: ]", 4, 9, "punctuator"},
		{"{\n  port: 1\n  :\n}", 3, 3, "no key name"},
		{"{\n  port: 8000\n  port: 8001\n}", 4, 1, `key "port" is set twice`},
		{"{\n  port: 8000\n", 3, 1, "End of input"},
		{"tokens: {\n  api_key: \"abc", 2, 16, "Bad string containing newline"},
		{"{\r\n  api_key: \"abc", 2, 16, "Bad string"},
		{"port: [1,", 1, 10, "End of input inside a list or object"},
		{"tokens: {\n  port: 1\n", 3, 1, "End of input while parsing an object"},
		{"port: 1\nlog: { level: \"x\"\n  ]\n", 3, 3, "where a key name was expected"},
		{"# c\n/* c\n */ port: [1,", 3, 14, "End of input"},
		{"42", 0, 0, "must hold an object"},
		{"port 8000", 0, 0, "must hold an object"},
		{"# c\n  /* port: 1", 2, 3, "comment is never closed"},
		{"host: caf\xe9\n", 1, 10, "not valid UTF-8"},
		{"[1, 2]", 0, 0, "must hold an object"},
	} {
		c, err := Parse([]byte(tt.text), "s.hjson")
		ps := problems(t, err)
		if c != nil || len(ps) != 1 {
			t.Fatalf("%q: %v", tt.text, err)
		}
		p := ps[0]
		if p.File != "s.hjson" || p.Line != tt.line || p.Column != tt.col || !strings.Contains(p.Msg, tt.msg) {
			t.Errorf("%q: got %d:%d %q, want %d:%d ...%s...", tt.text, p.Line, p.Column, p.Msg, tt.line, tt.col, tt.msg)
		}
	}
	_, err := Parse([]byte("a: 1\n  :"), "s.hjson")
	if got := err.Error(); !strings.HasPrefix(got, "s.hjson:2:3: ") {
		t.Errorf("Error() = %q, want file:line:col prefix", got)
	}
	// A duplicate key's message must not repeat the values, which may be secrets.
	_, err = Parse([]byte("tokens: {\n api_key: s3cret\n api_key: s3cret2\n}"), "s.hjson")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("duplicate key: %v", err)
	}
}

func TestUnknownKeys(t *testing.T) {
	for _, tt := range []struct {
		text string
		col  int
		want string
	}{
		{`websocket: { max_paylod: 1 }`, 14, "websocket.max_paylod: unknown key (did you mean max_payload?)"},
		{`websocket: { maxPayload: 1 }`, 14, "websocket.maxPayload: unknown key (did you mean max_payload?)"},
		{`websockets: {}`, 1, "websockets: unknown key (did you mean websocket?)"},
		{`prot: 1`, 1, "prot: unknown key (did you mean port?)"},
		{`AllowUnregisteredClient: yes`, 1, "AllowUnregisteredClient: unknown key (did you mean AllowUnregisteredClients?)"},
		{`tokens: { "api key": 1 }`, 11, `tokens."api key": unknown key (did you mean api_key?)`},
		{`frobnicate: 1`, 1, "frobnicate: unknown key"},
		{`tls: { cert: "x" }`, 8, "tls.cert: unknown key"},
		{strings.Repeat("k", 1000) + ": 1", 1, strings.Repeat("k", 60) + "...: unknown key"},
		{`echo: { ` + strings.Repeat("k", 100) + `: 1 }`, 9, "echo." + strings.Repeat("k", 60) + "...: unknown key"},
	} {
		_, err := Parse([]byte(tt.text), "u.hjson")
		want := fmt.Sprintf("u.hjson:1:%d: %s", tt.col, tt.want)
		if ps := problems(t, err); len(ps) != 1 || ps[0].Error() != want {
			t.Errorf("%s: %v\nwant %s", tt.text, err, want)
		}
	}
}

func TestNullKeepsDefault(t *testing.T) {
	c, err := Parse([]byte("host: null\nwebsocket: null\ntokens: { api_key: null, allow_unregistered_clients: null }"), "n.hjson")
	if err != nil {
		t.Fatal(err)
	}
	c.keys = nil
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("got %+v", c)
	}

	// In a legacy file the default of AllowUnregisteredClients is closed
	// (see Admission), and null keeps that default.
	c, err = Parse([]byte("host: null\nOrigin: null\nAllowUnregisteredClients: null"), "n.hjson")
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Tokens.AllowUnregisteredClients = false
	c.keys, c.admission = nil, want.admission
	if !reflect.DeepEqual(c, want) {
		t.Errorf("legacy: got %+v", c)
	}
}

// The example in docs/configuration.md must parse, and the page must list
// every key, so that the docs cannot drift from the code.
func TestDocs(t *testing.T) {
	page, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```hjson\n(.*?)```").FindAllSubmatch(page, -1)
	if len(blocks) == 0 {
		t.Fatal("no ```hjson example in docs/configuration.md")
	}
	for _, b := range blocks {
		if _, err := Parse(b[1], "docs example"); err != nil {
			t.Errorf("docs example:\n%s\n%v", b[1], err)
		}
	}
	for _, key := range allKeys(reflect.TypeFor[Config](), "") {
		if !strings.Contains(string(page), "`"+key+"`") {
			t.Errorf("docs/configuration.md does not list `%s`", key)
		}
	}
	for _, l := range Default().legacyKeys() {
		if !strings.Contains(string(page), "`"+l.name+"`") {
			t.Errorf("docs/configuration.md does not list legacy `%s`", l.name)
		}
	}
}

// allKeys lists the key paths of t, descending into sections.
func allKeys(t reflect.Type, prefix string) []string {
	var out []string
	for _, f := range taggedFields(t) {
		ft := t.Field(f.index).Type
		if ft.Kind() == reflect.Struct {
			out = append(out, allKeys(ft, prefix+f.name+".")...)
		} else {
			out = append(out, prefix+f.name)
		}
	}
	return out
}
