package loadgen

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat CPU times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// ReadRSS returns the resident set size of process pid in bytes, from the
// VmRSS line of /proc/PID/status.
func ReadRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("server RSS: %w", err)
	}
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest) // "123456 kB"
		if len(f) != 2 || string(f[1]) != "kB" {
			break
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			break
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("server RSS: no VmRSS line in /proc/%d/status", pid)
}

// ReadCPU returns the user plus system CPU time process pid has used, from
// /proc/PID/stat.
func ReadCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("server CPU: %w", err)
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// count fields from the last ')'. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("server CPU: unexpected /proc/%d/stat", pid)
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3
	if len(f) < 13 {
		return 0, fmt.Errorf("server CPU: short /proc/%d/stat", pid)
	}
	var ticks int64
	for _, s := range f[11:13] {
		v, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("server CPU: %w", err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// cpuMeter measures the CPU share of this process and, when pid is not 0,
// of the server over a window.
type cpuMeter struct {
	pid         int
	wall        time.Time
	self        int64
	server      time.Duration
	serverErr   error
	selfPct     float64
	serverPct   float64
	serverKnown bool
}

func startCPU(pid int) *cpuMeter {
	m := &cpuMeter{pid: pid, wall: time.Now(), self: processCPU()}
	if pid != 0 {
		m.server, m.serverErr = ReadCPU(pid)
	}
	return m
}

// stop ends the window and computes the shares, in percent of one core.
func (m *cpuMeter) stop() {
	wall := time.Since(m.wall)
	if wall <= 0 {
		return
	}
	m.selfPct = 100 * float64(processCPU()-m.self) / float64(wall)
	if m.pid != 0 && m.serverErr == nil {
		s, err := ReadCPU(m.pid)
		if err == nil {
			m.serverPct = 100 * float64(s-m.server) / float64(wall)
			m.serverKnown = true
		}
	}
}
