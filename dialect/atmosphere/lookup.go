package atmosphere

import (
	"sync"
	"time"
)

// Unknown session hashes must not cost a shared store call each.
const (
	// unknownTTL is how long the store's "no such session" for a hash this
	// node has no copy of is believed. A hash is random and exists only
	// after its login wrote it to the store, so a short memory refuses
	// nothing that exists.
	unknownTTL = 2 * time.Second
	// lookupErrorTTL is how long a failed read of one session is
	// remembered: uses of it meanwhile are served from this node's copy
	// without asking the store.
	lookupErrorTTL = time.Second
	// maxUnknown bounds the remembered unknown hashes and failures; when
	// full, the memory is emptied.
	maxUnknown = 10_000
)

// lookups collapses concurrent shared store reads of one session into one
// call, remembers failures for lookupErrorTTL and unknown hashes for
// unknownTTL. It is safe for concurrent use.
type lookups struct {
	mu      sync.Mutex
	calls   map[string]*lookupCall
	unknown map[string]time.Time // sums of unknown hashes, and until when
	fails   map[string]time.Time // sums whose read failed, and until when
}

type lookupCall struct {
	done chan struct{}
	st   sharedSession
	err  error
}

// isUnknown reports whether the store did not know sum less than
// unknownTTL before now.
func (l *lookups) isUnknown(sum string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	until, ok := l.unknown[sum]
	return ok && now.Before(until)
}

// remember records until then in m, a bounded memory.
func remember(m *map[string]time.Time, sum string, until time.Time) {
	if *m == nil || len(*m) >= maxUnknown {
		*m = make(map[string]time.Time)
	}
	(*m)[sum] = until
}

// markUnknown remembers that the store did not know sum at now.
func (l *lookups) markUnknown(sum string, now time.Time) {
	l.mu.Lock()
	remember(&l.unknown, sum, now.Add(unknownTTL))
	l.mu.Unlock()
}

// do returns read's answer for sum: the running read's when there is one,
// the remembered failure when one failed less than lookupErrorTTL before
// now. The first caller runs read; the others wait for it.
func (l *lookups) do(sum string, now time.Time, read func() (sharedSession, error)) (sharedSession, error) {
	l.mu.Lock()
	if until, ok := l.fails[sum]; ok {
		if now.Before(until) {
			l.mu.Unlock()
			return sharedSession{}, errRecentFailure
		}
		delete(l.fails, sum)
	}
	if c := l.calls[sum]; c != nil {
		l.mu.Unlock()
		<-c.done
		return c.st, c.err
	}
	c := &lookupCall{done: make(chan struct{})}
	if l.calls == nil {
		l.calls = make(map[string]*lookupCall)
	}
	l.calls[sum] = c
	l.mu.Unlock()
	c.st, c.err = read()
	l.mu.Lock()
	delete(l.calls, sum)
	if c.err != nil {
		remember(&l.fails, sum, now.Add(lookupErrorTTL))
	}
	l.mu.Unlock()
	close(c.done)
	return c.st, c.err
}
