package loadgen

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// churn opens and closes connections at Rate per second for Duration: each
// one connects, subscribes (Pusher) or registers its token (token broker),
// sends a Close and goes. Connections are started as they fall due, so a
// tick the scheduler delays is caught up rather than lost. At most
// Connections are in progress at once; one due while they are all busy is
// counted as missed, so that the achieved rate is honest. It measures the
// server under connection churn, not connect latency.
func (r *runner) churn(ctx context.Context, res *Result) error {
	o := &r.o
	fmt.Fprintf(r.progress, "churn: %g %s connects and disconnects a second to %s for %s\n", o.Rate, o.Protocol, o.Target, o.Duration)
	res.ServerRSSBefore = r.rss()
	cpu := startCPU(o.ServerPID)
	tick := time.NewTicker(time.Duration(float64(time.Second) / o.Rate))
	defer tick.Stop()
	busy := make(chan struct{}, o.Connections)
	var done, failed, missed atomic.Uint64
	var wg sync.WaitGroup
	t0 := time.Now()
	end := time.NewTimer(o.Duration)
	defer end.Stop()
	started := 0
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-end.C:
			break loop
		case <-tick.C:
		}
		// Start what is due by now, not one per tick: a tick the scheduler
		// delayed or dropped would otherwise lower the rate unseen.
		for due := int(time.Since(t0).Seconds()*o.Rate) - started; due > 0; due-- {
			i := started
			started++
			select {
			case busy <- struct{}{}:
			default:
				missed.Add(1)
				continue
			}
			wg.Go(func() {
				defer func() { <-busy }()
				c, err := r.open(ctx, i, i%o.Channels)
				if err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
						r.errs.add(err)
					}
					return
				}
				_ = c.writeFrame(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
				c.close()
				done.Add(1)
			})
		}
	}
	wg.Wait()
	took := time.Since(t0)
	cpu.stop()
	res.DurationS = took.Seconds()
	res.CPU = cpu.shares()
	res.Churned, res.ChurnFailed, res.ChurnMissed = done.Load(), failed.Load(), missed.Load()
	res.ConnectRate = float64(res.Churned) / took.Seconds()
	res.ServerRSS = r.rss()
	return nil
}
