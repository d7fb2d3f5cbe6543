package api_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magpie-im/magpie/gateway/api"
	"github.com/magpie-im/magpie/internal/redisx"
	"github.com/magpie-im/magpie/internal/redisx/redistest"
)

var (
	_ api.NonceCache = (*api.MemoryNonces)(nil)
	_ api.NonceCache = (*redisx.Nonces)(nil)
)

// nonceCaches is what the shared nonce-cache test runs on: two handles on
// one cache (two gateways), the hold, and its clock.
type nonceCaches struct {
	a, b api.NonceCache
	hold time.Duration
	// now is the time passed to Seen; advance lets d pass (on a fake
	// clock, or on real time as a poll interval).
	now     func() time.Time
	advance func(d time.Duration)
}

func TestNonceCacheMemory(t *testing.T) {
	const hold = 10 * time.Minute
	testNonceCache(t, func(t *testing.T) nonceCaches {
		m := api.NewMemoryNonces(hold)
		var mu sync.Mutex
		now := time.Unix(1_700_000_000, 0)
		return nonceCaches{a: m, b: m, hold: hold,
			now:     func() time.Time { mu.Lock(); defer mu.Unlock(); return now },
			advance: func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) },
		}
	})
}

func TestNonceCacheRedis(t *testing.T) {
	const hold = 300 * time.Millisecond
	testNonceCache(t, func(t *testing.T) nonceCaches {
		prefix := redistest.Prefix(t)
		return nonceCaches{
			a:       redisx.NewNonces(redistest.Client(t), prefix, hold),
			b:       redisx.NewNonces(redistest.Client(t), prefix, hold),
			hold:    hold,
			now:     time.Now,
			advance: time.Sleep, // a poll interval on real time, not synchronisation
		}
	})
}

// testNonceCache is the one test of every NonceCache: a nonce is refused
// on every gateway once seen, per app, until at least the hold has passed.
func testNonceCache(t *testing.T, open func(t *testing.T) nonceCaches) {
	t.Run("Replay", func(t *testing.T) {
		c := open(t)
		ctx := t.Context()
		for _, step := range []struct {
			cache       api.NonceCache
			app, nonce  string
			wantSeen    bool
			description string
		}{
			{c.a, "app_1", "n1", false, "first use"},
			{c.a, "app_1", "n1", true, "replay on the same gateway"},
			{c.b, "app_1", "n1", true, "replay on another gateway"},
			{c.b, "app_2", "n1", false, "same nonce, another app"},
			{c.a, "app_1", "n2", false, "another nonce"},
		} {
			seen, err := step.cache.Seen(ctx, step.app, step.nonce, c.now())
			if err != nil || seen != step.wantSeen {
				t.Errorf("Seen(%s, %s) (%s) = %v, %v, want %v", step.app, step.nonce, step.description, seen, err, step.wantSeen)
			}
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		c := open(t)
		var fresh atomic.Int32
		var wg sync.WaitGroup
		for i := range 32 {
			cache := []api.NonceCache{c.a, c.b}[i%2]
			wg.Go(func() {
				seen, err := cache.Seen(t.Context(), "app_1", "race", c.now())
				if err != nil {
					t.Errorf("Seen: %v", err)
				} else if !seen {
					fresh.Add(1)
				}
			})
		}
		wg.Wait()
		if n := fresh.Load(); n != 1 {
			t.Errorf("32 concurrent Seen of one nonce on two gateways: %d fresh, want 1", n)
		}
	})
	t.Run("Forgets", func(t *testing.T) {
		c := open(t)
		ctx := t.Context()
		start := c.now()
		if seen, err := c.a.Seen(ctx, "app_1", "n1", start); err != nil || seen {
			t.Fatalf("Seen(n1) = %v, %v, want false", seen, err)
		}
		deadline := time.Now().Add(10*c.hold + 10*time.Second)
		for {
			c.advance(c.hold / 10)
			seen, err := c.b.Seen(ctx, "app_1", "n1", c.now())
			if err != nil {
				t.Fatal(err)
			}
			if !seen {
				break
			}
			if time.Now().After(deadline) || c.now().Sub(start) > 3*c.hold+5*time.Second {
				t.Fatalf("nonce still remembered after %v, hold %v", c.now().Sub(start), c.hold)
			}
		}
		if held := c.now().Sub(start); held < c.hold {
			t.Errorf("nonce forgotten after %v, want at least the hold %v", held, c.hold)
		}
	})
}
