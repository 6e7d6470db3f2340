// Package pgtest starts a real PostgreSQL server for tests: a fresh
// cluster (initdb) in a temporary directory, listening on a free loopback
// port, run as an unprivileged user, stopped and removed when the test
// ends.
//
// Tests that need PostgreSQL call Start. When PostgreSQL is not installed,
// Start skips the test with the reason, unless the environment variable
// EnvRequire (SWITCHBOARD_TEST_POSTGRES) is "1": then it fails it, so that
// `make test` cannot pass without having run the PostgreSQL tests.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/internal/testproc"
)

// EnvRequire, set to "1", turns a missing PostgreSQL into a test failure.
const EnvRequire = "SWITCHBOARD_TEST_POSTGRES"

// EnvBinDir names the directory holding initdb and postgres (default:
// initdb's directory on PATH, else the newest /usr/lib/postgresql/*/bin).
// scripts/ensure-deps.sh exports it.
const EnvBinDir = "PG_BINDIR"

// unprivileged is the user the server runs as when the tests run as root,
// which PostgreSQL refuses.
const unprivileged = "nobody"

// Server is one PostgreSQL server process with its own cluster. Stop and
// Restart may be called from any goroutine, one at a time.
type Server struct {
	// Port is the loopback port it listens on.
	Port int

	bin, dir string
	user     *account // the user the server runs as; nil: this process's
	proc     testproc.Process
}

// URL returns the postgres:// URL of the server's "postgres" database, as
// the superuser "switchboard" (no password: trust on loopback).
func (s *Server) URL() string {
	return "postgres://switchboard@127.0.0.1:" + strconv.Itoa(s.Port) + "/postgres?sslmode=disable"
}

// Start creates a cluster and starts its server for t; t.Cleanup stops it
// and removes the cluster.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := binDir()
	if err != nil {
		msg := fmt.Sprintf("PostgreSQL not found (%v): install it (apt-get install postgresql) to run the app-store tests; `make test` sets %s=1 and fails instead of skipping", err, EnvRequire)
		if os.Getenv(EnvRequire) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	s := &Server{bin: bin}
	// Not t.TempDir: its parents are private to this user, and the server
	// may run as another.
	if s.dir, err = os.MkdirTemp("", "pgtest-"); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(s.dir) })
	if os.Geteuid() == 0 {
		if s.user, err = lookupAccount(unprivileged); err != nil {
			t.Fatalf("pgtest: running as root, and %v", err)
		}
		if err := os.Chown(s.dir, s.user.uid, s.user.gid); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
	}
	if err := s.initdb(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	s.proc = testproc.Process{
		Name: "postgres",
		Command: func() *exec.Cmd {
			return s.command("postgres", "-D", s.data(), "-p", strconv.Itoa(s.Port),
				"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
				"-c", "fsync=off", "-c", "full_page_writes=off",
				"-c", "max_connections=50", "-c", "shared_buffers=16MB")
		},
		Ready:       s.ready,
		ReadyWithin: 20 * time.Second,
		Poll:        50 * time.Millisecond,
		StopSignal:  syscall.SIGQUIT, // immediate shutdown; the postmaster takes its children with it
	}
	testproc.StartOnFreePort(t, "pgtest: postgres", func(port int) error {
		s.Port = port
		return s.proc.Start()
	})
	t.Cleanup(s.Stop)
	return s
}

// Restart starts the server again on the same port after Stop, with its
// data, and waits until it accepts connections.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.proc.Restart(t, s.Port)
}

// Stop shuts the server down at once (immediate mode: no goodbye to
// clients, as a crash) and waits for it to exit. Stopping a stopped server
// does nothing.
func (s *Server) Stop() { s.proc.Stop() }

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	if s.user != nil {
		runAs(cmd, s.user)
	}
	return cmd
}

// initdb creates the cluster with the superuser switchboard, trusted on
// loopback.
func (s *Server) initdb() error {
	cmd := s.command("initdb", "-D", s.data(), "-U", "switchboard", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ready reports whether the server accepts connections (pg_isready).
func (s *Server) ready() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, "pg_isready"), "-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-U", "switchboard", "-q")
	return cmd.Run() == nil
}

// binDir finds the directory of initdb and postgres.
func binDir() (string, error) {
	if d := os.Getenv(EnvBinDir); d != "" {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvBinDir, d, err)
		}
		return d, nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		if d := filepath.Dir(p); fileExists(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for i := len(dirs) - 1; i >= 0; i-- { // usually one version; else the last in lexical order
		if fileExists(filepath.Join(dirs[i], "postgres")) {
			return dirs[i], nil
		}
	}
	return "", errors.New("no initdb on PATH and no /usr/lib/postgresql/*/bin")
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// account is a user to run the server as.
type account struct{ uid, gid int }

func lookupAccount(name string) (*account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL must run as another user: %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	return &account{uid, gid}, nil
}
