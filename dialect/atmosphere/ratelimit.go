package atmosphere

import "time"

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
