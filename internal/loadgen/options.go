package loadgen

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Scenario names, as given to `switchboard bench <scenario>`.
const (
	ScenarioHold     = "hold"
	ScenarioFanout   = "fanout"
	ScenarioChannels = "channels"
	ScenarioEcho     = "echo"
	ScenarioChurn    = "churn"
)

// Scenarios lists the scenario names in the order `make bench` runs them.
var Scenarios = []string{ScenarioHold, ScenarioFanout, ScenarioChannels, ScenarioEcho, ScenarioChurn}

// Protocol names for Options.Protocol.
const (
	ProtocolPusher = "pusher" // Pusher Channels v7: /app/{key}, signed REST publish
	ProtocolTokens = "tokens" // token broker: /ws?RegisterToken=, form API or `recipients|text` frames
	ProtocolEcho   = "echo"   // /echo: whatever is sent comes back
)

// Ways a token-broker publisher may publish, for Options.PublishVia.
const (
	PublishHTTP = "http" // POST / method=broadcast&message=...; each call waits for the answer
	PublishWS   = "ws"   // `recipients|text` frames on a WebSocket; no back-pressure
)

// ErrNotLoopback is returned for a target that is not a loopback address.
var ErrNotLoopback = errors.New("only loopback targets are allowed (127.0.0.0/8, ::1, localhost)")

// Options configures one run. Zero fields take the defaults of the
// scenario, listed in Defaults; Run never changes the caller's struct.
type Options struct {
	// Scenario is one of ScenarioHold, ScenarioFanout, ScenarioChannels,
	// ScenarioEcho.
	Scenario string

	// Protocol is ProtocolPusher (default), ProtocolTokens or ProtocolEcho.
	// The echo scenario always speaks ProtocolEcho; fanout and channels need
	// a protocol that can publish (pusher or tokens).
	Protocol string

	// Target is the server's host:port, a loopback address. Default
	// "127.0.0.1:8000".
	Target string

	// PublishTarget is the host:port fanout's and channels' publishers
	// publish to, a loopback address; "" (the default) is Target. Pointing
	// it at a second node that shares the first one's Redis measures
	// delivery across nodes: subscribers on Target, publishes on this one.
	PublishTarget string

	// Connections is how many connections hold and echo open. Defaults:
	// hold 1,000, echo 100.
	Connections int

	// Subscribers is how many subscribers fanout and channels open.
	// Defaults: fanout 1,000, channels 10,000.
	Subscribers int

	// Channels is how many channels the subscribers are spread over
	// (subscriber i is on channel i mod Channels). Defaults: hold 100,
	// fanout 1 (always), channels 1,000.
	Channels int

	// Rate is the total publish rate in messages per second over all
	// publishers; 0 publishes as fast as the server answers. A message to a
	// channel of k subscribers is k deliveries.
	Rate float64

	// Payload is the size of each published message's text in bytes. A
	// message is never shorter than its marker (about 30 bytes). Default 100.
	Payload int

	// Publishers is how many publishers run at once, each with its own
	// keep-alive connection and its own sequence numbers. Default 16: "as
	// fast as accepted" means this many publishes in flight.
	Publishers int

	// Window bounds, per channel, how many messages publishing may be
	// ahead of the slowest live subscriber: a publisher waits while that
	// many are published and not yet received (see flow.go). 0 takes the
	// default: DefaultWindow when Rate is 0 (as fast as accepted), off for
	// a paced run; WindowOff (any negative value) publishes open loop, as
	// fast as the server queues. Keep it below the server's send queue
	// (Switchboard: websocket.send_queue, 256 by default), or the server
	// may still close subscribers as slow consumers.
	Window int

	// Messages caps the publishes of a run, 0 for no cap; the run ends at
	// Messages or Duration, whichever comes first.
	Messages int

	// Duration is how long fanout and channels publish and echo runs.
	// Default 10 s.
	Duration time.Duration

	// Drain is how long to wait after the last publish for messages still
	// in flight; what has not arrived by then is counted lost. Default 3 s.
	Drain time.Duration

	// Idle is hold's measurement window: how long the connections stay
	// open, idle, while the server's CPU is measured. Default 5 s.
	Idle time.Duration

	// ConnectConcurrency is how many connections are being opened at once.
	// Default 32.
	ConnectConcurrency int

	// Sources is how many source addresses (127.0.0.1, 127.0.0.2, ...) the
	// connections are spread over, since one address has about 28,000
	// ephemeral ports towards one server port. 0 means one per 10,000
	// connections. IPv6 targets always use ::1.
	Sources int

	// ConnectTimeout bounds one connection's TCP connect, handshake and
	// subscription. Default 10 s.
	ConnectTimeout time.Duration

	// ServerPID, when not 0, is the server's process ID: its RSS and CPU are
	// read from /proc/PID and reported beside the figures.
	ServerPID int

	// AppID, AppKey and AppSecret are the Pusher app's credentials.
	// Defaults "app-id", "app-key", "app-secret".
	AppID, AppKey, AppSecret string

	// PublishVia is how the token-broker protocol publishes: PublishHTTP
	// (default) or PublishWS.
	PublishVia string

	// HeapProfileURL, when set, is fetched at the end of hold's idle window
	// (for example http://127.0.0.1:6060/debug/pprof/heap) and written to
	// HeapProfileOut. It must be a loopback URL.
	HeapProfileURL string

	// HeapProfileOut is the file HeapProfileURL is written to. Default
	// "heap.pprof".
	HeapProfileOut string
}

