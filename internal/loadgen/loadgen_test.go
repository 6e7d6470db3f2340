package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// dropNone keeps every delivery.
func dropNone(int, uint64, uint64) bool { return false }

// TestPublishScenarios runs fanout and channels against a server that
// delays every message by a known amount and drops a known set, and checks
// that the generator reports latency at least the delay and exactly the
// dropped deliveries as lost.
func TestPublishScenarios(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		delay    time.Duration
		drop     func(sub int, pub, seq uint64) bool
		wantLost int64 // -1: whatever the server counted as dropped
	}{
		{
			name:     "pusher fanout, nothing lost",
			opts:     Options{Scenario: ScenarioFanout, Protocol: ProtocolPusher, Subscribers: 10, Publishers: 1, Messages: 20},
			delay:    0,
			drop:     dropNone,
			wantLost: 0,
		},
		{
			name:  "pusher fanout, delayed, head, middle and tail dropped",
			opts:  Options{Scenario: ScenarioFanout, Protocol: ProtocolPusher, Subscribers: 8, Publishers: 1, Messages: 20},
			delay: 40 * time.Millisecond,
			drop: func(sub int, _, seq uint64) bool {
				return sub == 1 && (seq == 2 || seq == 5 || seq == 19) || sub == 3 && seq == 0
			},
			wantLost: 4,
		},
		{
			name:  "pusher channels, two publishers, every 7th delivery dropped",
			opts:  Options{Scenario: ScenarioChannels, Protocol: ProtocolPusher, Subscribers: 12, Channels: 3, Publishers: 2, Messages: 60},
			delay: 10 * time.Millisecond,
			drop: func(sub int, pub, seq uint64) bool {
				return (uint64(sub)+pub+seq)%7 == 0
			},
			wantLost: -1,
		},
		{
			name:  "tokens fanout over HTTP, one subscriber loses everything after the first",
			opts:  Options{Scenario: ScenarioFanout, Protocol: ProtocolTokens, Subscribers: 6, Publishers: 1, Messages: 15},
			delay: 25 * time.Millisecond,
			drop: func(sub int, _, seq uint64) bool {
				return sub == 0 && seq > 0
			},
			wantLost: 14,
		},
		{
			name:  "tokens channels over WebSocket, paced",
			opts:  Options{Scenario: ScenarioChannels, Protocol: ProtocolTokens, PublishVia: PublishWS, Subscribers: 9, Channels: 3, Publishers: 3, Messages: 30, Rate: 300},
			delay: 15 * time.Millisecond,
			drop: func(sub int, pub, seq uint64) bool {
				return sub == 4 && seq%2 == 1
			},
			wantLost: -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeServer(t, tt.delay, tt.drop)
			o := tt.opts
			o.Target = f.target()
			o.Duration = 20 * time.Second // the message cap ends the run
			o.Drain = time.Second         // only runs with losses wait this long
			o.Payload = 64
			o.ServerPID = os.Getpid() // the fake server lives in this process
			res, err := Run(context.Background(), o, nil)
			if err != nil {
				t.Fatalf("Run: %v (result %+v)", err, res)
			}
			if len(res.Errors) > 0 || res.PublishErrors > 0 || f.badAuth.Load() > 0 || f.wrongHost.Load() > 0 {
				t.Fatalf("errors: %q, publish errors %d, refused signatures %d, wrong Host headers %d",
					res.Errors, res.PublishErrors, f.badAuth.Load(), f.wrongHost.Load())
			}
			if res.Published != uint64(o.Messages) || f.published.Load() != int64(o.Messages) {
				t.Fatalf("published %d, server saw %d, want %d", res.Published, f.published.Load(), o.Messages)
			}
			wantExpected := uint64(o.Messages) * uint64(o.Subscribers/max(o.Channels, 1))
			if res.Expected != wantExpected {
				t.Errorf("expected %d deliveries, want %d", res.Expected, wantExpected)
			}
			dropped := f.dropped.Load()
			if tt.wantLost >= 0 && dropped != tt.wantLost {
				t.Fatalf("the test's drop set dropped %d, want %d", dropped, tt.wantLost)
			}
			if int64(res.Lost) != dropped {
				t.Errorf("lost %d, the server dropped %d", res.Lost, dropped)
			}
			if res.Received != res.Expected-uint64(dropped) {
				t.Errorf("received %d, want %d", res.Received, res.Expected-uint64(dropped))
			}
			if res.Reordered != 0 || res.Malformed != 0 || res.Disconnects != 0 {
				t.Errorf("reordered %d, malformed %d, disconnects %d, want 0", res.Reordered, res.Malformed, res.Disconnects)
			}
			lat := res.Latency
			if lat == nil || lat.Count != res.Received {
				t.Fatalf("latency %+v, want %d samples", lat, res.Received)
			}
			d := float64(tt.delay) / 1e6
			if lat.P50 < d || lat.Max < lat.P99 || lat.P99 < lat.P95 || lat.P95 < lat.P50 {
				t.Errorf("latency %+v: want delay %.0f ms <= p50 <= p95 <= p99 <= max", lat, d)
			}
			if lat.P50 > d+2000 {
				t.Errorf("latency p50 %.1f ms, far above the delay %.0f ms", lat.P50, d)
			}
			if res.DeliveryRate <= 0 || res.ServerRSS <= 0 {
				t.Errorf("deliveries/s %.0f, server RSS %d: want both > 0", res.DeliveryRate, res.ServerRSS)
			}
			if o.Protocol == ProtocolPusher && f.pongs.Load() != int64(o.Subscribers) {
				t.Errorf("answered %d pusher:ping, want %d", f.pongs.Load(), o.Subscribers)
			}
			if s := res.String(); !strings.Contains(s, "deliveries/s") {
				t.Errorf("readable line %q", s)
			}
		})
	}
}

