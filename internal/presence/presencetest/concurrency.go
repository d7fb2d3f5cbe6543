package presencetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/magpie-im/magpie/internal/presence"
)

var concurrencyTests = []test{
	{"KickOldest", func(t *testing.T, e env) { testConcurrentLimit(t, e, presence.KickOldest) }},
	{"Refuse", func(t *testing.T, e env) { testConcurrentLimit(t, e, presence.Refuse) }},
}

// testConcurrentLimit has many goroutines on two nodes (two handles)
// register devices of one user at once, while others look the user up.
// No lookup may ever see more sessions than the limit; at the end the user
// has exactly the limit. With kick_oldest every session registered is
// either kicked exactly once or still there; with refuse exactly the
// limit's worth succeed and those are the ones left.
func testConcurrentLimit(t *testing.T, e env, policy presence.Policy) {
	const workers, perWorker, maxDevices = 16, 4, 3
	up(t, e.p, long, "n1")
	up(t, e.q, long, "n2")
	var (
		mu         sync.Mutex
		registered = map[string]bool{} // session ids
		kicks      = map[string]int{}  // session id → times kicked
		stop       atomic.Bool
		wg, readWG sync.WaitGroup
	)
	for range 2 {
		readWG.Go(func() {
			for !stop.Load() {
				got, err := e.q.Lookup(t.Context(), "A", []string{"u1"})
				if err != nil {
					t.Errorf("Lookup: %v", err)
					return
				}
				if n := len(got["u1"]); n > maxDevices {
					t.Errorf("Lookup(u1) saw %d sessions, limit %d: %s", n, maxDevices, show(got["u1"]))
				}
			}
		})
	}
	for w := range workers {
		h, node := e.p, "n1"
		if w%2 == 1 {
			h, node = e.q, "n2"
		}
		wg.Go(func() {
			for i := range perWorker {
				id := fmt.Sprintf("s%d-%d", w, i)
				s := sess("u1", "d"+id, id, node, int64(w*perWorker+i))
				kicked, err := h.Register(t.Context(), s, maxDevices, policy)
				if errors.Is(err, presence.ErrTooManyDevices) && policy == presence.Refuse {
					continue
				}
				if err != nil {
					t.Errorf("Register(%s): %v", id, err)
					return
				}
				mu.Lock()
				registered[id] = true
				for _, k := range kicked {
					kicks[k.SessionID]++
				}
				mu.Unlock()
				if policy == presence.Refuse && len(kicked) > 0 {
					t.Errorf("Register(%s, refuse) kicked %s", id, show(kicked))
				}
			}
		})
	}
	wg.Wait()
	stop.Store(true)
	readWG.Wait()

	final := lookup(t, e.p, "u1")["u1"]
	if len(final) != maxDevices {
		t.Fatalf("Lookup(u1) at the end = %s, want %d sessions", show(final), maxDevices)
	}
	for id, n := range kicks {
		if n != 1 || !registered[id] {
			t.Errorf("session %s kicked %d times, registered %v; want once, and registered", id, n, registered[id])
		}
	}
	for _, s := range final {
		if !registered[s.SessionID] || kicks[s.SessionID] > 0 {
			t.Errorf("session %s at the end: registered %v, kicked %d times", s.SessionID, registered[s.SessionID], kicks[s.SessionID])
		}
	}
	if left := len(registered) - len(kicks); left != maxDevices {
		t.Errorf("sessions registered and never kicked = %d, want %d (the ones left)", left, maxDevices)
	}
	if policy == presence.Refuse && len(registered) != maxDevices {
		t.Errorf("refuse: %d registrations succeeded, want %d", len(registered), maxDevices)
	}
}
