package loadgen

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// CPU is the CPU used over a window, in percent of one core (200 is both
// cores of a 2-core machine), by the generator and, when its PID was given,
// by the server.
type CPU struct {
	Generator float64  `json:"gen_pct"`
	Server    *float64 `json:"server_pct,omitempty"`
}

func (m *cpuMeter) shares() CPU {
	c := CPU{Generator: round1(m.selfPct)}
	if m.serverKnown {
		v := round1(m.serverPct)
		c.Server = &v
	}
	return c
}

// String formats the shares as "gen CPU 45%, server CPU 80%".
func (c CPU) String() string {
	s := "gen CPU " + pct(c.Generator)
	if c.Server != nil {
		s += ", server CPU " + pct(*c.Server)
	}
	return s
}

// pct formats a CPU share, with a decimal below 10 %.
func pct(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.1f%%", v)
	}
	return fmt.Sprintf("%.0f%%", v)
}

// Result is the outcome of one run: its parameters and its figures. It is
// printed as one JSON line; fields that do not apply to the scenario are
// left out.
type Result struct {
	Scenario      string  `json:"scenario"`
	Protocol      string  `json:"protocol"`
	Target        string  `json:"target"`
	PublishTarget string  `json:"publish_target,omitempty"` // --publish-target when given: where fanout and channels published
	Date          string  `json:"date"`                     // start, RFC 3339
	Cores         int     `json:"cores"`                    // runtime.NumCPU of the generator's machine
	Connections   int     `json:"connections"`
	Channels      int     `json:"channels,omitempty"`
	Publishers    int     `json:"publishers,omitempty"`
	Rate          float64 `json:"rate,omitempty"` // requested publishes/s; 0 = as fast as accepted
	Payload       int     `json:"payload,omitempty"`
	// Window is fanout's and channels' flow-control window (Options.Window):
	// at most this many messages ahead of a channel's slowest subscriber;
	// 0 = open loop.
	Window *int `json:"window,omitempty"`

	ConnectS    float64 `json:"connect_s"`     // time to open (and subscribe) every connection
	ConnectRate float64 `json:"connect_per_s"` // connections opened per second
	ConnectCPU  CPU     `json:"connect_cpu"`   // CPU while connecting

	DurationS float64 `json:"duration_s"` // the measured window: idle, publishing or echoing
	CPU       CPU     `json:"cpu"`        // CPU over the measured window (and drain)

	Published     uint64   `json:"published,omitempty"`
	PublishRate   float64  `json:"publishes_per_s,omitempty"`
	PublishErrors uint64   `json:"publish_errors,omitempty"`
	Expected      uint64   `json:"expected,omitempty"` // deliveries due: each publish times its channel's subscribers
	Received      uint64   `json:"received,omitempty"`
	Lost          uint64   `json:"lost"`                // sequence numbers never received
	Reordered     uint64   `json:"reordered,omitempty"` // received after a later one, or twice
	Malformed     uint64   `json:"malformed,omitempty"` // messages without a readable marker
	DeliveryRate  float64  `json:"deliveries_per_s,omitempty"`
	RoundTripRate float64  `json:"round_trips_per_s,omitempty"`
	Latency       *Latency `json:"latency,omitempty"`
	WindowWaits   uint64   `json:"window_waits,omitempty"`    // times a publisher found the window full
	WindowWaitPct float64  `json:"window_wait_pct,omitempty"` // share of publisher time spent waiting for the window
	// NoLoss (fanout, channels) is whether the run meets "no message lost":
	// nothing lost, no subscriber disconnected, no publish failed.
	NoLoss *bool `json:"no_loss,omitempty"`

	ServerRSSBefore  int64   `json:"server_rss_before_bytes,omitempty"`
	ServerRSS        int64   `json:"server_rss_bytes,omitempty"`
	ServerRSSPerConn float64 `json:"server_rss_per_conn_bytes,omitempty"` // (RSS after idle - before) / connections
	HeapProfile      string  `json:"heap_profile,omitempty"`

	Churned     uint64 `json:"churned,omitempty"`      // churn: connections opened, confirmed and closed
	ChurnFailed uint64 `json:"churn_failed,omitempty"` // churn: connections that failed to open or confirm
	ChurnMissed uint64 `json:"churn_missed,omitempty"` // churn: ticks skipped, --connections all in progress

	Disconnects uint64   `json:"disconnects"` // connections the server ended during the run
	Errors      []string `json:"errors,omitempty"`
}

