package rooms

import (
	"testing"
	"time"
)

// TestSweepForgetsIdleRooms checks that the sweep forgets the send state
// of rooms idle for the dedup window, and keeps busy and recent ones.
func TestSweepForgetsIdleRooms(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	s := New(nil, nil, nil, Config{Now: func() time.Time { return now }})
	idle, recent, busy := s.live("A", "idle"), s.live("A", "recent"), s.live("A", "busy")
	idle.used = now.Add(-10 * time.Minute)
	recent.used = now.Add(-time.Minute)
	busy.used, busy.running = now.Add(-10*time.Minute), true
	s.mu.Lock()
	s.sweepLocked(now.Add(-s.cfg.DedupWindow))
	_, hasIdle := s.lives[roomKey{"A", "idle"}]
	n := len(s.lives)
	s.mu.Unlock()
	if hasIdle || n != 2 {
		t.Errorf("after the sweep: idle kept %v, %d rooms, want the idle one gone and 2 left", hasIdle, n)
	}
	// Creations trigger a sweep every sweepEvery.
	for i := range sweepEvery {
		s.live("B", string(rune('a'+i%26))+time.Duration(i).String())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.lives) > sweepEvery+2 {
		t.Errorf("%d rooms after %d creations, want the idle ones swept", len(s.lives), sweepEvery)
	}
}
