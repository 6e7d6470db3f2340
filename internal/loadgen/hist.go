package loadgen

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram layout: values below 128 ns have a bucket each; above, every
// power of two is split into 64 buckets, so a bucket spans at most 1/64 of
// its values (1.6 %), as in HdrHistogram with two significant digits.
const (
	histSubBits   = 6
	histSub       = 1 << histSubBits // buckets per power of two
	histLinear    = 2 * histSub      // values with a bucket each
	histMaxShift  = 63 - histSubBits
	histBuckets   = histLinear + histMaxShift*histSub
	histShards    = 8 // receivers record into shard (index mod histShards)
	cacheLineSize = 64
)

// histogram counts latencies in nanoseconds. Record is safe for concurrent
// use and allocation-free; receivers spread over shards so that they seldom
// touch the same counters.
type histogram struct {
	shards [histShards]histShard
}

type histShard struct {
	counts [histBuckets]atomic.Uint64
	max    atomic.Int64
	_      [cacheLineSize]byte
}

// bucketOf returns the bucket of v (negative values count as 0).
func bucketOf(v int64) int {
	if v < histLinear {
		return int(max(v, 0))
	}
	u := uint64(v)
	shift := bits.Len64(u) - histSubBits - 1 // u>>shift is in [64, 128)
	return histLinear + (shift-1)*histSub + int(u>>shift) - histSub
}

// bucketHigh returns the largest value in bucket i.
func bucketHigh(i int) int64 {
	if i < histLinear {
		return int64(i)
	}
	shift := (i-histLinear)/histSub + 1
	m := int64((i-histLinear)%histSub + histSub)
	return (m+1)<<shift - 1
}

// record adds one value to shard s.
func (h *histogram) record(s int, v time.Duration) {
	sh := &h.shards[s%histShards]
	sh.counts[bucketOf(int64(v))].Add(1)
	for {
		m := sh.max.Load()
		if int64(v) <= m || sh.max.CompareAndSwap(m, int64(v)) {
			return
		}
	}
}

// Latency is a latency summary in milliseconds. Percentiles are the upper
// edges of their buckets (at most 1.6 % above the true value, never below);
// Max is exact.
type Latency struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// summary merges the shards into a Latency. Call it once recording is over.
func (h *histogram) summary() Latency {
	var counts [histBuckets]uint64
	var total uint64
	var maxV int64
	for s := range h.shards {
		sh := &h.shards[s]
		for i := range counts {
			c := sh.counts[i].Load()
			counts[i] += c
			total += c
		}
		maxV = max(maxV, sh.max.Load())
	}
	if total == 0 {
		return Latency{}
	}
	quantile := func(q float64) float64 {
		rank := uint64(q*float64(total) + 0.999999)
		rank = min(max(rank, 1), total)
		var seen uint64
		for i, c := range counts {
			seen += c
			if seen >= rank {
				return ms(min(bucketHigh(i), maxV))
			}
		}
		return ms(maxV)
	}
	return Latency{Count: total, P50: quantile(0.50), P95: quantile(0.95), P99: quantile(0.99), Max: ms(maxV)}
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }
