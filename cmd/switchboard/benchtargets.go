package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/switchboard-rt/switchboard/internal/loadgen"
)

// benchTarget is one of the project's load targets (BENCHMARKS.md), the
// configuration it is measured in (scripts/bench.sh full) and, where the
// README quotes one, the README's figure for it.
type benchTarget struct {
	scenario, protocol string
	asFast             bool // published as fast as accepted (rate 0)
	conns, channels    int  // connections or subscribers; channels
	window             int  // flow-control window of an as-fast run
	seconds            float64
	goal               string // the target, in words
	readme             string // the README's headline figure; "" for none
	met                func(r *loadgen.Result) bool
}

// benchTargets are the targets a run of scripts/bench.sh is set beside.
var benchTargets = []benchTarget{
	{
		scenario: loadgen.ScenarioHold, protocol: loadgen.ProtocolPusher, conns: 19000, seconds: 10,
		goal: "≤ 2 KiB server RSS per connection, ≥ 8,000 connects/s", readme: "1.7 KB per idle subscribed connection",
		met: func(r *loadgen.Result) bool { return r.ServerRSSPerConn <= 2048 && r.ConnectRate >= 8000 },
	},
	{
		scenario: loadgen.ScenarioHold, protocol: loadgen.ProtocolTokens, conns: 19000, seconds: 10,
		goal: "≤ 2 KiB server RSS per connection, ≥ 8,000 connects/s",
		met:  func(r *loadgen.Result) bool { return r.ServerRSSPerConn <= 2048 && r.ConnectRate >= 8000 },
	},
	{
		scenario: loadgen.ScenarioFanout, protocol: loadgen.ProtocolPusher, asFast: true, conns: 1000, channels: 1, window: 8, seconds: 10,
		goal: "≥ 750,000 deliveries/s, p99 < 20 ms", readme: "1.2 M deliveries/s, p99 13 ms",
		met: func(r *loadgen.Result) bool { return r.DeliveryRate >= 750000 && p99(r) < 20 },
	},
	{
		scenario: loadgen.ScenarioChannels, protocol: loadgen.ProtocolPusher, asFast: true, conns: 10000, channels: 1000, window: 64, seconds: 10,
		goal: "≥ 15,000 publishes/s, p99 < 2 ms",
		met:  func(r *loadgen.Result) bool { return r.PublishRate >= 15000 && p99(r) < 2 },
	},
}

func p99(r *loadgen.Result) float64 {
	if r.Latency == nil {
		return 0
	}
	return r.Latency.P99
}

// targetOf returns the target r is a run of, if any.
func targetOf(r *loadgen.Result) (benchTarget, bool) {
	for _, t := range benchTargets {
		rateMatches := t.scenario == loadgen.ScenarioHold || t.asFast == (r.Rate == 0)
		if t.scenario == r.Scenario && t.protocol == r.Protocol && rateMatches {
			return t, true
		}
	}
	return benchTarget{}, false
}

// differences says how r's configuration differs from t's; none means the
// figures can be compared.
func (t benchTarget) differences(r *loadgen.Result) []string {
	var d []string
	noun := "connections"
	if t.scenario != loadgen.ScenarioHold {
		noun = "subscribers"
	}
	if r.Connections != t.conns {
		d = append(d, fmt.Sprintf("%s %s (target's run: %s)", loadgen.Thousands(float64(r.Connections)), noun, loadgen.Thousands(float64(t.conns))))
	}
	if t.channels > 1 && r.Channels != t.channels {
		d = append(d, fmt.Sprintf("%s channels (%s)", loadgen.Thousands(float64(r.Channels)), loadgen.Thousands(float64(t.channels))))
	}
	if t.asFast && (r.Window == nil || *r.Window != t.window) {
		w := "open loop"
		if r.Window != nil && *r.Window > 0 {
			w = fmt.Sprintf("--window %d", *r.Window)
		}
		d = append(d, fmt.Sprintf("%s (--window %d)", w, t.window))
	}
	if r.DurationS < t.seconds*0.9 || r.DurationS > t.seconds*1.1 {
		d = append(d, fmt.Sprintf("a %.0f s measurement (%.0f s)", r.DurationS, t.seconds))
	}
	return d
}

// figures are r's measured figures that t is about.
func (t benchTarget) figures(r *loadgen.Result) string {
	switch t.scenario {
	case loadgen.ScenarioHold:
		return fmt.Sprintf("%s B per connection, %s connects/s", loadgen.Thousands(r.ServerRSSPerConn), loadgen.Thousands(r.ConnectRate))
	case loadgen.ScenarioChannels:
		return fmt.Sprintf("%s publishes/s, p99 %.1f ms", loadgen.Thousands(r.PublishRate), p99(r))
	}
	return fmt.Sprintf("%s deliveries/s, p99 %.1f ms", loadgen.Thousands(r.DeliveryRate), p99(r))
}

// writeBesideTargets prints each result that has a target beside it and
// the README's figure, and says whether the two can be compared.
func writeBesideTargets(w io.Writer, results []loadgen.Result) {
	fmt.Fprintln(w, "Beside the project's targets (BENCHMARKS.md, measured with scripts/bench.sh full) and the README's figures:")
	for i := range results {
		r := &results[i]
		t, ok := targetOf(r)
		if !ok {
			continue
		}
		fmt.Fprintf(w, "\n  %s %s: %s\n", r.Scenario, r.Protocol, t.figures(r))
		fmt.Fprintf(w, "    target: %s\n", t.goal)
		if t.readme != "" {
			fmt.Fprintf(w, "    README: %s\n", t.readme)
		}
		if d := t.differences(r); len(d) > 0 {
			fmt.Fprintf(w, "    not comparable (neither a regression nor a gain): this run had %s\n", strings.Join(d, ", "))
			continue
		}
		verdict := "meets the target"
		if !t.met(r) {
			verdict = "MISSES the target (BENCHMARKS.md says which targets this machine misses and why)"
		}
		fmt.Fprintf(w, "    same configuration as the target's run: %s\n", verdict)
	}
	fmt.Fprintln(w, "\nscripts/bench.sh full 3 runs the targets' configurations; the CPU shares in the table show a run starved by other load.")
}

// benchTargetsCommand runs `switchboard bench targets [FILE]`.
func benchTargetsCommand(e *env, args []string) error {
	results, err := readResultsArg("targets", args)
	if err != nil {
		return err
	}
	writeBesideTargets(e.stdout, results)
	return nil
}
