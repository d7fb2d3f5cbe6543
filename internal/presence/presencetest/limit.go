package presencetest

import (
	"testing"

	"github.com/magpie-im/magpie/internal/presence"
)

var limitTests = []test{
	{"KickOldest", testKickOldest},
	{"Refuse", testRefuse},
	{"AtLeastOne", func(t *testing.T, e env) {
		up(t, e.p, long, "n1")
		a := sess("u1", "d1", "s1", "n1", 1)
		b := sess("u1", "d2", "s2", "n1", 2)
		register(t, e.p, a, 0, presence.KickOldest)
		checkKicked(t, "Register(s2, max 0)", register(t, e.p, b, 0, presence.KickOldest), a)
		checkUser(t, e.p, "u1", b)
	}},
}

// testKickOldest applies kick_oldest across two nodes: the oldest sessions
// by ConnectedAt go, whatever the order of registration.
func testKickOldest(t *testing.T, e env) {
	up(t, e.p, long, "n1")
	up(t, e.q, long, "n2")
	a := sess("u1", "d1", "s1", "n1", 1)
	b := sess("u1", "d2", "s2", "n2", 2)
	c := sess("u1", "d3", "s3", "n2", 3)
	d := sess("u1", "d4", "s4", "n1", 4)
	register(t, e.q, b, 2, "") // the zero policy is kick_oldest
	register(t, e.p, a, 2, "")
	checkKicked(t, "Register(s3)", register(t, e.q, c, 2, presence.KickOldest), a)
	checkUser(t, e.p, "u1", b, c)
	// A lower limit kicks several, oldest first, after the same device.
	d2 := sess("u1", "d2", "s5", "n1", 5)
	checkKicked(t, "Register(s5, same device as s2, max 1)", register(t, e.p, d2, 1, presence.KickOldest), b, c)
	checkUser(t, e.q, "u1", d2)
	register(t, e.p, d, 3, presence.KickOldest)
	checkUser(t, e.q, "u1", d, d2)
}

// testRefuse applies refuse across two nodes: the new session is refused
// and nothing changes.
func testRefuse(t *testing.T, e env) {
	up(t, e.p, long, "n1")
	up(t, e.q, long, "n2")
	a := sess("u1", "d1", "s1", "n1", 1)
	b := sess("u1", "d2", "s2", "n2", 2)
	register(t, e.p, a, 2, presence.Refuse)
	register(t, e.q, b, 2, presence.Refuse)
	for _, h := range []presence.Presence{e.p, e.q} {
		_, err := h.Register(t.Context(), sess("u1", "d3", "s3", "n1", 3), 2, presence.Refuse)
		wantErr(t, err, presence.ErrTooManyDevices, "Register(s3, third device, max 2)")
	}
	checkUser(t, e.p, "u1", a, b)
	// Lower limit, same device: still refused, and the device's session
	// is not replaced.
	_, err := e.p.Register(t.Context(), sess("u1", "d2", "s4", "n1", 4), 1, presence.Refuse)
	wantErr(t, err, presence.ErrTooManyDevices, "Register(s4, same device as s2, max 1)")
	checkUser(t, e.q, "u1", a, b)
	// Once a device leaves, another fits.
	if err := e.q.Unregister(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	c := sess("u1", "d3", "s5", "n2", 5)
	register(t, e.q, c, 2, presence.Refuse)
	checkUser(t, e.p, "u1", b, c)
}
