package loadgen

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistogramPercentilesMatchASortedSlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	h := NewHistogram()
	var vals []int64
	for range 100000 {
		// A long-tailed mix: most values under 10 ms, some up to 10 s.
		v := int64(rng.ExpFloat64() * 3000)
		if rng.IntN(100) == 0 {
			v = rng.Int64N(10_000_000)
		}
		vals = append(vals, v)
		h.RecordValue(v)
	}
	slices.Sort(vals)
	for _, q := range []float64{1, 50, 90, 99, 99.9, 100} {
		want := vals[max(int(q/100*float64(len(vals))+0.5), 1)-1]
		got := h.Percentile(q).Microseconds()
		if got < want || float64(got) > float64(want)*1.01+1 {
			t.Errorf("p%v = %d µs, want %d within 1%% above", q, got, want)
		}
	}
	if h.Max() != time.Duration(vals[len(vals)-1])*time.Microsecond || h.Count() != int64(len(vals)) {
		t.Errorf("max %v count %d, want %d µs and %d", h.Max(), h.Count(), vals[len(vals)-1], len(vals))
	}
}

func TestHistogramBucketsCoverEveryValue(t *testing.T) {
	for _, v := range []int64{0, 1, 255, 256, 257, 1000, 1 << 20, 1<<40 + 12345, 1<<62 + 1} {
		i := bucketOf(v)
		if top := bucketTop(i); top < v || float64(top-v) > float64(v)/subCount+1 {
			t.Errorf("value %d: bucket %d tops at %d", v, i, top)
		}
		if i > 0 && bucketTop(i-1) >= v {
			t.Errorf("value %d: bucket %d's predecessor tops at %d", v, i, bucketTop(i-1))
		}
	}
}

func TestHistogramEmptyAndMerge(t *testing.T) {
	a, b := NewHistogram(), NewHistogram()
	if a.Percentile(99) != 0 || a.Max() != 0 || a.Mean() != 0 {
		t.Fatal("an empty histogram reports values")
	}
	a.Record(2 * time.Millisecond)
	b.Record(-time.Millisecond) // counts as zero
	b.Record(4 * time.Millisecond)
	a.Merge(b)
	if a.Count() != 3 || a.Max() != 4*time.Millisecond || a.Percentile(0) != 0 ||
		a.Percentile(50) < 2*time.Millisecond || a.Percentile(50) > 2020*time.Microsecond {
		t.Fatalf("merged: count %d max %v p0 %v p50 %v", a.Count(), a.Max(), a.Percentile(0), a.Percentile(50))
	}
}

// TestHistogramSince: the values recorded after a snapshot, and only those.
func TestHistogramSince(t *testing.T) {
	h := NewHistogram()
	for range 1000 {
		h.Record(500 * time.Millisecond)
	}
	before := h.Snapshot()
	for range 10 {
		h.Record(2 * time.Millisecond)
	}
	d := h.Since(before)
	if d.Count() != 10 || d.Percentile(99) < 2*time.Millisecond || d.Percentile(99) > 2020*time.Microsecond ||
		d.Max() > 2020*time.Microsecond {
		t.Fatalf("since the snapshot: count %d p99 %v max %v; want 10 near 2ms", d.Count(), d.Percentile(99), d.Max())
	}
	if all := h.Since(nil); all.Count() != 1010 || all.Max() != 500*time.Millisecond {
		t.Fatalf("since nil: count %d max %v, want 1010 and 500ms", all.Count(), all.Max())
	}
	if empty := h.Since(h.Snapshot()); empty.Count() != 0 || empty.Max() != 0 || empty.Percentile(99) != 0 {
		t.Fatalf("since now: count %d max %v p99 %v, want all 0", empty.Count(), empty.Max(), empty.Percentile(99))
	}
}
