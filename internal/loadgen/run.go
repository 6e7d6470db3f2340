package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// fdReserve is the open files a run needs beyond its connections:
// publishers, the HTTP client, /proc reads, the runtime's own.
const fdReserve = 64

// runner is the state of one run.
type runner struct {
	o        Options
	d        *dialer   // to the target: the measured connections
	pd       *dialer   // to the publish target; d itself when that is the target
	epoch    time.Time // message timestamps are nanoseconds since epoch
	hist     histogram
	subs     []*subscriber
	flow     *flow          // fanout and channels with a window; nil when open loop
	rx       *receivers     // reads the subscribers (not echo connections)
	wg       sync.WaitGroup // every reader and publisher-reader goroutine
	stopping atomic.Bool    // set before connections are closed on purpose
	progress io.Writer
	errs     errorList

	ready     chan struct{} // closed when echo loops may start
	readyOnce sync.Once
	echoEnd   time.Time // when echo loops stop; set before ready is closed
}

// Run runs one scenario against o.Target, publishing to o.PublishTarget
// when set, and returns its figures. It stops by itself: after the
// connections are open and Idle has passed (hold), after Duration or
// Messages and then Drain (fanout, channels), after Duration (echo), or as
// soon as ctx is done, when it returns the figures so far with ctx's error.
// A run that fails (a connection that cannot be opened, a server that
// refuses the publisher) returns no figures. progress, if not nil, gets a
// line per phase.
func Run(ctx context.Context, o Options, progress io.Writer) (*Result, error) {
	o = o.Defaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	limit, err := RaiseFileLimit()
	if err != nil {
		return nil, fmt.Errorf("raise the open-file limit: %w", err)
	}
	if need := uint64(o.conns() + o.Publishers + fdReserve); limit < need {
		return nil, fmt.Errorf("%d connections need about %d open files, and this process may open %d (RLIMIT_NOFILE): lower --connections/--subscribers", o.conns(), need, limit)
	}
	if o.ServerPID != 0 {
		if _, err := ReadRSS(o.ServerPID); err != nil {
			return nil, fmt.Errorf("--server-pid %d: %w", o.ServerPID, err)
		}
	}
	dst, err := resolveTarget(ctx, o.Target)
	if err != nil {
		return nil, fmt.Errorf("--target: %w", err)
	}
	pdst, err := resolvePublishTarget(ctx, &o, dst)
	if err != nil {
		return nil, err
	}
	if progress == nil {
		progress = io.Discard
	}
	r := &runner{
		o:        o,
		d:        newDialer(dst, o.conns(), o.Sources, o.ConnectTimeout),
		epoch:    time.Now(),
		progress: progress,
		ready:    make(chan struct{}),
	}
	r.pd = r.d
	if pdst != dst {
		// Publishers are at most a thousand connections: one source
		// address has ports enough.
		r.pd = newDialer(pdst, o.Publishers, 0, o.ConnectTimeout)
	}
	res := r.newResult()
	switch o.Scenario {
	case ScenarioHold:
		err = r.hold(ctx, res)
	case ScenarioEcho:
		err = r.echo(ctx, res)
	case ScenarioChurn:
		err = r.churn(ctx, res)
	default:
		err = r.fanout(ctx, res)
	}
	r.closeAll()
	if err != nil && ctx.Err() == nil {
		return nil, err // no figures worth printing
	}
	res.Disconnects = r.disconnects()
	res.Errors = r.errs.list()
	if o.publishes() {
		res.setNoLoss()
	}
	return res, ctx.Err()
}

// connectAll opens n connections, connection i on channel i mod Channels,
// ConnectConcurrency at a time, and starts a reader for each. It fails on
// the first connection that fails.
func (r *runner) connectAll(ctx context.Context, n int) error {
	r.subs = make([]*subscriber, n)
	if r.o.Scenario != ScenarioEcho {
		rx, err := newReceivers(r, n)
		if err != nil {
			return fmt.Errorf("receivers: %w", err)
		}
		r.rx = rx
	}
	var next, opened atomic.Int64
	var failOnce sync.Once
	var failure error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range min(r.o.ConnectConcurrency, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				ch := i % r.o.Channels
				c, err := r.open(ctx, i, ch)
				if err != nil {
					failOnce.Do(func() { failure = fmt.Errorf("connection %d: %w", i+1, err) })
					cancel()
					return
				}
				s := newSubscriber(c, i, ch, r.o.Publishers)
				r.subs[i] = s
				opened.Add(1)
				if r.rx == nil {
					r.wg.Add(1)
					go s.echoLoop(r)
				} else if err := r.rx.add(s); err != nil {
					failOnce.Do(func() { failure = fmt.Errorf("connection %d: %w", i+1, err) })
					cancel()
					return
				}
			}
		})
	}
	wg.Wait()
	if failure != nil {
		return fmt.Errorf("opened %d of %d connections: %w", opened.Load(), n, failure)
	}
	return ctx.Err()
}

