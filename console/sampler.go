package console

import (
	"context"
	"sync"
	"time"
)

// Point is one sample of the overview's charts.
type Point struct {
	Time        int64   `json:"t"` // unix milliseconds
	Connections float64 `json:"connections"`
	Rates
}

// sampler reads the server's figures every interval while at least one
// overview stream is open, and not at all otherwise: with no page open
// it holds no goroutine and no history.
type sampler struct {
	read     func(context.Context) Stats
	interval time.Duration
	size     int

	mu      sync.Mutex
	viewers map[*viewer]struct{}
	history []Point // the last size points, oldest first; nil while stopped
	last    *Stats  // the latest reading; nil while stopped
	stop    context.CancelFunc
	running sync.WaitGroup
}

// viewer is one open overview stream.
type viewer struct {
	ch chan Stats // each reading; a reading the viewer has no room for is skipped
}

func newSampler(read func(context.Context) Stats, interval time.Duration, size int) *sampler {
	return &sampler{read: read, interval: interval, size: size, viewers: map[*viewer]struct{}{}}
}

// join adds a viewer, starting the sampling if it is the first, and
// returns the chart history and the latest reading (nil if none yet).
func (s *sampler) join() (*viewer, []Point, *Stats) {
	v := &viewer{ch: make(chan Stats, 2)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.viewers[v] = struct{}{}
	if s.stop == nil {
		ctx, cancel := context.WithCancel(context.Background())
		s.stop = cancel
		s.running.Add(1)
		go s.run(ctx)
	}
	return v, append([]Point{}, s.history...), s.last
}

// leave removes v; the last viewer to leave stops the sampling and drops
// the history.
func (s *sampler) leave(v *viewer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.viewers, v)
	if len(s.viewers) == 0 && s.stop != nil {
		s.stop()
		s.stop, s.history, s.last = nil, nil, nil
	}
}

// wait returns once no sampling goroutine runs; call it after every
// viewer has left.
func (s *sampler) wait() { s.running.Wait() }

// run samples until ctx ends, handing each reading to every viewer.
func (s *sampler) run(ctx context.Context) {
	defer s.running.Done()
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		st := s.read(ctx)
		s.mu.Lock()
		if ctx.Err() != nil { // stopped while reading: a later run owns the state
			s.mu.Unlock()
			return
		}
		if s.last != nil {
			st.Rates = rates(s.last, &st)
			p := Point{Time: st.Time.UnixMilli(), Connections: st.Connections, Rates: *st.Rates}
			if len(s.history) == s.size {
				s.history = append(s.history[:0], s.history[1:]...)
			}
			s.history = append(s.history, p)
		}
		s.last = &st
		for v := range s.viewers {
			select {
			case v.ch <- st:
			default: // the stream is still writing the last two: it skips this one
			}
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
