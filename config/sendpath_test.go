package config

import (
	"errors"
	"strings"
	"testing"
)

func TestSendPath(t *testing.T) {
	if p := Default().WebSocket.SendPath; p != "" {
		t.Fatalf("default send_path %q, want unset (the ws package's default)", p)
	}
	for _, p := range []string{"syscall", "uring", "auto"} {
		c, err := Parse([]byte(`websocket: { send_path: "`+p+`" }`), "test.hjson")
		if err != nil {
			t.Fatalf("send_path %q: %v", p, err)
		}
		if c.WebSocket.SendPath != p {
			t.Errorf("send_path %q parsed as %q", p, c.WebSocket.SendPath)
		}
	}
}

func TestSendPathFromTheEnvironment(t *testing.T) {
	for _, tc := range []struct {
		value, want, err string
	}{
		{"uring", "uring", ""},
		{"auto", "auto", ""},
		{"", "syscall", ""}, // unset: the file's value stays
		{"fast", "syscall", "SWITCHBOARD_SEND_PATH"},
	} {
		c := Default()
		c.WebSocket.SendPath = "syscall"
		err := c.ApplyEnv(func(k string) string {
			if k == EnvSendPath {
				return tc.value
			}
			return ""
		})
		var e *Error
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.value, err)
		case tc.err != "" && (!errors.As(err, &e) || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want one naming %s", tc.value, err, tc.err)
		}
		if c.WebSocket.SendPath != tc.want {
			t.Errorf("%q: send_path %q, want %q", tc.value, c.WebSocket.SendPath, tc.want)
		}
	}
}
