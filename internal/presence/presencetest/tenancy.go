package presencetest

import (
	"testing"

	"github.com/magpie-im/magpie/internal/presence"
)

var tenancyTests = []test{
	{"AppsAreIsolated", testAppsAreIsolated},
}

// testAppsAreIsolated gives apps A and B a user and a device of the same
// ids: neither app sees, counts, replaces or removes the other's session.
func testAppsAreIsolated(t *testing.T, e env) {
	ctx := t.Context()
	up(t, e.p, long, "n1")
	up(t, e.q, long, "n2")
	a := sess("u1", "d1", "s1", "n1", 1)
	b := a
	b.AppID, b.SessionID, b.NodeID = "B", "s2", "n2"
	// Same user and device in B, limit 1 and refuse: no kick, no refusal.
	register(t, e.p, a, 1, presence.Refuse)
	checkKicked(t, "Register(B's s2)", register(t, e.q, b, 1, presence.Refuse))
	// B's look-alike of A's session does not remove A's.
	ghost := a
	ghost.AppID = "B"
	if err := e.q.Unregister(ctx, ghost); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		app  string
		want presence.Session
	}{{"A", a}, {"B", b}} {
		got := lookupApp(t, e.p, tc.app, "u1")
		if len(got) != 1 || !equal(got["u1"], []presence.Session{tc.want}) {
			t.Errorf("Lookup(%s, u1) = %v, want only %s", tc.app, got, show([]presence.Session{tc.want}))
		}
	}
	if got := lookupApp(t, e.q, "C", "u1"); len(got) != 0 {
		t.Errorf("Lookup(C, u1) = %v, want none", got)
	}
	// An app id that looks like a prefix of another's keys is refused.
	_, err := e.p.Lookup(ctx, "A:u", []string{"u1"})
	wantErr(t, err, presence.ErrInvalid, "Lookup(%q)", "A:u")
}