func (r *runner) newResult() *Result {
	o := &r.o
	res := &Result{
		Scenario:      o.Scenario,
		Protocol:      o.Protocol,
		Target:        o.Target,
		PublishTarget: o.PublishTarget,
		Date:          r.epoch.UTC().Format(time.RFC3339),
		Cores:         runtime.NumCPU(),
		Connections:   o.conns(),
		Payload:       o.Payload,
	}
	switch o.Scenario {
	case ScenarioHold:
		res.Payload = 0
		if o.Protocol != ProtocolEcho {
			res.Channels = o.Channels
		}
	case ScenarioChurn:
		res.Payload, res.Rate = 0, o.Rate
	case ScenarioFanout, ScenarioChannels:
		res.Channels, res.Publishers, res.Rate = o.Channels, o.Publishers, o.Rate
		w := max(o.Window, 0)
		res.Window = &w
	}
	return res
}

// String is the readable one-line form of the result.
func (res *Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", res.Scenario, res.Protocol)
	switch res.Scenario {
	case ScenarioHold:
		fmt.Fprintf(&b, " %s conns", Thousands(float64(res.Connections)))
	case ScenarioEcho:
		fmt.Fprintf(&b, " %s conns B=%d", Thousands(float64(res.Connections)), res.Payload)
	case ScenarioChurn:
		fmt.Fprintf(&b, " R=%s/s for %.0f s: %s churned (%s/s), %d failed, %d missed; %s",
			rate(res.Rate), res.DurationS, Thousands(float64(res.Churned)), Thousands(res.ConnectRate), res.ChurnFailed, res.ChurnMissed, res.CPU)
		if res.ServerRSS > 0 {
			fmt.Fprintf(&b, "; server RSS %.1f -> %.1f MiB", float64(res.ServerRSSBefore)/(1<<20), float64(res.ServerRSS)/(1<<20))
		}
		return b.String()
	default:
		fmt.Fprintf(&b, " S=%s C=%s P=%d R=%s B=%d W=%s", Thousands(float64(res.Connections)), Thousands(float64(res.Channels)),
			res.Publishers, rate(res.Rate), res.Payload, windowStr(res.Window))
		if res.PublishTarget != "" && res.PublishTarget != res.Target {
			fmt.Fprintf(&b, " pub=%s", res.PublishTarget) // another node: a cross-node run
		}
	}
	fmt.Fprintf(&b, ": connected in %.2f s (%s/s; %s)", res.ConnectS, Thousands(res.ConnectRate), res.ConnectCPU)
	switch res.Scenario {
	case ScenarioHold:
		if res.ServerRSS > 0 {
			fmt.Fprintf(&b, "; server RSS %.1f MiB, %s B/conn", float64(res.ServerRSS)/(1<<20), Thousands(res.ServerRSSPerConn))
		}
		fmt.Fprintf(&b, "; idle %.0f s: %s", res.DurationS, res.CPU)
	case ScenarioEcho:
		fmt.Fprintf(&b, "; %s round trips/s, %s (%s)", Thousands(res.RoundTripRate), res.Latency, res.CPU)
	default:
		fmt.Fprintf(&b, "; %s deliveries/s, %s publishes/s, %s, lost %s of %s (%s)",
			Thousands(res.DeliveryRate), Thousands(res.PublishRate), res.Latency,
			Thousands(float64(res.Lost)), Thousands(float64(res.Expected)), res.CPU)
		if res.PublishErrors > 0 {
			fmt.Fprintf(&b, "; %d publish errors", res.PublishErrors)
		}
		if res.WindowWaits > 0 {
			fmt.Fprintf(&b, "; publishers waited for the window %.0f%% of the time", res.WindowWaitPct)
		}
		if res.Disconnects > 0 {
			fmt.Fprintf(&b, "; SERVER DISCONNECTED %s of %s subscribers (slow consumers?)",
				Thousands(float64(res.Disconnects)), Thousands(float64(res.Connections)))
		}
		if res.NoLoss != nil && !*res.NoLoss {
			b.WriteString("; NOT a no-loss run")
		}
		return b.String()
	}
	if res.Disconnects > 0 {
		fmt.Fprintf(&b, "; %d disconnected", res.Disconnects)
	}
	return b.String()
}

// setNoLoss decides NoLoss for fanout and channels.
func (res *Result) setNoLoss() {
	ok := res.Lost == 0 && res.Disconnects == 0 && res.PublishErrors == 0 && res.Received >= res.Expected
	res.NoLoss = &ok
}

// windowStr formats a flow-control window: "off" for open loop.
func windowStr(w *int) string {
	if w == nil || *w <= 0 {
		return "off"
	}
	return strconv.Itoa(*w)
}

// String formats the percentiles in milliseconds.
func (l *Latency) String() string {
	if l == nil || l.Count == 0 {
		return "no latency samples"
	}
	return fmt.Sprintf("latency p50 %s p95 %s p99 %s max %s ms", msStr(l.P50), msStr(l.P95), msStr(l.P99), msStr(l.Max))
}

// Thousands formats n, rounded to a whole number, with thousands
// separators: 1234567 -> "1,234,567".
func Thousands(n float64) string {
	s := fmt.Sprintf("%.0f", n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func rate(r float64) string {
	if r == 0 {
		return "max"
	}
	return Thousands(r)
}

func msStr(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }
