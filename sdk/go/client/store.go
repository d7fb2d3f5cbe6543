package client

import (
	"context"
	"maps"
	"sync"
)

// Store persists the client's per-conversation cursors: the seq of the last
// message handed to the app by Next. A client created with a Store that
// holds cursors resumes each conversation after its cursor instead of
// fetching its whole history.
//
// The client calls a Store from its own goroutines, one call at a time.
type Store interface {
	// LoadCursors returns the saved cursors, by conversation id. It is
	// called once, when Run starts for the first time.
	LoadCursors(ctx context.Context) (map[string]int64, error)
	// SaveCursors records cursors that moved forward, by conversation id.
	// The client keeps unsaved cursors and offers them again on its next
	// save after an error.
	SaveCursors(ctx context.Context, cursors map[string]int64) error
}

// MemoryStore is a Store in memory, the default. Sharing one MemoryStore
// between successive clients of the same device lets a new client resume
// where the previous one stopped. It is safe for concurrent use.
type MemoryStore struct {
	mu      sync.Mutex // guards cursors
	cursors map[string]int64
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{cursors: make(map[string]int64)}
}

// LoadCursors implements Store.
func (s *MemoryStore) LoadCursors(context.Context) (map[string]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.cursors), nil
}

// SaveCursors implements Store. Cursors only move forward.
func (s *MemoryStore) SaveCursors(_ context.Context, cursors map[string]int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for conv, seq := range cursors {
		s.cursors[conv] = max(s.cursors[conv], seq)
	}
	return nil
}
