package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-rt/switchboard/ws"
)

func runBench(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), append([]string{"bench"}, args...), func(string) string { return "" }, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestBenchEcho(t *testing.T) {
	echo := ws.NewServer(ws.Options{})
	echo.OnConnection(func(c *ws.Conn) {
		c.OnMessage(func(mt ws.MessageType, data []byte) { _ = c.Send(mt, data) })
	})
	srv := httptest.NewServer(echo)
	defer srv.Close()
	defer echo.Shutdown(context.Background())

	code, stdout, stderr := runBench(t, "echo", "--target", strings.TrimPrefix(srv.URL, "http://"),
		"--connections", "2", "--duration", "100ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		Scenario      string  `json:"scenario"`
		RoundTripRate float64 `json:"round_trips_per_s"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil || res.Scenario != "echo" || res.RoundTripRate <= 0 {
		t.Fatalf("stdout %q: %+v, %v", stdout, res, err)
	}
	if !strings.Contains(stderr, "round trips/s") {
		t.Errorf("no readable line on stderr: %q", stderr)
	}

	file := filepath.Join(t.TempDir(), "results.jsonl")
	if err := os.WriteFile(file, []byte(stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runBench(t, "table", file); code != 0 || !strings.Contains(out, "rt/s") {
		t.Errorf("bench table: exit %d, %q %q", code, out, errOut)
	}
}

func TestBenchBadCommandLines(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{args: nil, want: "missing scenario"},
		{args: []string{"storm"}, want: `unknown scenario "storm"`},
		{args: []string{"hold", "--target", "10.1.2.3:8000"}, want: "only loopback targets"},
		{args: []string{"fanout", "--publish-target", "10.1.2.3:8000"}, want: "--publish-target: \"10.1.2.3:8000\": only loopback targets"},
		{args: []string{"hold", "--publish-target", "127.0.0.1:8001"}, want: "--publish-target: hold does not publish"},
		{args: []string{"fanout", "--protocol", "echo"}, want: "cannot publish"},
		{args: []string{"hold", "--connections", "x"}, want: "invalid value"},
		{args: []string{"fanout", "--window", "-1"}, want: "use 0 (open loop) or a positive number"},
		{args: []string{"channels", "--window", "2000000"}, want: "--window 2000000"},
	}
	for _, tt := range tests {
		code, _, stderr := runBench(t, tt.args...)
		if code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("bench %q: exit %d, stderr %q; want 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
}
