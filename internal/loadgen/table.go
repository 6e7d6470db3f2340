package loadgen

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// ReadResults reads JSON result lines, as Run's caller prints them,
// skipping lines that are not JSON objects.
func ReadResults(r io.Reader) ([]Result, error) {
	var out []Result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var res Result
		if err := json.Unmarshal(line, &res); err != nil {
			return out, fmt.Errorf("result line %q: %w", clip(line), err)
		}
		out = append(out, res)
	}
	return out, sc.Err()
}

// WriteTable prints results as an aligned table, one row per run. A "!"
// after the lost count marks a fanout or channels run that does not meet
// "no message lost": losses, disconnected subscribers or failed publishes.
func WriteTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tprotocol\tconns\tchannels\trate\twindow\tconnect/s\tfigure\tpublish/s\tp50 ms\tp99 ms\tmax ms\tlost\tdisconn\tB/conn\tserver CPU\tgen CPU\t")
	for i := range results {
		r := &results[i]
		figure, p50, p99, maxL := "-", "-", "-", "-"
		switch {
		case r.DeliveryRate > 0:
			figure = Thousands(r.DeliveryRate) + " deliv/s"
		case r.RoundTripRate > 0:
			figure = Thousands(r.RoundTripRate) + " rt/s"
		case r.Scenario == ScenarioHold:
			figure = fmt.Sprintf("%s held", Thousands(float64(r.Connections)))
		}
		if l := r.Latency; l != nil && l.Count > 0 {
			p50, p99, maxL = msStr(l.P50), msStr(l.P99), msStr(l.Max)
		}
		perConn, srv := "-", "-"
		if r.ServerRSSPerConn != 0 {
			perConn = Thousands(r.ServerRSSPerConn)
		}
		if r.CPU.Server != nil {
			srv = pct(*r.CPU.Server)
		}
		lost, pubs, win := "-", "-", "-"
		if r.Scenario == ScenarioFanout || r.Scenario == ScenarioChannels {
			lost, pubs, win = Thousands(float64(r.Lost)), Thousands(r.PublishRate), windowStr(r.Window)
			if r.NoLoss != nil && !*r.NoLoss {
				lost += " !" // not a no-loss run
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			r.Scenario, r.Protocol, Thousands(float64(r.Connections)), dash(r.Channels), rateCol(r), win, Thousands(r.ConnectRate),
			figure, pubs, p50, p99, maxL, lost, Thousands(float64(r.Disconnects)), perConn, srv, pct(r.CPU.Generator))
	}
	return tw.Flush()
}

func dash(n int) string {
	if n == 0 {
		return "-"
	}
	return Thousands(float64(n))
}

func rateCol(r *Result) string {
	if r.Scenario != ScenarioFanout && r.Scenario != ScenarioChannels {
		return "-"
	}
	return rate(r.Rate)
}
