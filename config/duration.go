package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration that a file writes as a string such as "10s"
// or "1m30s" (time.ParseDuration), or as a plain number of seconds (30, 0.5).
// It marshals back as a string.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d like time.Duration ("1m30s").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes d like String.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads "10s", "1m30s" or a number of seconds ("30", "0.5").
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

const durationWant = `want a duration such as "10s" or "1m30s", or a number of seconds`

func (d *Duration) setHJSON(dec *decoder, path string, v any) {
	s, ok := scalarString(v)
	if !ok {
		dec.failf(path, "%s, got %s", durationWant, describe(v))
		return
	}
	x, err := parseDuration(s)
	if err != nil {
		dec.failf(path, "%s, got %s%s", durationWant, describe(v), commaHint(s))
		return
	}
	*d = x
}

func parseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if d, err := time.ParseDuration(s); err == nil {
		return Duration(d), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || strings.ContainsAny(s, "xXpP_") {
		return 0, fmt.Errorf("%q: %s", s, durationWant)
	}
	ns := f * float64(time.Second)
	if math.Abs(ns) >= math.MaxInt64 {
		return 0, fmt.Errorf("%q: too long; %s", s, durationWant)
	}
	return Duration(ns), nil
}
