// Package loadgen is the engine of `magpie bench`: raw-protocol load
// clients that log in over WebSockets, send one-to-one or group messages on
// a fixed schedule, acknowledge deliveries as the SDK does, and account for
// every message (lost, duplicated, reordered) with end-to-end latencies.
package loadgen

import (
	"math/bits"
	"sync"
	"time"
)

// subBits is the histogram's precision: each power of two is split into
// 2^subBits linear buckets, so a recorded value is off by less than
// 1/2^subBits (under 1%).
const subBits = 7

const (
	subCount   = 1 << subBits
	maxBuckets = (64-subBits)*subCount + subCount
)

// Histogram is a log-linear histogram of non-negative durations, recorded
// in microseconds, in the manner of HDR histograms: exact below 256 µs,
// within 1% above. It is safe for concurrent use.
type Histogram struct {
	mu     sync.Mutex
	counts []int64
	total  int64
	max    int64
	sum    int64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{counts: make([]int64, maxBuckets)}
}

func bucketOf(v int64) int {
	if v < 2*subCount {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - subBits - 1 // v>>shift is in [subCount, 2*subCount)
	return 2*subCount + (shift-1)*subCount + int(v>>shift) - subCount
}

// bucketTop is the largest value that falls in bucket i.
func bucketTop(i int) int64 {
	if i < 2*subCount {
		return int64(i)
	}
	shift := (i-2*subCount)/subCount + 1
	mant := int64((i-2*subCount)%subCount + subCount)
	return (mant+1)<<shift - 1
}

// Record adds one duration (negative ones count as zero).
func (h *Histogram) Record(d time.Duration) { h.RecordValue(d.Microseconds()) }

// RecordValue adds one value in microseconds.
func (h *Histogram) RecordValue(us int64) {
	if us < 0 {
		us = 0
	}
	h.mu.Lock()
	h.counts[bucketOf(us)]++
	h.total++
	h.sum += us
	if us > h.max {
		h.max = us
	}
	h.mu.Unlock()
}

// Merge adds o's values to h.
func (h *Histogram) Merge(o *Histogram) {
	o.mu.Lock()
	counts := append([]int64(nil), o.counts...)
	total, mx, sum := o.total, o.max, o.sum
	o.mu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, c := range counts {
		h.counts[i] += c
	}
	h.total += total
	h.sum += sum
	h.max = max(h.max, mx)
}

// Snapshot returns a copy of h.
func (h *Histogram) Snapshot() *Histogram {
	c := NewHistogram()
	c.Merge(h)
	return c
}

// Since returns the values recorded in h after prev, a Snapshot of h (all
// of h's when prev is nil). Its maximum is the top of its highest bucket,
// capped at h's.
func (h *Histogram) Since(prev *Histogram) *Histogram {
	d := h.Snapshot()
	if prev == nil {
		return d
	}
	prev.mu.Lock()
	defer prev.mu.Unlock()
	d.total -= prev.total
	d.sum -= prev.sum
	top := -1
	for i := range d.counts {
		d.counts[i] -= prev.counts[i]
		if d.counts[i] > 0 {
			top = i
		}
	}
	if top < 0 {
		d.max = 0
	} else {
		d.max = min(bucketTop(top), d.max)
	}
	return d
}

// Count is the number of recorded values.
func (h *Histogram) Count() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.total
}

// Max is the largest recorded value (exact), zero when empty.
func (h *Histogram) Max() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return time.Duration(h.max) * time.Microsecond
}

// Mean is the mean of the recorded values.
func (h *Histogram) Mean() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.sum/h.total) * time.Microsecond
}

// Percentile returns the value at or below which q percent (0–100) of the
// recorded values fall, as the top of its bucket (capped at the maximum).
func (h *Histogram) Percentile(q float64) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.total == 0 {
		return 0
	}
	rank := int64(q/100*float64(h.total) + 0.5)
	rank = min(max(rank, 1), h.total)
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(bucketTop(i), h.max)) * time.Microsecond
		}
	}
	return time.Duration(h.max) * time.Microsecond
}