// DefaultWindow is the flow-control window of runs as fast as accepted: a
// quarter of Switchboard's default send queue of 256 messages.
const DefaultWindow = 64

// WindowOff is Options.Window for open-loop publishing (`--window 0`).
const WindowOff = -1

// Defaults returns o with every zero field set to the default of its
// scenario.
func (o Options) Defaults() Options {
	setDefault(&o.Protocol, ProtocolPusher)
	switch o.Scenario {
	case ScenarioEcho:
		o.Protocol = ProtocolEcho
		setDefault(&o.Connections, 100)
		o.Channels = 1
	case ScenarioHold:
		setDefault(&o.Connections, 1000)
		setDefault(&o.Channels, 100)
	case ScenarioFanout:
		setDefault(&o.Subscribers, 1000)
		o.Channels = 1
	case ScenarioChannels:
		setDefault(&o.Subscribers, 10000)
		setDefault(&o.Channels, 1000)
	case ScenarioChurn:
		setDefault(&o.Connections, 1000) // at most this many in progress at once
		setDefault(&o.Channels, 100)
		setDefault(&o.Rate, 100)
		// Many connections a second from one address pair would run out
		// of ephemeral ports: one source address per 10,000 a minute.
		setDefault(&o.Sources, min(250, int(o.Rate*60/10000)+1))
	}
	switch {
	case !o.publishes(), o.Window < 0:
		o.Window = WindowOff
	case o.Window == 0 && o.Rate == 0:
		o.Window = DefaultWindow
	case o.Window == 0:
		o.Window = WindowOff
	}
	setDefault(&o.Target, "127.0.0.1:8000")
	setDefault(&o.Payload, 100)
	setDefault(&o.Publishers, 16)
	setDefault(&o.Duration, 10*time.Second)
	setDefault(&o.Drain, 3*time.Second)
	setDefault(&o.Idle, 5*time.Second)
	setDefault(&o.ConnectConcurrency, 32)
	setDefault(&o.ConnectTimeout, 10*time.Second)
	setDefault(&o.AppID, "app-id")
	setDefault(&o.AppKey, "app-key")
	setDefault(&o.AppSecret, "app-secret")
	setDefault(&o.PublishVia, PublishHTTP)
	setDefault(&o.HeapProfileOut, "heap.pprof")
	return o
}

// setDefault sets *f to v if *f is the zero value.
func setDefault[T comparable](f *T, v T) {
	var zero T
	if *f == zero {
		*f = v
	}
}

// publishes reports whether the scenario publishes and counts deliveries
// (fanout, channels).
func (o *Options) publishes() bool {
	return o.Scenario == ScenarioFanout || o.Scenario == ScenarioChannels
}

// conns is how many connections the scenario opens to be measured.
func (o *Options) conns() int {
	if o.publishes() {
		return o.Subscribers
	}
	return o.Connections
}

// Limits that keep a mistyped flag from turning into a runaway load.
const (
	maxConnections = 1_000_000
	maxDuration    = time.Hour
	maxPayload     = 1 << 20
	maxWindow      = 1 << 20
)

// Validate reports every problem with o (defaults applied) at once, each
// naming the flag and the fix.
func (o *Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !slices.Contains(Scenarios, o.Scenario) {
		bad("unknown scenario %q: use one of %s", o.Scenario, strings.Join(Scenarios, ", "))
	}
	if !slices.Contains([]string{ProtocolPusher, ProtocolTokens, ProtocolEcho}, o.Protocol) {
		bad("--protocol %q: use pusher, tokens or echo", o.Protocol)
	}
	if o.publishes() && o.Protocol == ProtocolEcho {
		bad("--protocol echo cannot publish: %s needs pusher or tokens", o.Scenario)
	}
	if n := o.conns(); n < 1 || n > maxConnections {
		bad("--connections/--subscribers %d: use 1 to %d", n, maxConnections)
	}
	if o.Channels < 1 || (o.publishes() && o.Channels > o.Subscribers) {
		bad("--channels %d: use 1 to the number of subscribers", o.Channels)
	}
	if o.Rate < 0 {
		bad("--rate %g: use 0 (as fast as accepted) or a positive rate", o.Rate)
	}
	if o.Payload < 1 || o.Payload > maxPayload {
		bad("--payload %d: use 1 to %d bytes", o.Payload, maxPayload)
	}
	if o.Publishers < 1 || o.Publishers > 1000 {
		bad("--publishers %d: use 1 to 1000", o.Publishers)
	}
	if o.Window > maxWindow {
		bad("--window %d: use 0 (open loop) or 1 to %d, below the server's send queue", o.Window, maxWindow)
	}
	if o.Messages < 0 {
		bad("--messages %d: use 0 (no cap) or more", o.Messages)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--duration", o.Duration}, {"--drain", o.Drain}, {"--idle", o.Idle}, {"--connect-timeout", o.ConnectTimeout}} {
		if d.v <= 0 || d.v > maxDuration {
			bad("%s %s: use more than 0 and at most %s", d.name, d.v, maxDuration)
		}
	}
	if o.ConnectConcurrency < 1 || o.ConnectConcurrency > 10000 {
		bad("--connect-concurrency %d: use 1 to 10000", o.ConnectConcurrency)
	}
	if o.Sources < 0 || o.Sources > 250 {
		bad("--sources %d: use 0 (automatic) to 250", o.Sources)
	}
	if o.PublishVia != PublishHTTP && o.PublishVia != PublishWS {
		bad("--publish-via %q: use http or ws", o.PublishVia)
	}
	if o.ServerPID < 0 {
		bad("--server-pid %d: use a process ID", o.ServerPID)
	}
	if err := checkTargetSyntax(o.Target); err != nil {
		bad("--target: %w", err)
	}
	if o.PublishTarget != "" {
		if !o.publishes() {
			bad("--publish-target: %s does not publish; use it with fanout or channels", o.Scenario)
		} else if err := checkTargetSyntax(o.PublishTarget); err != nil {
			bad("--publish-target: %w", err)
		}
	}
	if o.HeapProfileURL != "" {
		if err := checkLoopbackURL(o.HeapProfileURL); err != nil {
			bad("--heap-profile-url: %w", err)
		}
	}
	return errors.Join(errs...)
}