// TestPublishTarget runs fanout and channels with the subscribers on one
// fake server (A, the target) and the publishers on another (B, the
// publish target), which hands every publish it accepts to A's
// subscribers, as two nodes sharing a bus do. Every message must arrive,
// and A must not see a single publish.
func TestPublishTarget(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{
			name: "pusher fanout over REST",
			opts: Options{Scenario: ScenarioFanout, Protocol: ProtocolPusher, Subscribers: 10, Publishers: 2, Messages: 40},
		},
		{
			name: "tokens channels over the form API",
			opts: Options{Scenario: ScenarioChannels, Protocol: ProtocolTokens, Subscribers: 9, Channels: 3, Publishers: 2, Messages: 30},
		},
		{
			name: "tokens fanout over WebSocket, paced",
			opts: Options{Scenario: ScenarioFanout, Protocol: ProtocolTokens, PublishVia: PublishWS, Subscribers: 6, Publishers: 2, Messages: 20, Rate: 400},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newFakeServer(t, 5*time.Millisecond, dropNone)
			b := newFakeServer(t, 0, nil)
			b.forward = a
			o := tt.opts
			o.Target, o.PublishTarget = a.target(), b.target()
			o.Duration = 20 * time.Second // the message cap ends the run
			o.Drain = time.Second
			var progress strings.Builder
			res, err := Run(context.Background(), o, &progress)
			if err != nil {
				t.Fatalf("Run: %v (result %+v)", err, res)
			}
			if len(res.Errors) > 0 || res.PublishErrors > 0 || a.badAuth.Load()+b.badAuth.Load() > 0 {
				t.Fatalf("errors: %q, publish errors %d, refused signatures %d", res.Errors, res.PublishErrors, a.badAuth.Load()+b.badAuth.Load())
			}
			if n := a.wrongHost.Load() + b.wrongHost.Load(); n > 0 {
				t.Errorf("%d requests with another server's Host header", n)
			}
			if a.requests.Load() != 0 || a.published.Load() != 0 {
				t.Errorf("the target got %d publish requests (%d accepted), want none", a.requests.Load(), a.published.Load())
			}
			if b.requests.Load() != int64(o.Messages) || b.published.Load() != int64(o.Messages) {
				t.Errorf("the publish target got %d publish requests (%d accepted), want %d", b.requests.Load(), b.published.Load(), o.Messages)
			}
			a.mu.Lock()
			aSubs := a.nsubs
			a.mu.Unlock()
			b.mu.Lock()
			bSubs := b.nsubs
			b.mu.Unlock()
			if aSubs != o.Subscribers || bSubs != 0 {
				t.Errorf("subscriptions: %d on the target, %d on the publish target; want %d and 0", aSubs, bSubs, o.Subscribers)
			}
			if res.NoLoss == nil || !*res.NoLoss || res.Lost != 0 || res.Received != res.Expected || res.Expected == 0 {
				t.Errorf("no loss %v: lost %d, received %d of %d", res.NoLoss, res.Lost, res.Received, res.Expected)
			}
			if res.PublishTarget != o.PublishTarget {
				t.Errorf("result's publish target %q, want %q", res.PublishTarget, o.PublishTarget)
			}
			line, err := json.Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			if want := `"publish_target":"` + o.PublishTarget + `"`; !strings.Contains(string(line), want) {
				t.Errorf("JSON line %s: want %s", line, want)
			}
			if want := " pub=" + o.PublishTarget + ":"; !strings.Contains(res.String(), want) {
				t.Errorf("readable line %q: want %q", res, want)
			}
			if want := "publishing to " + o.PublishTarget; !strings.Contains(progress.String(), want) {
				t.Errorf("progress %q: want %q", progress.String(), want)
			}
		})
	}
}

