package main

import (
	"context"
	"flag"
	"fmt"
	"runtime/debug"
)

// Stamped at build time by make build and make dist:
//
//	go build -ldflags "-X main.buildVersion=v1.2.3 -X main.buildCommit=abc1234 -X main.buildDate=2026-01-02T03:04:05Z"
//
// These are the only package-level variables of the command: the linker can
// set nothing else. An unstamped build falls back to what the Go toolchain
// recorded (see readBuildInfo).
var (
	buildVersion string
	buildCommit  string
	buildDate    string
)

// buildInfo is what the version command prints.
type buildInfo struct {
	version, commit, date, goVersion string
}

// String returns "switchboard VERSION (commit COMMIT, built DATE, GOVERSION)".
func (b buildInfo) String() string {
	return fmt.Sprintf("switchboard %s (commit %s, built %s, %s)", b.version, b.commit, b.date, b.goVersion)
}

// readBuildInfo returns the stamped version, commit and date; where a field
// is not stamped, what the toolchain recorded: the module version, and the
// VCS revision and commit time that go build records in a git checkout
// ("(devel)" and "unknown" under go run, which records neither).
func readBuildInfo(stamp buildInfo, bi *debug.BuildInfo, ok bool) buildInfo {
	out := buildInfo{version: "(devel)", commit: "unknown", date: "unknown", goVersion: "unknown"}
	if ok {
		out.goVersion = bi.GoVersion
		if v := bi.Main.Version; v != "" {
			out.version = v
		}
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				out.commit = s.Value
			case "vcs.time":
				out.date = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && out.commit != "unknown" {
			out.commit += "+dirty"
		}
	}
	if stamp.version != "" {
		out.version = stamp.version
	}
	if stamp.commit != "" {
		out.commit = stamp.commit
	}
	if stamp.date != "" {
		out.date = stamp.date
	}
	return out
}

func version(_ context.Context, e *env, args []string) error {
	if err := parseFlags(flag.NewFlagSet("version", flag.ContinueOnError), e, args); err != nil {
		return err
	}
	bi, ok := debug.ReadBuildInfo()
	fmt.Fprintln(e.stdout, readBuildInfo(buildInfo{version: buildVersion, commit: buildCommit, date: buildDate}, bi, ok))
	return nil
}
