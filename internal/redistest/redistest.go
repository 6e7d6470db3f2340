// Package redistest starts a real redis-server for tests, on a free
// loopback port, and stops it when the test ends.
//
// Tests that need Redis call Start. When redis-server is not installed,
// Start skips the test with the reason, unless the environment variable
// EnvRequire (SWITCHBOARD_TEST_REDIS) is "1": then it fails it, so that
// `make test` cannot pass without having run the Redis tests.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/internal/testproc"
)

// EnvRequire, set to "1", turns a missing redis-server into a test failure.
const EnvRequire = "SWITCHBOARD_TEST_REDIS"

// EnvServer names the redis-server binary to run (default: redis-server on
// PATH). scripts/ensure-deps.sh exports it.
const EnvServer = "REDIS_SERVER"

// Server is one redis-server process. Stop and Restart may be called from
// any goroutine, one at a time.
type Server struct {
	// Port is the loopback port it listens on; Addr is 127.0.0.1:Port.
	Port int
	Addr string

	bin, dir string
	args     func() []string // the command line after bin; nil: a plain server
	proc     testproc.Process
}

// URL returns the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

// Start starts a redis-server for t, stopped by t.Cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	return startServer(t, lookPath(t, serverBin()), nil)
}

// serverBin is the redis-server to run.
func serverBin() string {
	if bin := os.Getenv(EnvServer); bin != "" {
		return bin
	}
	return "redis-server"
}

// lookPath finds bin, or skips t (fails it under EnvRequire).
func lookPath(t testing.TB, bin string) string {
	t.Helper()
	path, err := exec.LookPath(bin)
	if err != nil {
		msg := fmt.Sprintf("%s not found (%v): install redis-server (apt-get install redis-server) to run the cluster tests; `make test` sets %s=1 and fails instead of skipping", bin, err, EnvRequire)
		if os.Getenv(EnvRequire) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return path
}

// startServer starts bin on a free port, with the command line args(s)
// (a plain server when args is nil), stopped by t.Cleanup.
func startServer(t testing.TB, bin string, args func(s *Server) []string) *Server {
	t.Helper()
	s := &Server{bin: bin, dir: t.TempDir()}
	if args != nil {
		s.args = func() []string { return args(s) }
	}
	s.proc = testproc.Process{
		Name: "redis-server",
		Command: func() *exec.Cmd {
			if s.args != nil {
				return exec.Command(s.bin, s.args()...)
			}
			return exec.Command(s.bin, s.baseArgs()...)
		},
		Ready:       func() bool { return ping(s.Addr) == nil },
		ReadyWithin: 10 * time.Second,
		Poll:        20 * time.Millisecond,
	}
	testproc.StartOnFreePort(t, "redistest: redis-server", func(port int) error {
		s.Port, s.Addr = port, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		return s.proc.Start()
	})
	t.Cleanup(s.Stop)
	return s
}

// Running reports whether the server has been started and not stopped.
func (s *Server) Running() bool { return s.proc.Running() }

// Restart starts the server again on the same port after Stop, and waits
// until it answers; the data is gone (no persistence).
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.proc.Restart(t, s.Port)
}

// Stop kills the server at once (SIGKILL: no goodbye to clients) and waits
// for it to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() { s.proc.Stop() }

// baseArgs is the command line of a plain server.
func (s *Server) baseArgs() []string {
	return []string{
		"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--daemonize", "no", "--loglevel", "warning", "--protected-mode", "yes"}
}

// ping sends PING and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("unexpected reply %q", line)
	}
	return nil
}