// TestResultPublishTarget checks that the readable line names the publish
// target only when it is another server, and the JSON line whenever it was
// given.
func TestResultPublishTarget(t *testing.T) {
	tests := []struct {
		name, publishTarget string
		wantReadable        bool
		wantJSON            bool
	}{
		{name: "not given", publishTarget: ""},
		{name: "the target itself", publishTarget: "127.0.0.1:8000", wantJSON: true},
		{name: "another node", publishTarget: "127.0.0.1:8001", wantReadable: true, wantJSON: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := 64
			res := &Result{Scenario: ScenarioFanout, Protocol: ProtocolPusher, Target: "127.0.0.1:8000",
				PublishTarget: tt.publishTarget, Connections: 10, Channels: 1, Publishers: 1, Window: &w}
			if got := strings.Contains(res.String(), " pub="); got != tt.wantReadable {
				t.Errorf("readable line %q: mentions the publish target %v, want %v", res, got, tt.wantReadable)
			}
			line, err := json.Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(string(line), `"publish_target"`); got != tt.wantJSON {
				t.Errorf("JSON line %s: has publish_target %v, want %v", line, got, tt.wantJSON)
			}
		})
	}
}

func TestEcho(t *testing.T) {
	const delay = 20 * time.Millisecond
	f := newFakeServer(t, delay, nil)
	o := Options{Scenario: ScenarioEcho, Target: f.target(), Connections: 4, Duration: 300 * time.Millisecond, Payload: 200}
	res, err := Run(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Received == 0 || res.Malformed != 0 || res.Disconnects != 0 || len(res.Errors) > 0 {
		t.Fatalf("round trips %d, malformed %d, disconnects %d, errors %q", res.Received, res.Malformed, res.Disconnects, res.Errors)
	}
	if res.Latency.P50 < float64(delay)/1e6 {
		t.Errorf("p50 %.2f ms below the server's delay %s", res.Latency.P50, delay)
	}
	// Each connection waits for its echo: at most one round trip per delay.
	if most := float64(o.Connections) / delay.Seconds(); res.RoundTripRate > most*1.05 {
		t.Errorf("%.0f round trips/s, more than %d connections can do at %s each (%.0f)", res.RoundTripRate, o.Connections, delay, most)
	}
}

func TestHold(t *testing.T) {
	for _, proto := range []string{ProtocolPusher, ProtocolTokens, ProtocolEcho} {
		t.Run(proto, func(t *testing.T) {
			f := newFakeServer(t, 0, nil)
			o := Options{Scenario: ScenarioHold, Protocol: proto, Target: f.target(), Connections: 40, Channels: 4,
				Idle: 50 * time.Millisecond, ServerPID: os.Getpid(), ConnectConcurrency: 8, Sources: 3}
			res, err := Run(context.Background(), o, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.ConnectRate <= 0 || res.ServerRSS <= 0 || res.CPU.Server == nil || res.Disconnects != 0 {
				t.Fatalf("result %+v", res)
			}
			if proto != ProtocolEcho {
				f.mu.Lock()
				n := f.nsubs
				f.mu.Unlock()
				if n != o.Connections {
					t.Errorf("server saw %d subscriptions, want %d", n, o.Connections)
				}
			}
		})
	}
}

func TestRefusesNonLoopback(t *testing.T) {
	tests := []struct {
		target string
		ok     bool
	}{
		{target: "127.0.0.1:8000", ok: true},
		{target: "127.4.5.6:8000", ok: true},
		{target: "[::1]:8000", ok: true},
		{target: "localhost:8000", ok: true},
		{target: "10.0.0.1:8000"},
		{target: "192.168.1.1:80"},
		{target: "8.8.8.8:443"},
		{target: "[2001:db8::1]:80"},
		{target: "example.com:80"},
		{target: "0.0.0.0:8000"},
		{target: "127.0.0.1"},
	}
	for _, tt := range tests {
		err := checkTargetSyntax(tt.target)
		if (err == nil) != tt.ok {
			t.Errorf("checkTargetSyntax(%q) = %v, want ok=%v", tt.target, err, tt.ok)
		}
	}
	_, err := Run(context.Background(), Options{Scenario: ScenarioHold, Target: "10.0.0.1:8000"}, nil)
	if !errors.Is(err, ErrNotLoopback) {
		t.Errorf("Run against 10.0.0.1: %v, want ErrNotLoopback", err)
	}
	o := Options{Scenario: ScenarioHold, HeapProfileURL: "http://192.168.0.1/debug/pprof/heap"}.Defaults()
	if err := o.Validate(); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("heap profile URL off loopback: %v, want ErrNotLoopback", err)
	}
}

// TestValidatePublishTarget checks --publish-target with the same loopback
// rules as --target, and only for the scenarios that publish.
func TestValidatePublishTarget(t *testing.T) {
	tests := []struct {
		scenario, publishTarget string
		wantErr                 string // "" for none
		notLoopback             bool   // the error must wrap ErrNotLoopback
	}{
		{scenario: ScenarioFanout, publishTarget: "127.0.0.1:8001"},
		{scenario: ScenarioChannels, publishTarget: "127.0.0.2:8000"},
		{scenario: ScenarioFanout, publishTarget: "[::1]:8001"},
		{scenario: ScenarioFanout, publishTarget: "localhost:8001"},
		{scenario: ScenarioFanout, publishTarget: "10.0.0.1:8000", wantErr: "--publish-target", notLoopback: true},
		{scenario: ScenarioChannels, publishTarget: "192.168.1.1:80", wantErr: "--publish-target", notLoopback: true},
		{scenario: ScenarioFanout, publishTarget: "[2001:db8::1]:80", wantErr: "--publish-target", notLoopback: true},
		{scenario: ScenarioFanout, publishTarget: "example.com:80", wantErr: "--publish-target", notLoopback: true},
		{scenario: ScenarioFanout, publishTarget: "127.0.0.1", wantErr: "--publish-target"},
		{scenario: ScenarioFanout, publishTarget: "127.0.0.1:0", wantErr: "--publish-target"},
		{scenario: ScenarioHold, publishTarget: "127.0.0.1:8001", wantErr: "--publish-target: hold does not publish"},
		{scenario: ScenarioEcho, publishTarget: "127.0.0.1:8001", wantErr: "--publish-target: echo does not publish"},
	}
	for _, tt := range tests {
		t.Run(tt.scenario+" "+tt.publishTarget, func(t *testing.T) {
			o := Options{Scenario: tt.scenario, PublishTarget: tt.publishTarget}.Defaults()
			err := o.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want no error", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate() = %v, want an error with %q", err, tt.wantErr)
			case tt.notLoopback && !errors.Is(err, ErrNotLoopback):
				t.Fatalf("Validate() = %v, want ErrNotLoopback", err)
			}
		})
	}
	// Run refuses before opening anything.
	_, err := Run(context.Background(), Options{Scenario: ScenarioFanout, Target: "127.0.0.1:1", PublishTarget: "10.0.0.1:8000"}, nil)
	if !errors.Is(err, ErrNotLoopback) {
		t.Errorf("Run publishing to 10.0.0.1: %v, want ErrNotLoopback", err)
	}
}

