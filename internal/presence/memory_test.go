package presence_test

import (
	"sync"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/presence"
	"github.com/magpie-im/magpie/internal/presence/presencetest"
)

// clock is a fake clock, safe for concurrent use.
type clock struct {
	mu  sync.Mutex // guards now
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestMemory(t *testing.T) {
	var clocks sync.Map // *presence.Memory → *clock
	presencetest.Run(t, presencetest.Opener{
		Open: func(t *testing.T) presence.Presence {
			c := &clock{now: time.Unix(1_700_000_000, 0)}
			m := presence.NewMemory(c.Now)
			clocks.Store(m, c)
			t.Cleanup(func() { clocks.Delete(m) })
			return m
		},
		Reopen: func(_ *testing.T, p presence.Presence) presence.Presence { return p },
		Advance: func(p presence.Presence, d time.Duration) {
			c, _ := clocks.Load(p)
			c.(*clock).Advance(d)
		},
	})
}

// TestMemoryTTLBoundary pins the expiry instant: a node refreshed at t
// with ttl is alive before t+ttl and not at t+ttl.
func TestMemoryTTLBoundary(t *testing.T) {
	c := &clock{now: time.Unix(1_700_000_000, 0)}
	m := presence.NewMemory(c.Now)
	ctx := t.Context()
	if _, err := m.Refresh(ctx, "n1", 0); err != nil {
		t.Fatal(err)
	}
	s := presence.Session{AppID: "A", UserID: "u1", DeviceID: "d1", SessionID: "s1", NodeID: "n1"}
	if _, err := m.Register(ctx, s, 1, presence.Refuse); err != nil {
		t.Fatal(err)
	}
	c.Advance(presence.DefaultTTL - time.Nanosecond)
	if got, _ := m.Lookup(ctx, "A", []string{"u1"}); len(got["u1"]) != 1 {
		t.Errorf("Lookup(u1) just before the TTL = %v, want s1", got)
	}
	c.Advance(time.Nanosecond)
	if got, _ := m.Lookup(ctx, "A", []string{"u1"}); len(got) != 0 {
		t.Errorf("Lookup(u1) at the TTL = %v, want none", got)
	}
}
