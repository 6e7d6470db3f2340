package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestHelpCommandIsHelpFlag(t *testing.T) {
	for _, tc := range []struct{ command, flag []string }{
		{[]string{"help"}, []string{"--help"}},
		{[]string{"help"}, []string{"serve", "--help"}},
		{[]string{"help", "bench"}, []string{"bench", "--help"}},
		{[]string{"help", "serve"}, []string{"-h"}},
	} {
		code1, out1, _ := runCmd(t, context.Background(), nil, tc.command...)
		code2, out2, _ := runCmd(t, context.Background(), nil, tc.flag...)
		if code1 != 0 || code2 != 0 || out1 != out2 {
			t.Errorf("%q (exit %d) and %q (exit %d) differ:\n%s\n---\n%s", tc.command, code1, tc.flag, code2, out1, out2)
		}
	}
	if _, out, _ := runCmd(t, context.Background(), nil, "help"); !strings.Contains(out, "-port") || !strings.Contains(out, "--version") {
		t.Errorf("help lacks the flags:\n%s", out)
	}
}

func TestVersionFlagIsVersionCommand(t *testing.T) {
	code1, out1, _ := runCmd(t, context.Background(), nil, "version")
	code2, out2, _ := runCmd(t, context.Background(), nil, "--version")
	if code1 != 0 || code2 != 0 || out1 != out2 || !strings.HasPrefix(out1, "switchboard ") || !strings.Contains(out1, "commit ") {
		t.Errorf("version: exit %d %q; --version: exit %d %q", code1, out1, code2, out2)
	}
}

func TestReadBuildInfo(t *testing.T) {
	vcs := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123abc"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	goRun := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}}
	stamp := buildInfo{version: "v1.2.3", commit: "fedcba9", date: "2026-02-03T04:05:06Z"}
	for _, tc := range []struct {
		name  string
		stamp buildInfo
		bi    *debug.BuildInfo
		want  string
	}{
		{"stamped", stamp, vcs, "switchboard v1.2.3 (commit fedcba9, built 2026-02-03T04:05:06Z, go1.26.0)"},
		{"go build in a checkout", buildInfo{}, vcs, "switchboard (devel) (commit 0123abc+dirty, built 2026-01-02T03:04:05Z, go1.26.0)"},
		{"go run", buildInfo{}, goRun, "switchboard (devel) (commit unknown, built unknown, go1.26.0)"},
		{"go install of a release", buildInfo{}, &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.0.0"}}, "switchboard v1.0.0 (commit unknown, built unknown, go1.26.0)"},
		{"no build info", buildInfo{}, nil, "switchboard (devel) (commit unknown, built unknown, unknown)"},
	} {
		if got := readBuildInfo(tc.stamp, tc.bi, tc.bi != nil).String(); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestPortFlagSaysWhatAPortIs(t *testing.T) {
	for _, tc := range []struct{ arg, want string }{
		{"abc", "not a port number; give one from 1 to 65535 (or set $SWITCHBOARD_PORT)"},
		{"0", "0 is out of range; give a port from 1 to 65535"},
		{"65536", "65536 is out of range"},
	} {
		code, _, errOut := runCmd(t, context.Background(), nil, "--port", tc.arg)
		if code != 2 || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "parse error") {
			t.Errorf("--port %s: exit %d, stderr %q; want 2 and %q", tc.arg, code, errOut, tc.want)
		}
	}
}

func TestPortInUseIsSaidFirst(t *testing.T) {
	t.Chdir(t.TempDir())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	for _, args := range [][]string{
		{"--host", "127.0.0.1", "--port", fmt.Sprint(port)},
		{"serve", "--host", "127.0.0.1", "--port", fmt.Sprint(port)},
	} {
		code, _, errOut := runCmd(t, context.Background(), nil, args...)
		want := fmt.Sprintf("switchboard: port %d is already in use on 127.0.0.1", port)
		if code != 1 || !strings.HasPrefix(errOut, want) || !strings.Contains(errOut, "--port") || !strings.Contains(errOut, "$SWITCHBOARD_PORT") {
			t.Errorf("%q: exit %d, stderr:\n%s\nwant exit 1 and, first, %q with --port and $SWITCHBOARD_PORT", args, code, errOut, want)
		}
	}
}

// TestPackagedConfig loads the config the README installs with the systemd
// unit, so that it stays valid as keys change.
func TestPackagedConfig(t *testing.T) {
	path, err := filepath.Abs("../../packaging/switchboard.hjson")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := loadConfig(serveFlags{config: path, set: map[string]bool{"config": true}}, func(string) string { return "" })
	if err != nil {
		t.Fatalf("packaging/switchboard.hjson: %v", err)
	}
	if len(cfg.Warnings()) > 0 || len(cfg.Pusher.Apps) != 1 || cfg.Port != 8000 {
		t.Errorf("packaging/switchboard.hjson: warnings %v, %d apps, port %d", cfg.Warnings(), len(cfg.Pusher.Apps), cfg.Port)
	}
}
