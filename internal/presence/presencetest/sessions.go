package presencetest

import (
	"testing"

	"github.com/magpie-im/magpie/internal/presence"
)

var sessionTests = []test{
	{"RegisterLookupUnregister", testRegisterLookupUnregister},
	{"SameDeviceReplaced", testSameDeviceReplaced},
	{"RegisterTwice", func(t *testing.T, e env) {
		up(t, e.p, long, "n1")
		s := sess("u1", "d1", "s1", "n1", 1)
		register(t, e.p, s, 1, presence.Refuse)
		checkKicked(t, "Register(s1) again", register(t, e.q, s, 1, presence.Refuse))
		checkUser(t, e.p, "u1", s)
	}},
	{"UnregisterReplaced", testUnregisterReplaced},
	{"NodeDown", func(t *testing.T, e env) {
		_, err := e.p.Register(t.Context(), sess("u1", "d1", "s1", "n1", 1), 3, presence.KickOldest)
		wantErr(t, err, presence.ErrNodeDown, "Register(s1 on a node never refreshed)")
		checkUser(t, e.p, "u1")
	}},
	{"FirstRefresh", func(t *testing.T, e env) {
		for i, want := range []bool{false, true, true} {
			h := []presence.Presence{e.p, e.q}[i%2]
			if got, err := h.Refresh(t.Context(), "n1", long); err != nil || got != want {
				t.Errorf("Refresh(n1) #%d = %v, %v, want %v", i+1, got, err, want)
			}
		}
	}},
	{"Invalid", testInvalid},
}

func testRegisterLookupUnregister(t *testing.T, e env) {
	ctx := t.Context()
	up(t, e.p, long, "n1")
	up(t, e.q, long, "n2")
	a := sess("u1", "phone", "s1", "n1", 2)
	b := sess("u1", "laptop", "s2", "n2", 1)
	c := sess("u2", "phone", "s3", "n2", 3)
	c.ConnectedAt = c.ConnectedAt.Add(123_456_789) // kept to the millisecond
	for _, s := range []presence.Session{a, b, c} {
		checkKicked(t, "Register("+s.SessionID+")", register(t, e.p, s, 3, presence.KickOldest))
	}
	c.ConnectedAt = c.ConnectedAt.Truncate(1e6)
	for _, h := range []presence.Presence{e.p, e.q} {
		got := lookup(t, h, "u1", "u2", "u3")
		if len(got) != 2 || !equal(got["u1"], []presence.Session{b, a}) || !equal(got["u2"], []presence.Session{c}) {
			t.Errorf("Lookup(u1, u2, u3) = %v, want u1 %s, u2 %s", got, show([]presence.Session{b, a}), show([]presence.Session{c}))
		}
	}
	for range 2 { // idempotent
		if err := e.q.Unregister(ctx, a); err != nil {
			t.Fatalf("Unregister(s1): %v", err)
		}
	}
	checkUser(t, e.p, "u1", b)
	if err := e.p.Unregister(ctx, sess("u9", "d9", "s9", "n1", 0)); err != nil {
		t.Errorf("Unregister(a session never registered) = %v, want nil", err)
	}
	for _, s := range []presence.Session{b, c} {
		if err := e.p.Unregister(ctx, s); err != nil {
			t.Fatalf("Unregister(%s): %v", s.SessionID, err)
		}
	}
	if got := lookup(t, e.q, "u1", "u2"); len(got) != 0 {
		t.Errorf("Lookup(u1, u2) after unregistering all = %v, want none", got)
	}
}

func testSameDeviceReplaced(t *testing.T, e env) {
	up(t, e.p, long, "n1")
	up(t, e.q, long, "n2")
	old := sess("u1", "d1", "s1", "n1", 1)
	other := sess("u1", "d2", "s2", "n1", 2)
	register(t, e.p, old, 2, presence.Refuse)
	register(t, e.p, other, 2, presence.Refuse)
	// The user is at the limit, but a reconnecting device replaces its
	// own session, whatever the policy and the node.
	again := sess("u1", "d1", "s3", "n2", 3)
	checkKicked(t, "Register(s3, same device as s1)", register(t, e.q, again, 2, presence.Refuse), old)
	checkUser(t, e.p, "u1", other, again)
}

// testUnregisterReplaced unregisters a session after its device has
// reconnected elsewhere: the new session must stay.
func testUnregisterReplaced(t *testing.T, e env) {
	up(t, e.p, long, "n1")
	up(t, e.q, long, "n2")
	old := sess("u1", "d1", "s1", "n1", 1)
	repl := sess("u1", "d1", "s2", "n2", 2)
	register(t, e.p, old, 3, presence.KickOldest)
	checkKicked(t, "Register(s2)", register(t, e.q, repl, 3, presence.KickOldest), old)
	for _, h := range []presence.Presence{e.p, e.q} {
		if err := h.Unregister(t.Context(), old); err != nil {
			t.Fatalf("Unregister(s1): %v", err)
		}
	}
	checkUser(t, e.p, "u1", repl)
}

func testInvalid(t *testing.T, e env) {
	ctx := t.Context()
	up(t, e.p, long, "n1")
	good := sess("u1", "d1", "s1", "n1", 1)
	bad := map[string]func(s *presence.Session){
		"empty app":     func(s *presence.Session) { s.AppID = "" },
		"app with ':'":  func(s *presence.Session) { s.AppID = "A:u:x" },
		"empty user":    func(s *presence.Session) { s.UserID = "" },
		"user with NUL": func(s *presence.Session) { s.UserID = "u\x001" },
		"empty device":  func(s *presence.Session) { s.DeviceID = "" },
		"empty session": func(s *presence.Session) { s.SessionID = "" },
		"empty node":    func(s *presence.Session) { s.NodeID = "" },
		"node with NUL": func(s *presence.Session) { s.NodeID = "n1\x00" },
	}
	for name, mutate := range bad {
		s := good
		mutate(&s)
		_, err := e.p.Register(ctx, s, 3, presence.KickOldest)
		wantErr(t, err, presence.ErrInvalid, "Register(%s)", name)
		wantErr(t, e.p.Unregister(ctx, s), presence.ErrInvalid, "Unregister(%s)", name)
	}
	_, err := e.p.Register(ctx, good, 3, "kick_newest")
	wantErr(t, err, presence.ErrInvalid, "Register(policy kick_newest)")
	_, err = e.p.Lookup(ctx, "A:u:x", []string{"u1"})
	wantErr(t, err, presence.ErrInvalid, "Lookup(app with ':')")
	_, err = e.p.Refresh(ctx, "", long)
	wantErr(t, err, presence.ErrInvalid, "Refresh(empty node)")
	checkUser(t, e.p, "u1")
	// A device id may hold any bytes.
	odd := sess("u1", "d:1\x00é", "s1", "n1", 1)
	register(t, e.p, odd, 3, "")
	checkUser(t, e.p, "u1", odd)
}
