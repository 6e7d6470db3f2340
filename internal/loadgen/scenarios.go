package loadgen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// connectPhase opens n connections, recording how long it took, the rate,
// the CPU shares and the server's RSS before and after.
func (r *runner) connectPhase(ctx context.Context, res *Result, n int) error {
	res.ServerRSSBefore = r.rss()
	fmt.Fprintf(r.progress, "%s: opening %d %s connections to %s\n", r.o.Scenario, n, r.o.Protocol, r.o.Target)
	cpu := startCPU(r.o.ServerPID)
	t0 := time.Now()
	if err := r.connectAll(ctx, n); err != nil {
		return err
	}
	took := time.Since(t0)
	cpu.stop()
	res.ConnectS = took.Seconds()
	res.ConnectRate = float64(n) / took.Seconds()
	res.ConnectCPU = cpu.shares()
	res.ServerRSS = r.rss()
	return nil
}

// rss returns the server's RSS, or 0 without --server-pid.
func (r *runner) rss() int64 {
	if r.o.ServerPID == 0 {
		return 0
	}
	v, err := ReadRSS(r.o.ServerPID)
	if err != nil {
		r.errs.add(err)
	}
	return v
}

// hold opens the connections and keeps them idle for Idle.
func (r *runner) hold(ctx context.Context, res *Result) error {
	n := r.o.Connections
	if err := r.connectPhase(ctx, res, n); err != nil {
		return err
	}
	fmt.Fprintf(r.progress, "hold: %d connections open in %.2f s; idle for %s\n", n, res.ConnectS, r.o.Idle)
	cpu := startCPU(r.o.ServerPID)
	if !sleepCtx(ctx, r.o.Idle) {
		return ctx.Err()
	}
	cpu.stop()
	res.CPU = cpu.shares()
	res.DurationS = r.o.Idle.Seconds()
	if r.o.ServerPID != 0 {
		res.ServerRSS = r.rss()
		res.ServerRSSPerConn = float64(res.ServerRSS-res.ServerRSSBefore) / float64(n)
	}
	if r.o.HeapProfileURL != "" {
		if err := fetchTo(ctx, r.o.HeapProfileURL, r.o.HeapProfileOut); err != nil {
			r.errs.add(err)
		} else {
			res.HeapProfile = r.o.HeapProfileOut
		}
	}
	return nil
}

// fanout runs the fanout and channels scenarios: subscribers over
// channels, publishers for Duration or Messages, then a drain.
func (r *runner) fanout(ctx context.Context, res *Result) error {
	o := &r.o
	if err := r.connectPhase(ctx, res, o.Subscribers); err != nil {
		return err
	}
	subsOn := make([]uint64, o.Channels)
	for i := range o.Subscribers {
		subsOn[i%o.Channels]++
	}
	pubs := make([]publisher, o.Publishers)
	defer func() {
		for _, p := range pubs {
			if p != nil {
				p.close()
			}
		}
	}()
	for i := range pubs {
		p, err := r.newPublisher(ctx, i)
		if err != nil {
			return err
		}
		pubs[i] = p
	}
	fmt.Fprintf(r.progress, "%s: %d subscribers on %d channels; publishing for %s\n", o.Scenario, o.Subscribers, o.Channels, o.Duration)
	if pt := o.publishTarget(); pt != o.Target {
		fmt.Fprintf(r.progress, "%s: publishing to %s, subscribers on %s\n", o.Scenario, pt, o.Target)
	}

	var fl *flow
	if o.Window > 0 {
		fl = newFlow(o.Window, o.Channels, r.subs)
		fmt.Fprintf(r.progress, "%s: flow control: at most %d messages ahead of the slowest subscriber of a channel\n", o.Scenario, o.Window)
	}

	cpu := startCPU(o.ServerPID)
	pubStart := r.now()
	deadline := time.Now().Add(o.Duration)
	counts := make([][]uint64, o.Publishers)
	var slots atomic.Int64
	var pubErrs atomic.Uint64
	var wg sync.WaitGroup
	var stopFlow func()
	if fl != nil {
		var once sync.Once
		stopFlow = func() { once.Do(fl.close) }
		// Publishers waiting for the window at the deadline give up then.
		t := time.AfterFunc(time.Until(deadline), stopFlow)
		defer t.Stop()
		defer stopFlow()
		wg.Go(fl.run)
	}
	r.flow = fl
	var pwg sync.WaitGroup
	for i, p := range pubs {
		pwg.Go(func() { counts[i] = r.publishLoop(ctx, i, p, deadline, &slots, &pubErrs) })
	}
	pwg.Wait()
	if fl != nil {
		stopFlow()
	}
	wg.Wait()
	res.PublishErrors = pubErrs.Load()
	pubWall := time.Duration(r.now() - pubStart)
	if fl != nil && pubWall > 0 {
		res.WindowWaits = fl.waits.Load()
		res.WindowWaitPct = round1(100 * float64(fl.waitedNS.Load()) / (float64(o.Publishers) * float64(pubWall)))
	}

	var expected uint64
	for _, pc := range counts {
		for c, n := range pc {
			res.Published += n
			expected += n * subsOn[c]
		}
	}
	r.drain(ctx, expected)
	cpu.stop()
	res.CPU = cpu.shares()
	res.DurationS = pubWall.Seconds()
	res.ServerRSS = max(res.ServerRSS, r.rss())

	// Readers must be done before their state is read.
	for _, p := range pubs {
		p.close()
	}
	r.closeAll()
	var last int64
	for _, s := range r.subs {
		res.Received += s.received.Load()
		res.Lost += s.lost
		res.Reordered += s.reordered
		res.Malformed += s.malformed
		for p, next := range s.next {
			if sent := counts[p][s.channel]; sent > next {
				res.Lost += sent - next // the tail that never came
			}
		}
		last = max(last, s.lastRecv)
	}
	res.Expected = expected
	if pubWall > 0 {
		res.PublishRate = float64(res.Published) / pubWall.Seconds()
	}
	if window := time.Duration(last - pubStart); window > 0 {
		res.DeliveryRate = float64(res.Received) / window.Seconds()
	}
	lat := r.hist.summary()
	res.Latency = &lat
	return nil
}

