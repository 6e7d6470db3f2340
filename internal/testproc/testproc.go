// Package testproc runs a throwaway server process for tests (redis-server,
// postgres): it starts the process, waits until it answers, stops it as a
// crash would, and starts it again on the same port. internal/redistest
// and internal/pgtest build on it.
package testproc

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Process is one server process that can be stopped and started again.
// Start, Restart and Stop may be called from any goroutine, one at a time.
type Process struct {
	// Name names the server in errors ("redis-server").
	Name string
	// Command returns the command to run, for each start.
	Command func() *exec.Cmd
	// Ready reports whether the started server answers.
	Ready func() bool
	// ReadyWithin bounds how long Start waits for Ready, and how long
	// Restart keeps trying.
	ReadyWithin time.Duration
	// Poll is the interval between two Ready checks.
	Poll time.Duration
	// StopSignal is sent by Stop; nil sends SIGKILL. A process that has not
	// exited 10 s after it is killed.
	StopSignal os.Signal

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start runs the command and waits until the server is ready, or has
// exited, or ReadyWithin has passed (then it kills it). The error of a
// server that exited carries what it printed.
func (p *Process) Start() error {
	cmd := p.Command()
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", p.Name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(p.ReadyWithin)
	for {
		if p.Ready() {
			p.mu.Lock()
			p.cmd, p.exited = cmd, exited
			p.mu.Unlock()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited: %s", p.Name, strings.TrimSpace(out.String()))
		case <-time.After(p.Poll): // polling with a deadline
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("%s was not ready within %s", p.Name, p.ReadyWithin)
		}
	}
}

// Restart starts the server again after Stop, retrying for ReadyWithin:
// the port of the stopped server may linger briefly. It fails t if the
// server does not start.
func (p *Process) Restart(t testing.TB, port int) {
	t.Helper()
	deadline := time.Now().Add(p.ReadyWithin)
	for {
		err := p.Start()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: restart on port %d: %v", p.Name, port, err)
		}
		time.Sleep(p.Poll) // retried with a deadline
	}
}

// Running reports whether the server has been started and not stopped.
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

// Stop sends StopSignal (SIGKILL when nil) and waits for the process to
// exit, killing it if it has not within 10 s. Stopping a stopped server
// does nothing.
func (p *Process) Stop() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	sig := p.StopSignal
	if sig == nil {
		sig = syscall.SIGKILL
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartOnFreePort calls start with free ports until it succeeds, up to 5
// times (a port may be taken between FreePort and the server's bind), and
// fails t with the last error, naming what, otherwise.
func StartOnFreePort(t testing.TB, what string, start func(port int) error) {
	t.Helper()
	var lastErr error
	for range 5 {
		port, err := FreePort()
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		if lastErr = start(port); lastErr == nil {
			return
		}
	}
	t.Fatalf("%s did not start: %v", what, lastErr)
}
