package api

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/magpie-im/magpie/internal/groupcommit"
	"github.com/magpie-im/magpie/internal/store"
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

// StoreNonces is the durable NonceCache of embedded mode: a nonce is
// written to the store, and is durable, before its request runs, so a
// request replayed after a restart is refused too. Concurrent requests
// share one commit (group commit). A MemoryNonces in front refuses a
// repeated replay without reaching the store. Run must be running. It is
// safe for concurrent use.
type StoreNonces struct {
	mem   *MemoryNonces
	hold  time.Duration
	batch *groupcommit.Batcher[store.Nonce, bool]
}

// NewStoreNonces returns a durable cache that holds each nonce in st for
// hold (twice the signing window: a timestamp may be up to one window
// early or late).
func NewStoreNonces(st store.Store, hold time.Duration) *StoreNonces {
	commit := func(ctx context.Context, ns []store.Nonce) ([]bool, []error) {
		fresh, err := st.UseNonces(ctx, ns)
		errs := make([]error, len(ns))
		if err != nil {
			for i := range errs {
				errs[i] = err
			}
			return make([]bool, len(ns)), errs
		}
		return fresh, errs
	}
	return &StoreNonces{mem: NewMemoryNonces(hold), hold: hold, batch: groupcommit.New(256, 16384, commit)}
}

// Run commits nonces until ctx ends.
func (n *StoreNonces) Run(ctx context.Context) error {
	n.batch.Run(ctx)
	return nil
}

// Seen implements NonceCache.
func (n *StoreNonces) Seen(ctx context.Context, appID, nonce string, now time.Time) (bool, error) {
	if seen, _ := n.mem.Seen(ctx, appID, nonce, now); seen {
		return true, nil
	}
	fresh, err := n.batch.SubmitAll(ctx, []store.Nonce{{AppID: appID, Value: nonce, ExpiresAt: now.Add(n.hold)}})
	if err != nil {
		return false, fmt.Errorf("record nonce: %w", err)
	}
	return !fresh[0], nil
}
