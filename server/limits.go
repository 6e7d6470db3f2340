package server

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/switchboard-rt/switchboard/dialect"
	"golang.org/x/time/rate"
)

// Limit names, the value of the limit label of switchboard_limited_total.
const (
	limitHandshakes = "handshakes_per_ip"
	limitAPI        = "api_requests"
)

// rateLimits holds the per-client limits of the limits config section and
// counts what they refused.
type rateLimits struct {
	handshakes *keyedLimiter // nil when off
	api        *keyedLimiter // nil when off
	refused    *prometheus.CounterVec
	now        func() time.Time
}

func newRateLimits(handshakesPerIP, apiRequests int) *rateLimits {
	l := &rateLimits{
		handshakes: newKeyedLimiter(handshakesPerIP),
		api:        newKeyedLimiter(apiRequests),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_limited_total",
			Help: "Requests refused with 429 by a per-client limit, by limit (handshakes_per_ip, api_requests).",
		}, []string{"limit"}),
		now: time.Now,
	}
	// Both series exist from the start, so that a rate() over them works.
	l.refused.WithLabelValues(limitHandshakes)
	l.refused.WithLabelValues(limitAPI)
	return l
}

// wrap puts the limit for a route's protocol in front of h.
func (l *rateLimits) wrap(protocol string, h http.Handler) http.Handler {
	switch {
	case protocol == dialect.ProtocolWebSocket && l.handshakes != nil:
		return l.limit(limitHandshakes, l.handshakes, clientIP, h)
	case protocol == dialect.ProtocolHTTP && l.api != nil:
		return l.limit(limitAPI, l.api, apiClient, h)
	}
	return h
}

func (l *rateLimits) limit(name string, kl *keyedLimiter, key func(*http.Request) string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if wait, ok := kl.allow(key(r), l.now()); !ok {
			l.refused.WithLabelValues(name).Inc()
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			http.Error(w, "too many requests: over "+name+", retry later", http.StatusTooManyRequests)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// clientIP is the address the request came from. Proxy headers are not
// trusted: a client could name any address in them.
func clientIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// apiClient is who an API request counts against: its app (the app_id of a
// Pusher REST path), else the API key it sends in a header, else its client
// address. Keys are hashed: the limiter keeps no secret in memory.
func apiClient(r *http.Request) string {
	if id := r.PathValue("app_id"); id != "" {
		return "app " + id
	}
	key := r.Header.Get("X-Api-Key")
	if a := r.Header.Get("Authorization"); key == "" && len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		key = strings.TrimSpace(a[7:])
	}
	if key != "" {
		sum := sha256.Sum256([]byte(key))
		return "key " + hex.EncodeToString(sum[:8])
	}
	return "ip " + clientIP(r)
}

// keyedLimiter is a token bucket per key, each refilled at perSecond tokens
// a second and holding at most perSecond (one second's worth of burst).
// Buckets that have refilled completely are forgotten, lazily, when the
// map has doubled since the last sweep: no goroutine to stop.
type keyedLimiter struct {
	limit   rate.Limit
	burst   int
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	sweepAt int
}

// minSweep is the number of buckets below which none are forgotten.
const minSweep = 1024

func newKeyedLimiter(perSecond int) *keyedLimiter {
	if perSecond <= 0 {
		return nil
	}
	return &keyedLimiter{limit: rate.Limit(perSecond), burst: perSecond, buckets: map[string]*rate.Limiter{}, sweepAt: minSweep}
}

// allow takes a token from key's bucket, or says how long until one is there.
func (k *keyedLimiter) allow(key string, now time.Time) (wait time.Duration, ok bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	b := k.buckets[key]
	if b == nil {
		if len(k.buckets) >= k.sweepAt {
			k.sweep(now)
		}
		b = rate.NewLimiter(k.limit, k.burst)
		k.buckets[key] = b
	}
	if b.AllowN(now, 1) {
		return 0, true
	}
	missing := 1 - b.TokensAt(now)
	return time.Duration(missing / float64(k.limit) * float64(time.Second)), false
}

// sweep forgets the buckets that are full again: a new one would be the
// same. Called with k.mu held.
func (k *keyedLimiter) sweep(now time.Time) {
	for key, b := range k.buckets {
		if b.TokensAt(now) >= float64(k.burst) {
			delete(k.buckets, key)
		}
	}
	k.sweepAt = max(minSweep, 2*len(k.buckets))
}
