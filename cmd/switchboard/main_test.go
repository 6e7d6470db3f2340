package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboard-rt/switchboard/internal/testutil"
)

// runCmd runs a command line in-process with the environment vars.
func runCmd(t *testing.T, ctx context.Context, vars map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut testutil.LogBuffer
	code = run(ctx, args, func(k string) string { return vars[k] }, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"serve", "--help"}, {"help"}} {
		code, out, _ := runCmd(t, context.Background(), nil, args...)
		if code != 0 || !strings.Contains(out, "Usage:") || !strings.Contains(out, "serve") {
			t.Errorf("%q: exit %d, stdout %q; want 0 and the usage", args, code, out)
		}
	}
	_, out, _ := runCmd(t, context.Background(), nil, "--help")
	for _, flag := range []string{"-config", "-host", "-port", "SWITCHBOARD_CONFIG"} {
		if !strings.Contains(out, flag) {
			t.Errorf("--help does not mention %s:\n%s", flag, out)
		}
	}
}

func TestBadCommandLine(t *testing.T) {
	for _, args := range [][]string{{"frobnicate"}, {"--port", "x"}, {"--nope"}, {"serve", "extra"}} {
		if code, _, errOut := runCmd(t, context.Background(), nil, args...); code != 2 || errOut == "" {
			t.Errorf("%q: exit %d, stderr %q; want 2 and a message", args, code, errOut)
		}
	}
}

func TestVersion(t *testing.T) {
	if code, out, _ := runCmd(t, context.Background(), nil, "version"); code != 0 || !strings.HasPrefix(out, "switchboard ") {
		t.Fatalf("version: exit %d, %q", code, out)
	}
}

func TestBadConfigListsEveryProblem(t *testing.T) {
	t.Chdir(t.TempDir())
	path := writeFile(t, "bad.hjson", "port: 70000\nlog: { level: \"loud\" }\necho: { path: \"nope\" }\n")
	vars := map[string]string{"SWITCHBOARD_HOST": "bad host!"}
	code, _, errOut := runCmd(t, context.Background(), vars, "--config", path)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, errOut)
	}
	for _, want := range []string{"invalid configuration", "port", "70000", "log.level", "echo.path"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}

	// The environment and flags are checked too, all problems at once.
	vars["SWITCHBOARD_PORT"] = "0"
	code, _, errOut = runCmd(t, context.Background(), vars, "--config", "")
	if code != 1 || !strings.Contains(errOut, "2 problems") || !strings.Contains(errOut, "SWITCHBOARD_HOST") || !strings.Contains(errOut, "SWITCHBOARD_PORT: 0") {
		t.Errorf("bad env and flag: exit %d, stderr:\n%s", code, errOut)
	}

	code, _, errOut = runCmd(t, context.Background(), nil, "--config", "missing.hjson")
	if code != 1 || !strings.Contains(errOut, "missing.hjson") {
		t.Errorf("missing file: exit %d, stderr:\n%s", code, errOut)
	}
}

func TestConfigPrecedence(t *testing.T) {
	t.Chdir(t.TempDir())
	file := writeFile(t, "a.hjson", "{\n  port: 9001\n  host: 127.0.0.2\n}\n")
	writeFile(t, legacyConfigFile, "{ Port: \"9004\" }")
	envFile := writeFile(t, "b.hjson", "{ port: 9005 }")

	for _, tc := range []struct {
		name     string
		vars     map[string]string
		args     []string
		wantPort int
		wantHost string
		wantFile string
	}{
		{"flag beats env and file", map[string]string{"SWITCHBOARD_PORT": "9002"}, []string{"--config", file, "--port", "9003"}, 9003, "127.0.0.2", file},
		{"env beats file", map[string]string{"SWITCHBOARD_PORT": "9002", "SWITCHBOARD_HOST": "::1"}, []string{"--config", file}, 9002, "::1", file},
		{"file beats default", nil, []string{"--config", file}, 9001, "127.0.0.2", file},
		{"host flag", nil, []string{"--config", file, "--host", "0.0.0.0"}, 9001, "0.0.0.0", file},
		{"SWITCHBOARD_CONFIG names the file", map[string]string{"SWITCHBOARD_CONFIG": envFile}, nil, 9005, "localhost", envFile},
		{"--config beats SWITCHBOARD_CONFIG", map[string]string{"SWITCHBOARD_CONFIG": envFile}, []string{"--config", file}, 9001, "127.0.0.2", file},
		{"websockets.conf in the working directory", nil, nil, 9004, "localhost", legacyConfigFile},
		{"--config '' means defaults", nil, []string{"--config", ""}, 8000, "localhost", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseServeFlags(&env{stdout: &bytes.Buffer{}}, tc.args)
			if err != nil {
				t.Fatal(err)
			}
			cfg, src, err := loadConfig(f, func(k string) string { return tc.vars[k] })
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Port != tc.wantPort || cfg.Host != tc.wantHost || src.path != tc.wantFile {
				t.Errorf("port %d host %q file %q; want %d %q %q", cfg.Port, cfg.Host, src.path, tc.wantPort, tc.wantHost, tc.wantFile)
			}
		})
	}
}

func TestServeUntilCancelled(t *testing.T) {
	t.Chdir(t.TempDir())
	writeFile(t, legacyConfigFile, "{\n  Host: 127.0.0.1\n  AutoTLS: yes\n}\n")
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut testutil.LogBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--port", fmt.Sprint(port)}, func(string) string { return "" }, &out, &errOut)
	}()

	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 within 10s (last error %v); stderr:\n%s", err, errOut.String())
		}
		select {
		case code := <-done:
			t.Fatalf("exit %d before serving; stderr:\n%s", code, errOut.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d; stderr:\n%s", code, errOut.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop within 15s of cancel")
	}
	logs := errOut.String()
	for _, line := range strings.Split(logs, "\n") {
		if len(line) > 240 { // the warnings were 400 characters and more
			t.Errorf("log line of %d characters; want one short line, with the detail in the docs:\n%s", len(line), line)
		}
	}
	for _, want := range []string{
		"msg=config file=websockets.conf",
		"level=WARN msg=config key=AutoTLS",
		"msg=serving endpoint=/echo dialect=echo protocol=websocket",
		fmt.Sprintf("msg=listening addr=127.0.0.1:%d", port),
		"msg=stopped",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

func TestJSONLogs(t *testing.T) {
	var buf bytes.Buffer
	cfg, _, err := loadConfig(serveFlags{set: map[string]bool{"config": true}}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Log.Format, cfg.Log.Level = "json", "warn"
	l := newLogger(cfg.Log, cfg.Log.SlogLevel(), &buf)
	l.Info("hidden")
	l.Warn("shown", "k", 1)
	if got := buf.String(); strings.Contains(got, "hidden") || !strings.HasPrefix(got, `{"time":`) || !strings.Contains(got, `"msg":"shown","k":1`) {
		t.Fatalf("json logger wrote %q", got)
	}
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	if err := os.WriteFile(name, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return filepath.Clean(name)
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
