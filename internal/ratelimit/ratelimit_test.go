package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/ratelimit"
	"github.com/magpie-im/magpie/internal/redisx"
	"github.com/magpie-im/magpie/internal/redisx/redistest"
)

// limiters is what the shared test runs on: two handles on one limiter
// (two gateways) and the clock they run on.
type limiters struct {
	a, b ratelimit.Limiter
	// advance lets d pass: on a fake clock, or on real time as a poll
	// interval.
	advance func(d time.Duration)
	// exact is set on a fake clock: retry times are then exact.
	exact bool
}

func TestMemory(t *testing.T) {
	testLimiter(t, func(t *testing.T) limiters {
		var mu sync.Mutex
		now := time.Unix(1_700_000_000, 0)
		m := ratelimit.NewMemory(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
		return limiters{a: m, b: m, exact: true,
			advance: func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }}
	})
}

func TestRedis(t *testing.T) {
	testLimiter(t, func(t *testing.T) limiters {
		prefix := redistest.Prefix(t)
		return limiters{
			a:       ratelimit.NewRedis(redistest.Client(t), prefix),
			b:       ratelimit.NewRedis(redistest.Client(t), prefix),
			advance: time.Sleep, // a poll interval on real time, not synchronisation
		}
	})
}

// testLimiter is the one test of every Limiter.
func testLimiter(t *testing.T, open func(t *testing.T) limiters) {
	t.Run("Remaining", func(t *testing.T) {
		l := open(t)
		const rate = 1.0 / 3600 // a token an hour
		for want := 4; want >= 0; want-- {
			d, err := l.a.Allow(t.Context(), "k", rate, 5)
			if err != nil || !d.OK || d.Remaining != want || d.Reset <= 0 {
				t.Fatalf("Allow = %+v, %v; want a token, %d remaining, a reset ahead", d, err, want)
			}
		}
		d, err := l.b.Allow(t.Context(), "k", rate, 5)
		if err != nil || d.OK || d.Remaining != 0 || d.RetryAfter <= 0 || d.Reset < d.RetryAfter {
			t.Fatalf("Allow past the burst = %+v, %v; want refused, 0 remaining, retry before reset", d, err)
		}
	})
	t.Run("Burst", func(t *testing.T) {
		l := open(t)
		const rate = 1.0 / 3600 // a token an hour: none refills during the test
		for i := range 5 {
			h := []ratelimit.Limiter{l.a, l.b}[i%2]
			if ok, _, err := allow(t.Context(), h, "app_1:api", rate, 5); !ok || err != nil {
				t.Fatalf("Allow #%d of burst 5 = %v, %v, want true", i+1, ok, err)
			}
		}
		ok, retry, err := allow(t.Context(), l.b, "app_1:api", rate, 5)
		if ok || err != nil || retry <= time.Hour-time.Minute || retry > time.Hour || l.exact && retry != time.Hour {
			t.Errorf("Allow #6 of burst 5 = %v, %v, %v, want false after about an hour", ok, retry, err)
		}
		// Another key has its own bucket.
		if ok, _, err := allow(t.Context(), l.a, "app_2:api", rate, 5); !ok || err != nil {
			t.Errorf("Allow(app_2:api) = %v, %v, want true", ok, err)
		}
	})
	t.Run("Refill", func(t *testing.T) {
		l := open(t)
		const rate, tick = 20, 50 * time.Millisecond
		if ok, _, err := allow(t.Context(), l.a, "k", rate, 1); !ok || err != nil {
			t.Fatalf("Allow = %v, %v, want true", ok, err)
		}
		ok, retry, err := allow(t.Context(), l.b, "k", rate, 1)
		if ok || err != nil || retry <= 0 || retry > tick || l.exact && retry != tick {
			t.Fatalf("Allow again = %v, %v, %v, want false with a retry within %v", ok, retry, err, tick)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !ok {
			if time.Now().After(deadline) {
				t.Fatal("no token within 10s at 20/s")
			}
			l.advance(retry)
			if ok, retry, err = allow(t.Context(), l.a, "k", rate, 1); err != nil {
				t.Fatal(err)
			}
			if l.exact && !ok {
				t.Fatalf("Allow after the retry time = false, %v, want true", retry)
			}
		}
	})
	t.Run("ChangeBurst", func(t *testing.T) {
		l := open(t)
		const rate = 1.0 / 3600
		allowed := func(burst int) int {
			n := 0
			for range 10 {
				ok, _, err := allow(t.Context(), l.a, "k", rate, burst)
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					n++
				}
			}
			return n
		}
		if n := allowed(2); n != 2 {
			t.Errorf("burst 2: %d allowed, want 2", n)
		}
		if n := allowed(4); n != 2 {
			t.Errorf("burst raised to 4: %d more allowed, want 2", n)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		l := open(t)
		var allowed atomic.Int32
		var wg sync.WaitGroup
		for i := range 40 {
			h := []ratelimit.Limiter{l.a, l.b}[i%2]
			wg.Go(func() {
				ok, _, err := allow(t.Context(), h, "k", 1.0/3600, 10)
				if err != nil {
					t.Errorf("Allow: %v", err)
				} else if ok {
					allowed.Add(1)
				}
			})
		}
		wg.Wait()
		if n := allowed.Load(); n != 10 {
			t.Errorf("40 concurrent Allow on two gateways, burst 10: %d allowed, want 10", n)
		}
	})
	t.Run("Unlimited", func(t *testing.T) {
		l := open(t)
		for i := range 100 {
			if ok, _, err := allow(t.Context(), l.a, "k", math.Inf(1), 1); !ok || err != nil {
				t.Fatalf("Allow #%d at an infinite rate = %v, %v, want true", i+1, ok, err)
			}
		}
	})
	t.Run("Invalid", func(t *testing.T) {
		l := open(t)
		for _, tc := range []struct {
			rate  float64
			burst int
		}{{0, 1}, {-1, 1}, {math.NaN(), 1}, {1, 0}, {1e-300, 1}} {
			_, _, err := allow(t.Context(), l.a, "k", tc.rate, tc.burst)
			if !errors.Is(err, ratelimit.ErrInvalid) {
				t.Errorf("Allow(rate %v, burst %d) = %v, want ErrInvalid", tc.rate, tc.burst, err)
			}
		}
	})
}

func TestRedisKeysAndErrors(t *testing.T) {
	c, prefix := redistest.Client(t), redistest.Prefix(t)
	l := ratelimit.NewRedis(c, prefix)
	ctx := t.Context()
	if _, _, err := allow(ctx, l, "app_1:api", 10, 5); err != nil {
		t.Fatal(err)
	}
	keys, err := redistest.Keys(ctx, c, prefix)
	if err != nil || len(keys) != 1 || keys[0] != prefix+"app_1:api" {
		t.Errorf("keys = %q, %v, want [%s]", keys, err, prefix+"app_1:api")
	}
	// The key expires when its bucket is full again: 1 token at 10/s.
	if ttl, err := c.Redis().PTTL(ctx, prefix+"app_1:api").Result(); err != nil || ttl <= 0 || ttl > 100*time.Millisecond {
		t.Errorf("PTTL = %v, %v, want at most 100ms", ttl, err)
	}
	closed := redistest.Client(t)
	closed.Close()
	_, _, err = allow(ctx, ratelimit.NewRedis(closed, prefix), "k", 1, 1)
	if !errors.Is(err, redisx.ErrUnavailable) || redistest.DriverType(err) != "" {
		t.Errorf("Allow on a closed client = %v, want ErrUnavailable without go-redis types", err)
	}
}

// TestMemoryForgetsFullBuckets checks that the memory limiter does not
// grow with keys that are no longer used.
func TestMemoryForgetsFullBuckets(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	m := ratelimit.NewMemory(func() time.Time { return now })
	for i := range 100_000 {
		if i%1000 == 0 {
			now = now.Add(time.Second) // every earlier bucket is full again
		}
		if ok, _, err := allow(t.Context(), m, strconv.Itoa(i), 10, 10); !ok || err != nil {
			t.Fatalf("Allow(key %d) = %v, %v", i, ok, err)
		}
	}
	if n := ratelimit.Tracked(m); n > 4096 {
		t.Errorf("memory limiter tracks %d keys after 100000 short-lived ones, want at most 4096", n)
	}
}

// allow calls l.Allow and returns the decision's OK and RetryAfter, after
// checking that Remaining and Reset are consistent with them.
func allow(ctx context.Context, l ratelimit.Limiter, key string, rate float64, burst int) (bool, time.Duration, error) {
	d, err := l.Allow(ctx, key, rate, burst)
	if err == nil && (d.Remaining < 0 || d.Remaining > burst || d.Reset < 0 || (!d.OK && d.Remaining != 0)) {
		return false, 0, fmt.Errorf("inconsistent decision %+v for burst %d", d, burst)
	}
	return d.OK, d.RetryAfter, err
}