// maxPublishFailures stops a publisher after this many failures in a row.
const maxPublishFailures = 10

// publishLoop publishes until the deadline, the run's message cap or ctx,
// at Rate/Publishers per second (or as fast as accepted), and returns how
// many messages it published to each channel.
func (r *runner) publishLoop(ctx context.Context, id int, p publisher, deadline time.Time, slots *atomic.Int64, errs *atomic.Uint64) []uint64 {
	o := &r.o
	counts := make([]uint64, o.Channels)
	rng := rand.New(rand.NewPCG(uint64(id), uint64(r.epoch.UnixNano())))
	var interval time.Duration
	if o.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(o.Publishers) / o.Rate)
	}
	start := time.Now().Add(time.Duration(id) * interval / time.Duration(o.Publishers)) // staggered
	var msg []byte
	failures := 0
	for i := 0; ; i++ {
		if interval > 0 {
			due := start.Add(time.Duration(i) * interval)
			if !due.Before(deadline) || !sleepCtx(ctx, time.Until(due)) {
				break
			}
		}
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			break
		}
		if o.Messages > 0 && slots.Add(1) > int64(o.Messages) {
			break
		}
		c := 0
		if o.Channels > 1 {
			c = rng.IntN(o.Channels)
		}
		if r.flow != nil && !r.flow.acquire(ctx, c) {
			break // the deadline passed (or ctx ended) while the window was full
		}
		// The timestamp is taken once the window let the message go: the
		// latency is the server's and the subscriber's, queueing included.
		msg = appendMessage(msg[:0], uint64(id), counts[c], r.now(), o.Payload)
		if err := p.publish(ctx, c, msg); err != nil {
			if r.flow != nil {
				r.flow.release(c)
			}
			if ctx.Err() != nil {
				break
			}
			errs.Add(1)
			r.errs.add(fmt.Errorf("publisher %d: %w", id+1, err))
			if failures++; failures >= maxPublishFailures {
				break
			}
			continue
		}
		failures = 0
		counts[c]++
	}
	return counts
}

// drain waits until expected deliveries arrived, Drain passed or ctx is
// done, looking every few milliseconds.
func (r *runner) drain(ctx context.Context, expected uint64) {
	deadline := time.Now().Add(r.o.Drain)
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for r.received() < expected && time.Now().Before(deadline) {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// echo opens the connections, then has each send a message and wait for
// it to come back, over and over, for Duration.
func (r *runner) echo(ctx context.Context, res *Result) error {
	if err := r.connectPhase(ctx, res, r.o.Connections); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, r.closeConns)
	defer stop()
	fmt.Fprintf(r.progress, "echo: %d connections; round trips for %s\n", r.o.Connections, r.o.Duration)
	cpu := startCPU(r.o.ServerPID)
	t0 := time.Now()
	r.echoEnd = t0.Add(r.o.Duration)
	r.readyOnce.Do(func() { close(r.ready) })
	r.wg.Wait()
	took := time.Since(t0)
	cpu.stop()
	res.CPU = cpu.shares()
	res.DurationS = took.Seconds()
	for _, s := range r.subs {
		res.Received += s.received.Load()
		res.Malformed += s.malformed
	}
	res.RoundTripRate = float64(res.Received) / took.Seconds()
	lat := r.hist.summary()
	res.Latency = &lat
	return nil
}

// echoLoop is one echo connection's round trips.
func (s *subscriber) echoLoop(r *runner) {
	defer r.wg.Done()
	<-r.ready
	if r.stopping.Load() {
		return
	}
	end := r.echoEnd
	_ = s.c.nc.SetDeadline(end.Add(r.o.Drain)) // a lost echo cannot hold the run
	msg := make([]byte, 0, r.o.Payload)
	for seq := uint64(0); time.Now().Before(end); seq++ {
		msg = appendMessage(msg[:0], uint64(s.index), seq, r.now(), r.o.Payload)
		err := s.c.writeFrame(ws.OpText, msg)
		var p []byte
		if err == nil {
			_, p, err = s.c.readMessage()
		}
		if err != nil {
			if !r.stopping.Load() {
				s.dropped.Store(true)
				r.errs.add(fmt.Errorf("echo connection %d: %w", s.index+1, err))
			}
			return
		}
		now := r.now()
		_, got, ts, ok := parseMessage(p)
		if !ok || got != seq {
			s.malformed++
			continue
		}
		r.hist.record(s.index, time.Duration(now-ts))
		s.lastRecv = now
		s.received.Add(1)
	}
}

// sleepCtx waits for d or ctx, and reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// fetchTo GETs a loopback URL into a file.
func fetchTo(ctx context.Context, url, path string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("heap profile: GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	if _, err := f.ReadFrom(resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("heap profile: %w", err)
	}
	return f.Close()
}
