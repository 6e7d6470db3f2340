package testproc

import (
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestStart(t *testing.T) {
	tests := []struct {
		name    string
		script  string // run by sh -c
		ready   bool
		wantErr string // "" for success
	}{
		{name: "ready", script: "exec sleep 60", ready: true},
		{name: "exits before it is ready", script: "echo no config; exit 3", wantErr: "exited: no config"},
		{name: "never ready", script: "exec sleep 60", wantErr: "was not ready within 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Process{
				Name:        "sh",
				Command:     func() *exec.Cmd { return exec.Command("sh", "-c", tt.script) },
				Ready:       func() bool { return tt.ready },
				ReadyWithin: 200 * time.Millisecond,
				Poll:        10 * time.Millisecond,
			}
			err := p.Start()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Start: %v", err)
				}
				if !p.Running() {
					t.Fatal("Running is false after a successful Start")
				}
				p.Stop()
				if p.Running() {
					t.Fatal("Running is true after Stop")
				}
				p.Stop() // a second Stop does nothing
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Start = %v, want an error containing %q", err, tt.wantErr)
			}
			if p.Running() {
				t.Fatal("Running is true after a failed Start")
			}
		})
	}
}

// TestRestartRetries checks that Restart tries again until the server
// comes up, as it must while a stopped server's port lingers.
func TestRestartRetries(t *testing.T) {
	var starts atomic.Int32
	p := &Process{
		Name: "sh",
		Command: func() *exec.Cmd {
			if starts.Add(1) < 3 {
				return exec.Command("sh", "-c", "exit 1") // the first two fail
			}
			return exec.Command("sh", "-c", "exec sleep 60")
		},
		Ready:       func() bool { return starts.Load() >= 3 },
		ReadyWithin: 5 * time.Second,
		Poll:        10 * time.Millisecond,
	}
	p.Restart(t, 0)
	defer p.Stop()
	if got := starts.Load(); got != 3 {
		t.Fatalf("Restart started the command %d times, want 3", got)
	}
}

func TestFreePort(t *testing.T) {
	port, err := FreePort()
	if err != nil || port <= 0 {
		t.Fatalf("FreePort = %d, %v", port, err)
	}
}
