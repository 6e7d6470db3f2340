package config

import (
	"os"
	"strings"
	"testing"
)

// legacySample is the README's websockets.conf, byte for byte.
const legacySample = `{
  Host: "localhost",
  Port: "8000",
  Origin: "*",
  Responseheaders: "*",
# comment this string if you don't want to allow connection for a clients without preregistered tokens
# in case you leave this line each client connected without a token will obtain token "unregistered"
# until the client send sistem message "RegisterToken:<SomeToken>"
  AllowUnregisteredClients: "yes",
# comment this line if you don't want to download registered tokens
# {"abc1":true,"abc2":true,"abc3":true,"group\/item1":true,"group\/item2":true}
  RegisteredTokensUrl: "http://saiset.co/registeredtokens.php",
}
`

func TestLegacySample(t *testing.T) {
	file, err := os.ReadFile("../examples/websockets.conf")
	if err != nil {
		t.Fatal(err)
	}
	if string(file) != legacySample {
		t.Errorf("examples/websockets.conf differs from the README sample")
	}
	c, err := Parse(file, "websockets.conf")
	if err != nil {
		t.Fatal(err)
	}
	tk := c.Tokens
	if c.Addr() != "localhost:8000" || tk.Origin != "*" || tk.ResponseHeaders != "*" || !tk.AllowUnregisteredClients ||
		tk.AllowUnregisteredHTTPClients || tk.RegisteredTokensURL != "http://saiset.co/registeredtokens.php" {
		t.Errorf("legacy sample read as %+v", c)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
}

func TestLegacyBool(t *testing.T) {
	for _, tt := range []struct {
		value string
		want  bool
	}{
		{`"yes"`, true}, {`yes`, true}, {`YES`, true}, {`"Yes"`, true},
		{`true`, true}, {`"true"`, true}, {`"TRUE"`, true},
		{`1`, true}, {`"1"`, true},
		{`no`, false}, {`"no"`, false}, {`false`, false}, {`0`, false}, {`""`, false}, {`"y"`, false}, {`2`, false},
	} {
		c, err := Parse([]byte("AllowUnregisteredClients: "+tt.value+"\nAllowUnregisteredHttpClients: "+tt.value), "b.conf")
		if err != nil {
			t.Fatalf("%s: %v", tt.value, err)
		}
		if c.Tokens.AllowUnregisteredClients != tt.want || c.Tokens.AllowUnregisteredHTTPClients != tt.want {
			t.Errorf("%s = %v, %v; want %v", tt.value, c.Tokens.AllowUnregisteredClients, c.Tokens.AllowUnregisteredHTTPClients, tt.want)
		}
	}
	_, err := Parse([]byte("AllowUnregisteredClients: [\"yes\"]"), "b.conf")
	if ps := problems(t, err); len(ps) != 1 || ps[0].Key != "AllowUnregisteredClients (tokens.allow_unregistered_clients)" {
		t.Errorf("list value: %v", err)
	}
}

func TestLegacyKeysAnyCase(t *testing.T) {
	c, err := Parse([]byte(`
		HOST: 0.0.0.0
		port: 9000
		ORIGIN: "https://a.example"
		apikey: s3cret
		RESPONSEHEADERS: "https://a.example"
		registeredtokensURL: "https://x.example/t"
		CRTFILE: "`+writeFile(t)+`"
		keyFile: "`+writeFile(t)+`"
	`), "any.conf")
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr() != "0.0.0.0:9000" || c.Tokens.Origin != "https://a.example" || c.Tokens.APIKey != "s3cret" ||
		c.Tokens.ResponseHeaders != "https://a.example" || c.Tokens.RegisteredTokensURL != "https://x.example/t" || !c.TLS.Enabled() {
		t.Errorf("read as %+v", c)
	}
}

func TestLegacyErrorsNameTheLegacyKey(t *testing.T) {
	_, err := Parse([]byte(`{ Port: "80a", Origin: "nope", Host: "a b" }`), "w.conf")
	got := err.Error()
	for _, want := range []string{
		`w.conf: Port: want a whole number, got "80a"`,
		`w.conf: Origin (tokens.origin): "nope" is not an origin`,
		`w.conf: Host: "a b" is not a host name`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%v", want, got)
		}
	}
}

func TestLegacyAndModernConflict(t *testing.T) {
	for _, tt := range []struct{ text, legacy, modern string }{
		{"Origin: \"*\"\ntokens: { origin: \"*\" }", "Origin", "tokens.origin"},
		{"tokens: { api_key: \"a\" }\nApiKey: b", "ApiKey", "tokens.api_key"},
		{"Crtfile: a.pem\ntls: { cert_file: \"a.pem\" }", "Crtfile", "tls.cert_file"},
		{"AllowUnregisteredClients: yes\ntokens: { allow_unregistered_clients: true }", "AllowUnregisteredClients", "tokens.allow_unregistered_clients"},
	} {
		_, err := Parse([]byte(tt.text), "c.conf")
		ps := problems(t, err)
		if len(ps) == 0 || ps[0].Key != tt.legacy || !strings.Contains(ps[0].Msg, tt.modern+" is also set") {
			t.Errorf("%q: %v", tt.text, err)
		}
	}
}

func TestSameKeyTwoSpellings(t *testing.T) {
	_, err := Parse([]byte("Port: 1\nport: 2"), "d.conf")
	if ps := problems(t, err); len(ps) != 1 || ps[0].Key != "port" || !strings.Contains(ps[0].Msg, "same key as Port") {
		t.Errorf("err = %v", err)
	}
}

func TestAutoTLSWarns(t *testing.T) {
	for _, v := range []string{`"yes"`, `no`} {
		c, err := Parse([]byte("AutoTLS: "+v), "a.conf")
		if err != nil {
			t.Fatal(err)
		}
		if w := c.Warnings(); len(w) != 1 || w[0].Key != "AutoTLS" || !strings.Contains(w[0].String(), "AutoTLS: ") {
			t.Errorf("AutoTLS %s: warnings %v", v, w)
		}
	}
}

// HJSON keeps a trailing comma in an unquoted value; the legacy YAML loader
// did not. Legacy keys drop it, with a warning that does not show the value.
func TestLegacyTrailingComma(t *testing.T) {
	c, err := Parse([]byte("{\n Host: localhost,\n AllowUnregisteredClients: yes,\n ApiKey: s3cret,\n}"), "c.conf")
	if err != nil {
		t.Fatal(err)
	}
	if c.Host != "localhost" || !c.Tokens.AllowUnregisteredClients || c.Tokens.APIKey != "s3cret" {
		t.Errorf("read as %+v", c)
	}
	if w := c.Warnings(); len(w) != 3 || strings.Contains(w[2].String(), "s3cret") {
		t.Errorf("warnings %v", w)
	}
	// Modern keys keep HJSON's rule, with a hint in the error.
	_, err = Parse([]byte("log: {\n level: info,\n}"), "c.conf")
	if err == nil || !strings.Contains(err.Error(), "remove the comma or quote the value") {
		t.Errorf("modern trailing comma: %v", err)
	}
}
