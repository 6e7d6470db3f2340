package atmosphere

import (
	"container/list"
	"crypto/sha256"
	"time"
)

// bucket is a token bucket: up to burst events at once, refilled at burst
// per period. Its zero value is full. It is not safe for concurrent use;
// its owner guards it.
type bucket struct {
	used float64   // tokens taken and not yet refilled
	last time.Time // when used was last brought up to date
}

// allow takes a token at now, reporting whether one was left.
func (b *bucket) allow(now time.Time, burst int, period time.Duration) bool {
	b.refill(now, burst, period)
	if b.used+1 > float64(burst) {
		return false
	}
	b.used++
	return true
}

// refill returns the tokens earned since the last call.
func (b *bucket) refill(now time.Time, burst int, period time.Duration) {
	if !b.last.IsZero() && now.After(b.last) {
		b.used -= float64(burst) * float64(now.Sub(b.last)) / float64(period)
		if b.used < 0 {
			b.used = 0
		}
	}
	b.last = now
}

// full reports whether the bucket has refilled completely by now, so that
// forgetting it changes nothing.
func (b *bucket) full(now time.Time, burst int, period time.Duration) bool {
	b.refill(now, burst, period)
	return b.used == 0
}

// limiterKeyLen is the length of a limiter key: a kind byte and the first
// 16 bytes of the SHA-256 of what is limited, so that a key costs the same
// whatever the login or address.
const limiterKeyLen = 17

// limiterKey returns the limiter key of s of kind ('a' an address, 'l' a
// login).
func limiterKey(kind byte, s string) [limiterKeyLen]byte {
	var k [limiterKeyLen]byte
	k[0] = kind
	sum := sha256.Sum256([]byte(s))
	copy(k[1:], sum[:])
	return k
}

// limiter is a bounded set of token buckets by key. When it is full, the
// least recently used bucket is forgotten for a new one. It is not safe
// for concurrent use; its owner guards it.
type limiter struct {
	max int
	m   map[[limiterKeyLen]byte]*list.Element // of *limiterEntry
	lru *list.List                            // most recently used first
}

type limiterEntry struct {
	key [limiterKeyLen]byte
	b   bucket
}

func newLimiter(max int) *limiter {
	return &limiter{max: max, m: map[[limiterKeyLen]byte]*list.Element{}, lru: list.New()}
}

// take takes a token from key's bucket at now, reporting whether one was
// left.
func (l *limiter) take(key [limiterKeyLen]byte, now time.Time, burst int, period time.Duration) bool {
	e := l.m[key]
	if e != nil {
		l.lru.MoveToFront(e)
	} else {
		for l.lru.Len() >= l.max {
			old := l.lru.Back()
			l.lru.Remove(old)
			delete(l.m, old.Value.(*limiterEntry).key)
		}
		e = l.lru.PushFront(&limiterEntry{key: key})
		l.m[key] = e
	}
	return e.Value.(*limiterEntry).b.allow(now, burst, period)
}

// forgetFull forgets the buckets that have refilled by now: forgetting them
// changes nothing. burst gives the burst of a key's kind (its first byte).
func (l *limiter) forgetFull(now time.Time, burst func(kind byte) int, period time.Duration) {
	for k, e := range l.m {
		if e.Value.(*limiterEntry).b.full(now, burst(k[0]), period) {
			l.lru.Remove(e)
			delete(l.m, k)
		}
	}
}

// len returns the number of buckets kept.
func (l *limiter) len() int { return len(l.m) }
