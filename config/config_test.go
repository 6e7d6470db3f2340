package config

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// problems splits an error from this package into its *Error parts.
func problems(t *testing.T, err error) []*Error {
	t.Helper()
	if err == nil {
		return nil
	}
	var parts []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		parts = j.Unwrap()
	} else {
		parts = []error{err}
	}
	out := make([]*Error, len(parts))
	for i, p := range parts {
		if !errors.As(p, &out[i]) {
			t.Fatalf("problem %d is %T (%v), want *Error", i, p, p)
		}
	}
	return out
}

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	if got := c.Addr(); got != "localhost:8000" {
		t.Errorf("Addr() = %q", got)
	}
	if c.WebSocket.MaxPayload != 1048576 || c.Echo.MaxMessageSize != 1048576 || c.WebSocket.SendQueue != 256 {
		t.Errorf("sizes: %+v %+v", c.WebSocket, c.Echo)
	}
	if c.Tokens.Origins() != nil || c.TLS.Enabled() || c.Log.SlogLevel().String() != "INFO" || c.Log.JSON() {
		t.Errorf("helpers on defaults: origins %v tls %v level %v json %v", c.Tokens.Origins(), c.TLS.Enabled(), c.Log.SlogLevel(), c.Log.JSON())
	}
	if w := c.Warnings(); w != nil {
		t.Errorf("Warnings() = %v", w)
	}
}

func TestEmptyFileIsDefault(t *testing.T) {
	for _, text := range []string{"", "{}", "# only a comment\n", "\xef\xbb\xbf{\n}\n"} {
		c, err := Parse([]byte(text), "empty.hjson")
		if err != nil {
			t.Fatalf("Parse(%q) = %v", text, err)
		}
		if !reflect.DeepEqual(c, Default()) {
			t.Errorf("Parse(%q) = %+v, want Default()", text, c)
		}
	}
}