// RegisterFlags defines a flag for every option on fs, writing into o. The
// flag defaults shown are zero: Defaults fills in the scenario's own.
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Protocol, "protocol", "", "`pusher`, tokens or echo (default pusher; echo scenario: echo)")
	fs.StringVar(&o.Target, "target", "", "server `host:port`, loopback only (default 127.0.0.1:8000)")
	fs.StringVar(&o.PublishTarget, "publish-target", "", "fanout, channels: publish to this server `host:port` instead, loopback only, e.g. a second node on the same Redis (default --target)")
	fs.IntVar(&o.Connections, "connections", 0, "connections for hold and echo; churn: at most this many in progress at once (default hold and churn 1000, echo 100)")
	fs.IntVar(&o.Subscribers, "subscribers", 0, "subscribers for fanout and channels (default fanout 1000, channels 10000)")
	fs.IntVar(&o.Channels, "channels", 0, "channels the connections are spread over (default hold 100, fanout 1, channels 1000)")
	fs.Float64Var(&o.Rate, "rate", 0, "publishes per second over all publishers; 0 = as fast as the server answers (churn: connects and disconnects per second, default 100)")
	fs.IntVar(&o.Payload, "payload", 0, "published message size in `bytes` (default 100)")
	fs.IntVar(&o.Publishers, "publishers", 0, "concurrent publishers, each with one publish in flight (default 16)")
	fs.Func("window", "flow control: at most `N` messages published and not yet received by the slowest subscriber of a channel; 0 = open loop (default 64 at --rate 0, else 0)", func(v string) error {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil:
			return errors.New("not a whole number")
		case n < 0:
			return errors.New("use 0 (open loop) or a positive number")
		case n == 0:
			o.Window = WindowOff
		default:
			o.Window = n
		}
		return nil
	})
	fs.IntVar(&o.Messages, "messages", 0, "stop after this many publishes; 0 = no cap")
	fs.DurationVar(&o.Duration, "duration", 0, "how long to publish (fanout, channels) or run (echo) (default 10s)")
	fs.DurationVar(&o.Drain, "drain", 0, "wait this long after the last publish before counting losses (default 3s)")
	fs.DurationVar(&o.Idle, "idle", 0, "hold: how long to keep the connections idle while measuring (default 5s)")
	fs.IntVar(&o.ConnectConcurrency, "connect-concurrency", 0, "connections being opened at once (default 32)")
	fs.IntVar(&o.Sources, "sources", 0, "source addresses 127.0.0.1..127.0.0.N; 0 = one per 10000 connections")
	fs.DurationVar(&o.ConnectTimeout, "connect-timeout", 0, "bound on one connection's connect, handshake and subscribe (default 10s)")
	fs.IntVar(&o.ServerPID, "server-pid", 0, "server `pid`: report its RSS and CPU from /proc")
	fs.StringVar(&o.AppID, "app-id", "", "Pusher app id (default app-id)")
	fs.StringVar(&o.AppKey, "app-key", "", "Pusher app key (default app-key)")
	fs.StringVar(&o.AppSecret, "app-secret", "", "Pusher app secret (default app-secret)")
	fs.StringVar(&o.PublishVia, "publish-via", "", "tokens: publish with `http` (form API, default) or ws (frames, no back-pressure)")
	fs.StringVar(&o.HeapProfileURL, "heap-profile-url", "", "hold: fetch this loopback `URL` (a pprof heap endpoint) at the end of the idle window")
	fs.StringVar(&o.HeapProfileOut, "heap-profile-out", "", "hold: file for --heap-profile-url (default heap.pprof)")
}