func TestValidateNamesEveryBadFlag(t *testing.T) {
	o := Options{Scenario: ScenarioFanout, Protocol: ProtocolEcho, Payload: -1, Publishers: 5000, Duration: -time.Second}.Defaults()
	err := o.Validate()
	for _, want := range []string{"--protocol echo", "--payload -1", "--publishers 5000", "--duration -1s"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
}

// The example of the Pusher REST API documentation, "Generating
// authentication signatures".
func TestPusherSignature(t *testing.T) {
	o := Options{AppID: "3", AppKey: "278d425bdf160c739803", AppSecret: "7ad3773142a6692b25b8", Target: "127.0.0.1:1"}
	p := newPusherREST(&o, nil)
	body := []byte(`{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`)
	got := p.signedQuery(1353088179, body)
	want := "auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0" +
		"&body_md5=ec365a775a4cd0599faeb73354201b6f" +
		"&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
	if got != want {
		t.Errorf("signedQuery =\n %s\nwant\n %s", got, want)
	}
}

func TestChurn(t *testing.T) {
	for _, proto := range []string{ProtocolPusher, ProtocolTokens} {
		t.Run(proto, func(t *testing.T) {
			f := newFakeServer(t, 0, nil)
			o := Options{Scenario: ScenarioChurn, Protocol: proto, Target: f.target(), Rate: 200, Duration: 300 * time.Millisecond,
				Connections: 50, Channels: 4, ServerPID: os.Getpid()}
			res, err := Run(context.Background(), o, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Churned == 0 || res.ChurnFailed != 0 || len(res.Errors) > 0 || res.ConnectRate <= 0 {
				t.Fatalf("result %+v", res)
			}
			f.mu.Lock()
			n := f.nsubs
			f.mu.Unlock()
			if uint64(n) != res.Churned {
				t.Errorf("server saw %d subscriptions, the generator counts %d churned", n, res.Churned)
			}
			if !strings.Contains(res.String(), "churned") {
				t.Errorf("String() = %q", res.String())
			}
		})
	}
}
