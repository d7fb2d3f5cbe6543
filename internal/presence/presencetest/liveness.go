package presencetest

import (
	"testing"

	"github.com/magpie-im/magpie/internal/presence"
)

var livenessTests = []test{
	{"DeadNodeVanishes", testDeadNodeVanishes},
	{"RefreshExtends", testRefreshExtends},
	{"LapsedNodeStartsClean", testLapsedNodeStartsClean},
	{"Sweep", testSweep},
}

// testDeadNodeVanishes lets node n1 expire while n2 lives: n1's sessions
// vanish from lookups and from the device limit, n2's stay, and n1 can no
// longer register.
func testDeadNodeVanishes(t *testing.T, e env) {
	up(t, e.p, e.o.TTL, "n1")
	up(t, e.q, long, "n2")
	a := sess("u1", "d1", "s1", "n1", 1)
	b := sess("u1", "d2", "s2", "n2", 2)
	c := sess("u2", "d1", "s3", "n1", 3)
	register(t, e.p, a, 3, presence.KickOldest)
	register(t, e.q, b, 3, presence.KickOldest)
	register(t, e.p, c, 3, presence.KickOldest)
	e.eventually(t, "n1's sessions vanish", func() bool {
		got := lookup(t, e.q, "u1", "u2")
		if !equal(got["u1"], []presence.Session{b}) && !equal(got["u1"], []presence.Session{a, b}) {
			t.Fatalf("Lookup(u1) = %s while n1 expires, want n2's session to stay", show(got["u1"]))
		}
		return len(got) == 1 && len(got["u1"]) == 1
	})
	_, err := e.p.Register(t.Context(), sess("u3", "d1", "s4", "n1", 4), 3, presence.KickOldest)
	wantErr(t, err, presence.ErrNodeDown, "Register(s4 on expired n1)")
	// u2's session on the dead node neither counts nor is reported kicked.
	d := sess("u2", "d2", "s5", "n2", 5)
	checkKicked(t, "Register(s5, max 1, refuse)", register(t, e.q, d, 1, presence.Refuse))
	checkUser(t, e.p, "u2", d)
	checkUser(t, e.p, "u1", b)
}

// testRefreshExtends refreshes n1 with the short TTL again and again, and
// checks that it outlives n3, refreshed once with that TTL after n1's
// first refresh.
func testRefreshExtends(t *testing.T, e env) {
	up(t, e.p, long, "n1")
	up(t, e.q, long, "n3")
	a := sess("u1", "d1", "s1", "n1", 1)
	c := sess("u1", "d3", "s3", "n3", 3)
	register(t, e.p, a, 3, presence.KickOldest)
	register(t, e.q, c, 3, presence.KickOldest)
	up(t, e.p, e.o.TTL, "n1")
	up(t, e.q, e.o.TTL, "n3") // from now on, n3 expires after n1 would without refreshes
	e.eventually(t, "n3's session vanishes", func() bool {
		if alive, err := e.p.Refresh(t.Context(), "n1", e.o.TTL); err != nil || !alive {
			t.Fatalf("Refresh(n1) = %v, %v, want true (alive)", alive, err)
		}
		return len(lookup(t, e.q, "u1")["u1"]) < 2
	})
	checkUser(t, e.q, "u1", a)
}

// testLapsedNodeStartsClean lets n1 lapse, then refreshes it: the refresh
// reports the lapse and the node's former sessions do not come back.
func testLapsedNodeStartsClean(t *testing.T, e env) {
	up(t, e.p, long, "n1")
	a := sess("u1", "d1", "s1", "n1", 1)
	register(t, e.p, a, 3, presence.KickOldest)
	up(t, e.p, e.o.TTL, "n1")
	e.eventually(t, "n1's session vanishes", func() bool { return len(lookup(t, e.q, "u1")) == 0 })
	if alive, err := e.p.Refresh(t.Context(), "n1", long); err != nil || alive {
		t.Fatalf("Refresh(n1) after its lapse = %v, %v, want false", alive, err)
	}
	checkUser(t, e.q, "u1")
	// Its sessions register again.
	checkKicked(t, "Register(s1) again", register(t, e.p, a, 1, presence.Refuse))
	checkUser(t, e.q, "u1", a)
}

// testSweep sweeps after n1 expired: n2's sessions stay, n1's are gone for
// good, and sweeping again, or from another handle, is harmless.
func testSweep(t *testing.T, e env) {
	up(t, e.p, e.o.TTL, "n1")
	up(t, e.q, long, "n2")
	a := sess("u1", "d1", "s1", "n1", 1)
	b := sess("u2", "d1", "s2", "n2", 2)
	register(t, e.p, a, 3, presence.KickOldest)
	register(t, e.q, b, 3, presence.KickOldest)
	e.eventually(t, "n1's session vanishes", func() bool { return len(lookup(t, e.q, "u1")) == 0 })
	for _, h := range []presence.Presence{e.p, e.q, e.p} {
		if err := h.Sweep(t.Context()); err != nil {
			t.Fatalf("Sweep: %v", err)
		}
	}
	checkUser(t, e.p, "u2", b)
	if alive, err := e.p.Refresh(t.Context(), "n1", long); err != nil || alive {
		t.Fatalf("Refresh(n1) after the sweep = %v, %v, want false", alive, err)
	}
	checkUser(t, e.q, "u1")
}
