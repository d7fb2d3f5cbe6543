package gateway

import (
	"context"
	"sync"
	"time"
)

// NonceCache remembers request nonces for replay protection.
type NonceCache interface {
	// Seen records nonce for app and reports whether it had been recorded
	// within the last two signing windows.
	Seen(ctx context.Context, appID, nonce string, now time.Time) (bool, error)
}

// MemoryNonces is the in-process NonceCache of embedded mode. It keeps two
// generations of nonces and drops the older one every Period, so a nonce is
// remembered for at least Period (twice the signing window by default: a
// timestamp may be up to one window early or late). It is safe for
// concurrent use.
type MemoryNonces struct {
	period time.Duration

	mu      sync.Mutex // guards the fields below
	rotated time.Time
	cur     map[string]struct{}
	prev    map[string]struct{}
}

// NewMemoryNonces returns a cache that remembers nonces for at least period.
func NewMemoryNonces(period time.Duration) *MemoryNonces {
	return &MemoryNonces{period: period, cur: make(map[string]struct{}), prev: make(map[string]struct{})}
}

// Seen implements NonceCache.
func (m *MemoryNonces) Seen(_ context.Context, appID, nonce string, now time.Time) (bool, error) {
	k := appID + "\x00" + nonce
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rotated.IsZero() {
		m.rotated = now
	}
	if now.Sub(m.rotated) >= m.period {
		m.prev, m.cur = m.cur, make(map[string]struct{}, len(m.cur))
		m.rotated = now
	}
	if _, ok := m.cur[k]; ok {
		return true, nil
	}
	if _, ok := m.prev[k]; ok {
		return true, nil
	}
	m.cur[k] = struct{}{}
	return false, nil
}