// closeConns closes every connection without waiting for the readers.
func (r *runner) closeConns() {
	r.stopping.Store(true)
	r.readyOnce.Do(func() { close(r.ready) })
	if r.rx != nil {
		r.rx.close() // detached sockets may be closed only once no loop reads them
	}
	for _, s := range r.subs {
		if s != nil {
			s.c.close()
		}
	}
}

// closeAll closes every connection and waits for their readers. It may be
// called more than once.
func (r *runner) closeAll() {
	r.closeConns()
	r.wg.Wait()
}

// received returns the deliveries counted so far.
func (r *runner) received() uint64 {
	var n uint64
	for _, s := range r.subs {
		if s != nil {
			n += s.received.Load()
		}
	}
	return n
}

func (r *runner) disconnects() uint64 {
	var n uint64
	for _, s := range r.subs {
		if s != nil && s.dropped.Load() {
			n++
		}
	}
	return n
}

// now returns the time since the run began, the clock of message
// timestamps.
func (r *runner) now() int64 { return int64(time.Since(r.epoch)) }

// subscriber is one measured connection and the state of its reader.
type subscriber struct {
	c       *conn
	index   int
	channel int

	// Owned by the reader goroutine; read by others only after it ended.
	next      []uint64 // per publisher: the next sequence number expected
	lost      uint64   // sequence numbers skipped
	reordered uint64   // sequence numbers seen after a later one (or twice)
	malformed uint64   // messages without a well-formed marker
	lastRecv  int64    // run clock of the last message

	received atomic.Uint64
	// progress counts the messages of the subscriber's channel received or
	// skipped: the sum of next. Flow control reads it.
	progress atomic.Uint64
	dropped  atomic.Bool // the connection ended before the run closed it
	_        [cacheLineSize]byte
}

func newSubscriber(c *conn, index, channel, publishers int) *subscriber {
	return &subscriber{c: c, index: index, channel: channel, next: make([]uint64, publishers)}
}

// ended records why the subscriber's connection ended, unless the run
// closed it on purpose.
func (s *subscriber) ended(r *runner, err error) {
	if !r.stopping.Load() {
		s.dropped.Store(true)
		r.errs.add(fmt.Errorf("subscriber %d: %w", s.index+1, err))
	}
}

// handle counts one message. Per benchmark message it does a marker
// search, three atomic adds and no allocation; other Pusher messages are
// answered (pings) or recorded (errors).
func (s *subscriber) handle(r *runner, p []byte) {
	pub, seq, ts, ok := parseMessage(p)
	if !ok {
		if r.o.Protocol != ProtocolPusher {
			s.malformed++
		} else if err := s.c.pusherControl(p); err != nil {
			r.errs.add(fmt.Errorf("subscriber %d: %w", s.index+1, err))
		}
		return
	}
	now := r.now()
	r.hist.record(s.index, time.Duration(now-ts))
	s.lastRecv = now
	s.track(pub, seq)
	s.received.Add(1)
}

// track counts a message's sequence number against the expected one, and
// advances progress by the sequence numbers it covers.
func (s *subscriber) track(pub, seq uint64) {
	if pub >= uint64(len(s.next)) {
		s.malformed++
		return
	}
	switch n := s.next[pub]; {
	case seq == n:
		s.next[pub] = n + 1
		s.progress.Add(1)
	case seq > n:
		s.lost += seq - n
		s.next[pub] = seq + 1
		s.progress.Add(seq + 1 - n)
	default:
		s.reordered++
	}
}

// errorList keeps the first few errors of a run and counts the rest.
type errorList struct {
	mu   sync.Mutex
	msgs []string
	more int
}

const maxErrors = 5

func (l *errorList) add(err error) {
	if err == nil || errors.Is(err, context.Canceled) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.msgs) < maxErrors {
		l.msgs = append(l.msgs, err.Error())
	} else {
		l.more++
	}
}

func (l *errorList) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]string(nil), l.msgs...)
	if l.more > 0 {
		out = append(out, fmt.Sprintf("... and %d more", l.more))
	}
	return out
}
