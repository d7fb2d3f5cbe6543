package ratelimit

import (
	"context"
	"sync"
	"time"
)

// Memory is the in-process Limiter. Buckets that have refilled are
// forgotten, so memory follows the keys in use. It is safe for concurrent
// use.
type Memory struct {
	now func() time.Time

	mu   sync.Mutex           // guards the fields below
	full map[string]time.Time // when each key's bucket is full again
	gcAt int                  // len(full) at which to drop full buckets
}

var _ Limiter = (*Memory)(nil)

// NewMemory returns a limiter that reads the time from now (nil means
// time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, full: make(map[string]time.Time), gcAt: 1024}
}

// Allow implements Limiter.
func (m *Memory) Allow(_ context.Context, key string, rate float64, burst int) (Decision, error) {
	iv, err := interval(rate, burst)
	if err != nil {
		return Decision{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	full := m.full[key]
	if full.Before(now) {
		full = now
	}
	// One token is there if the bucket, less burst-1 tokens, is full.
	if at := full.Add(iv - time.Duration(burst)*iv); at.After(now) {
		return Decision{RetryAfter: at.Sub(now), Reset: full.Sub(now)}, nil
	}
	full = full.Add(iv)
	m.full[key] = full
	if len(m.full) >= m.gcAt {
		m.forgetFull(now)
	}
	return decided(iv, burst, full.Sub(now)), nil
}

// decided is the Decision of a token taken, when the bucket is full again
// in reset.
func decided(iv time.Duration, burst int, reset time.Duration) Decision {
	if iv <= 0 {
		return Decision{OK: true, Remaining: burst, Reset: reset}
	}
	return Decision{OK: true, Remaining: max(burst-int((reset+iv-1)/iv), 0), Reset: reset}
}

// forgetFull drops the buckets that are full at now: they are the same as
// absent ones. Lock should be held.
func (m *Memory) forgetFull(now time.Time) {
	for k, full := range m.full {
		if !full.After(now) {
			delete(m.full, k)
		}
	}
	m.gcAt = max(1024, 2*len(m.full))
}