// Marshalling a Config gives a file that reads back the same: every field
// has a tag and a decoder, and Duration writes what it reads.
func TestMarshalRoundTrip(t *testing.T) {
	c := Default()
	c.Tokens.RegisteredTokens = TokenList{"a", "group/b"}
	c.Tokens.RegisteredTokensRefresh = Duration(90 * time.Second)
	c.WebSocket.PingInterval = 0
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"shutdown_timeout":"10s"`) || !strings.Contains(string(data), `"registered_tokens_refresh":"1m30s"`) {
		t.Errorf("durations not marshalled as strings: %s", data)
	}
	back, err := Parse(data, "roundtrip.json")
	if err != nil {
		t.Fatal(err)
	}
	if a := back.Admission(); a.Rule != AdmissionFile || a.Open != c.Tokens.AllowUnregisteredClients {
		t.Errorf("Admission() = %+v, want the file's value", a)
	}
	back.admission = c.admission
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, c)
	}
}

func TestParseOverlay(t *testing.T) {
	c, err := Parse([]byte(`
		// modern keys; anything not named keeps its default
		port: 9000
		websocket: { max_payload: 4096, compression: true, ping_interval: 0 }
		echo: { enabled: false }
		log: { level: "debug", format: "json" }
		tokens: {
			origin: "https://a.example, http://localhost:3000"
			registered_tokens: { abc1: true, abc2: false, "group/item1": true }
			registered_tokens_refresh: 60
		}
	`), "x.hjson")
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Port = 9000
	want.WebSocket.MaxPayload, want.WebSocket.Compression, want.WebSocket.PingInterval = 4096, true, 0
	want.Echo.Enabled = false
	want.Log = Log{Level: "debug", Format: "json"}
	want.Tokens.Origin = "https://a.example, http://localhost:3000"
	want.Tokens.RegisteredTokens = TokenList{"abc1", "group/item1"}
	want.Tokens.RegisteredTokensRefresh = Duration(time.Minute)
	c.keys = nil
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	if got := c.Tokens.Origins(); !reflect.DeepEqual(got, []string{"https://a.example", "http://localhost:3000"}) {
		t.Errorf("Origins() = %q", got)
	}
}

// One row per key: the file sets one bad value, and the error names that key.
func TestBadKeys(t *testing.T) {
	for _, tt := range []struct {
		text, key, msg string
	}{
		{`host: "local host"`, "host", "not a host name"},
		{`host: "localhost:80"`, "host", "no port"},
		{`port: 70000`, "port", "70000 is out of range 1-65535"},
		{`port: 0`, "port", "out of range"},
		{`port: eighty`, "port", `want a whole number, got "eighty"`},
		{`tls: { cert_file: "` + writeFile(t) + `" }`, "tls.key_file", "missing"},
		{`tls: { key_file: "` + writeFile(t) + `" }`, "tls.cert_file", "missing"},
		{`tls: { cert_file: "` + writeFile(t) + `", key_file: "/nonexistent/key.pem" }`, "tls.key_file", "no such file"},
		{`tls: { cert_file: "` + t.TempDir() + `", key_file: "` + writeFile(t) + `" }`, "tls.cert_file", "not a regular file"},
		{`tls: "on"`, "tls", "want an object"},
		{`shutdown_timeout: 0`, "shutdown_timeout", "positive duration"},
		{`shutdown_timeout: soon`, "shutdown_timeout", "want a duration"},
		{`http: { read_header_timeout: 0 }`, "http.read_header_timeout", "positive duration"},
		{`http: { idle_timeout: "-1s" }`, "http.idle_timeout", "positive duration"},
		{`limits: { handshakes_per_ip: -1 }`, "limits.handshakes_per_ip", "0 for no limit"},
		{`limits: { api_requests: 1.5 }`, "limits.api_requests", "whole number"},
		{`limits: { connections_per_ip: -3 }`, "limits.connections_per_ip", "0 for no limit"},
		{`websocket: { max_payload: 0 }`, "websocket.max_payload", "positive number of bytes"},
		{`websocket: { max_payload: 1.5 }`, "websocket.max_payload", "whole number"},
		{`websocket: { send_queue: -1 }`, "websocket.send_queue", "positive number of messages"},
		{`websocket: { max_connections: -1 }`, "websocket.max_connections", "0 for unlimited"},
		{`websocket: { ping_interval: "-1s" }`, "websocket.ping_interval", "0 to turn pings off"},
		{`websocket: { pong_timeout: 0 }`, "websocket.pong_timeout", "positive duration"},
		{`websocket: { write_timeout: "-5s" }`, "websocket.write_timeout", "positive duration"},
		{`websocket: { read_timeout: 0 }`, "websocket.read_timeout", "positive duration"},
		{`websocket: { compression: "maybe" }`, "websocket.compression", "want true or false"},
		{`websocket: { max_pending_pongs: 0 }`, "websocket.max_pending_pongs", "use 1 to 16384"},
		{`websocket: { send_path: "io_uring" }`, "websocket.send_path", `use "syscall", "uring" or "auto"`},
		{`websocket: { send_path: "URING" }`, "websocket.send_path", "not a send path"},
		{`echo: { enabled: 1 }`, "echo.enabled", "want true or false"},
		{`echo: { path: "echo" }`, "echo.path", `start it with "/"`},
		{`echo: { max_message_size: 0 }`, "echo.max_message_size", "positive number of bytes"},
		{`metrics: { enabled: [] }`, "metrics.enabled", "got a list"},
		{`metrics: { path: "/me trics" }`, "metrics.path", "not a URL path"},
		{`console: { path: "/" }`, "console.path", "a path of its own"},
		{`console: { path: "/metrics" }`, "console.path", "already used by metrics.path"},
		{`pprof: { enabled: true }, metrics: { path: "/debug/pprof" }`, "pprof.enabled", "already used by metrics.path"},
		{`log: { level: "verbose" }`, "log.level", "not one of debug, info, warn, error"},
		{`log: { format: "xml" }`, "log.format", "not one of text, json"},
		{`tokens: { enabled: {} }`, "tokens.enabled", "got an object"},
		{`tokens: { path: "/echo" }`, "tokens.path", `already used by echo.path`},
		{`tokens: { api_path: "ws" }`, "tokens.api_path", "not a URL path"},
		{`tokens: { origin: "example.com" }`, "tokens.origin", "scheme://host[:port]"},
		{`tokens: { origin: "" }`, "tokens.origin", `use "*" to allow any origin`},
		{`tokens: { response_headers: "*\nX-Evil: 1" }`, "tokens.response_headers", "line break"},
		{`tokens: { allow_unregistered_clients: "sometimes" }`, "tokens.allow_unregistered_clients", "want true or false"},
		{`tokens: { allow_unregistered_http_clients: 2 }`, "tokens.allow_unregistered_http_clients", "want true or false"},
		{`tokens: { registered_tokens_url: "ftp://x/y" }`, "tokens.registered_tokens_url", "not an http or https URL"},
		{`tokens: { registered_tokens_refresh: "10ms" }`, "tokens.registered_tokens_refresh", "at least 1s"},
		{`tokens: { registered_tokens: "abc" }`, "tokens.registered_tokens", "want a list of tokens"},
		{`tokens: { registered_tokens: ["a", ""] }`, "tokens.registered_tokens", "entry 2 is empty"},
		{`tokens: { registered_tokens: { "group/a": "yes" } }`, `tokens.registered_tokens."group/a"`, "want true or false"},
		{`tokens: { api_key: [] }`, "tokens.api_key", "want a string"},
	} {
		t.Run(tt.key, func(t *testing.T) {
			c, err := Parse([]byte(tt.text), "bad.hjson")
			if c != nil {
				t.Errorf("Parse returned a Config with an error")
			}
			ps := problems(t, err)
			if len(ps) != 1 {
				t.Fatalf("Parse(%s): want 1 problem, got %d: %v", tt.text, len(ps), err)
			}
			p := ps[0]
			if p.Key != tt.key || !strings.Contains(p.Msg, tt.msg) || p.File != "bad.hjson" {
				t.Errorf("Parse(%s) = %q; want key %q, message containing %q", tt.text, p, tt.key, tt.msg)
			}
			if !strings.HasPrefix(p.Error(), "bad.hjson: "+tt.key+": ") {
				t.Errorf("Error() = %q", p.Error())
			}
		})
	}
}

func writeFile(t *testing.T) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "x.pem")
	if err := os.WriteFile(name, []byte("pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestValidTLS(t *testing.T) {
	cert, key := writeFile(t), writeFile(t)
	c, err := Parse([]byte(`tls: { cert_file: "`+cert+`", key_file: "`+key+`" }`), "tls.hjson")
	if err != nil || !c.TLS.Enabled() {
		t.Fatalf("Parse = %v, %v", c, err)
	}
}

func TestEveryProblemAtOnce(t *testing.T) {
	_, err := Parse([]byte(`
		port: 70000
		websocket: { max_paylod: 10, send_queue: 0, ping_interval: "often" }
		log: { level: "loud" }
		shutdown_timeout: -1
	`), "many.hjson")
	var keys []string
	for _, p := range problems(t, err) {
		keys = append(keys, p.Key)
	}
	// Decoding problems come first, in file order, then validation problems.
	want := []string{"websocket.max_paylod", "websocket.ping_interval", "port", "shutdown_timeout", "websocket.send_queue", "log.level"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("keys = %q\nwant   %q\n%v", keys, want, err)
	}
	if !strings.Contains(err.Error(), "many.hjson: port: 70000 is out of range 1-65535\n") {
		t.Errorf("message:\n%v", err)
	}
}

func TestValidateCodeBuiltConfig(t *testing.T) {
	c := Default()
	c.Port, c.Echo.Path = -1, ""
	err := c.Validate()
	ps := problems(t, err)
	if len(ps) != 2 || ps[0].Error() != "port: -1 is out of range 1-65535" || ps[1].Key != "echo.path" {
		t.Errorf("Validate() = %v", err)
	}
}

func TestDuration(t *testing.T) {
	for _, tt := range []struct {
		text string
		want time.Duration
		ok   bool
	}{
		{`10s`, 10 * time.Second, true},
		{`"1m30s"`, 90 * time.Second, true},
		{`1m30s`, 90 * time.Second, true},
		{`45`, 45 * time.Second, true},
		{`"45"`, 45 * time.Second, true},
		{`0.5`, 500 * time.Millisecond, true},
		{`1e3`, 1000 * time.Second, true},
		{`250ms`, 250 * time.Millisecond, true},
		{`ten`, 0, false},
		{`10 seconds`, 0, false},
		{`1e300`, 0, false},
		{`0x10`, 0, false},
		{`true`, 0, false},
		{`[1]`, 0, false},
	} {
		c, err := Parse([]byte("shutdown_timeout: "+tt.text), "d.hjson")
		switch {
		case tt.ok && err != nil:
			t.Errorf("%s: %v", tt.text, err)
		case tt.ok && c.ShutdownTimeout.Std() != tt.want:
			t.Errorf("%s = %v, want %v", tt.text, c.ShutdownTimeout, tt.want)
		case !tt.ok && (err == nil || !strings.Contains(err.Error(), "shutdown_timeout: want a duration")):
			t.Errorf("%s: err = %v, want a duration error", tt.text, err)
		}
	}
	var d Duration
	if err := d.UnmarshalText([]byte("2m")); err != nil || d.String() != "2m0s" {
		t.Errorf("UnmarshalText = %v, %v", d, err)
	}
	if b, _ := Duration(1500 * time.Millisecond).MarshalText(); string(b) != "1.5s" {
		t.Errorf("MarshalText = %s", b)
	}
	if err := d.UnmarshalText([]byte("soon")); err == nil {
		t.Error("UnmarshalText(soon) = nil error")
	}
}

func TestApplyEnv(t *testing.T) {
	for _, tt := range []struct {
		env        map[string]string
		host       string
		port       int
		errAt, msg string
	}{
		{nil, "localhost", 8000, "", ""},
		{map[string]string{EnvHost: "0.0.0.0", EnvPort: "9001"}, "0.0.0.0", 9001, "", ""},
		{map[string]string{EnvPort: " 80 "}, "localhost", 80, "", ""},
		{map[string]string{EnvPort: "http"}, "localhost", 8000, EnvPort, `"http" is not a port number`},
		{map[string]string{EnvPort: "65536"}, "localhost", 8000, EnvPort, "out of range 1-65535"},
		{map[string]string{EnvHost: "a b"}, "localhost", 8000, EnvHost, "not a host name"},
	} {
		c := Default()
		err := c.ApplyEnv(func(k string) string { return tt.env[k] })
		if c.Host != tt.host || c.Port != tt.port {
			t.Errorf("%v: host %q port %d", tt.env, c.Host, c.Port)
		}
		ps := problems(t, err)
		switch {
		case tt.errAt == "" && err != nil:
			t.Errorf("%v: %v", tt.env, err)
		case tt.errAt != "" && (len(ps) != 1 || ps[0].Key != tt.errAt || !strings.Contains(ps[0].Msg, tt.msg)):
			t.Errorf("%v: err = %v, want %s: %s", tt.env, err, tt.errAt, tt.msg)
		}
	}
	c := Default()
	err := c.ApplyEnv(func(k string) string { return map[string]string{EnvHost: "a/b", EnvPort: "x"}[k] })
	if len(problems(t, err)) != 2 {
		t.Errorf("both bad: %v", err)
	}
}

func TestLoad(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.conf"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want fs.ErrNotExist", err)
	}
	name := filepath.Join(t.TempDir(), "s.hjson")
	if err := os.WriteFile(name, []byte("port: 1234"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(name)
	if err != nil || c.Port != 1234 {
		t.Errorf("Load = %v, %v", c, err)
	}
}
