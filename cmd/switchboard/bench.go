package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/switchboard-rt/switchboard/internal/loadgen"
)

const benchUsage = `Usage:
  switchboard bench <scenario> [flags]
  switchboard bench table [FILE]
  switchboard bench targets [FILE]

Scenarios (each bounded in count and time; loopback targets only):
  hold      open --connections idle connections, subscribed (pusher) or with a
            token (tokens); time to connect, server RSS per connection and idle CPU
  fanout    --subscribers on one channel, publishers at --rate (0 = as fast as
            accepted); deliveries/s, latency p50/p95/p99/max, messages lost
  channels  --subscribers over --channels channels, publishes to random channels
            (fanout, channels: at --rate 0, publishing stays at most --window 64
            messages ahead of a channel's slowest subscriber; --window 0 publishes
            open loop, as fast as the server queues, which overruns subscribers
            that cannot keep up and gets them closed as slow consumers)
  echo      --connections doing round trips on /echo; round trips/s and latency
  churn     connects, subscribes and disconnects at --rate a second for --duration
            (pusher, tokens or echo); the rate achieved, failures, server RSS

Every connection goes to --target (loopback only). fanout and channels may
publish to --publish-target instead, such as a second node on the same Redis,
to measure delivery across nodes (scripts/bench-cluster.sh).

Each run prints one JSON line on stdout and one readable line on stderr.
"table" reads JSON lines (from FILE or stdin) and prints them as a table;
"targets" prints them beside the project's targets and the README's figures,
and says which runs are not comparable to them (a shorter or smaller run).
Run 'switchboard bench <scenario> --help' for the flags.
`

// bench runs `switchboard bench <scenario> [flags]`.
func bench(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprint(e.stdout, benchUsage)
			return flag.ErrHelp
		}
		fmt.Fprint(e.stderr, benchUsage)
		return usageError{"missing scenario"}
	}
	scenario, rest := args[0], args[1:]
	switch scenario {
	case "table":
		return benchTable(e, rest)
	case "targets":
		return benchTargetsCommand(e, rest)
	}
	o := loadgen.Options{Scenario: scenario}
	fs := flag.NewFlagSet("bench "+scenario, flag.ContinueOnError)
	o.RegisterFlags(fs)
	cpuProfile := fs.String("cpuprofile", "", "write the generator's own CPU profile to `file`")
	if err := parseFlags(fs, e, rest); err != nil {
		return err
	}
	checked := o.Defaults()
	if err := checked.Validate(); err != nil {
		return usageError{strings.ReplaceAll(err.Error(), "\n", "; ")}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	res, err := loadgen.Run(ctx, o, e.stderr)
	if res != nil {
		line, jerr := json.Marshal(res)
		if jerr != nil {
			return jerr
		}
		fmt.Fprintf(e.stdout, "%s\n", line)
		fmt.Fprintf(e.stderr, "%s\n", res)
	}
	if errors.Is(err, context.Canceled) {
		return errors.New("bench: interrupted; the figures above are partial")
	}
	return err
}

// benchTable prints JSON result lines from a file or stdin as a table.
func benchTable(e *env, args []string) error {
	results, err := readResultsArg("table", args)
	if err != nil {
		return err
	}
	return loadgen.WriteTable(e.stdout, results)
}

// readResultsArg reads the JSON result lines of `bench COMMAND [FILE]`:
// from FILE, or from stdin when there is none.
func readResultsArg(command string, args []string) ([]loadgen.Result, error) {
	var in io.Reader = os.Stdin
	switch len(args) {
	case 0:
	case 1:
		f, err := os.Open(args[0])
		if err != nil {
			return nil, err
		}
		defer f.Close()
		in = f
	default:
		return nil, usageError{"bench " + command + " takes at most one file"}
	}
	return loadgen.ReadResults(in)
}
