// Package presencetest is the conformance suite for presence.Presence, the
// executable form of the contract documented in package presence. It owns
// no registry of its own: every implementation runs it from its tests,
//
//	func TestConformance(t *testing.T) {
//		presencetest.Run(t, presencetest.Opener{
//			Open:   func(t *testing.T) presence.Presence { return openFresh(t) },
//			Reopen: func(t *testing.T, p presence.Presence) presence.Presence { return openAgain(t, p) },
//			TTL:    500 * time.Millisecond,
//		})
//	}
//
// Expiry is tested with a short node TTL (Opener.TTL). A registry with an
// injected clock moves it with Opener.Advance, so those tests are exact and
// instant; one on real time (Redis) is polled, with a deadline, until the
// TTL has passed. Long-lived nodes get an hour, so that no pause of the test
// machine can expire them. The suite never sleeps to synchronise.
package presencetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/presence"
)

// Opener opens the registries the suite runs on.
type Opener struct {
	// Open returns a new, empty registry each time it is called (once per
	// subtest), as one node's process holds it, closed with t.Cleanup.
	Open func(t *testing.T) presence.Presence
	// Reopen returns a second handle on the registry of p, as another
	// node's process would hold it, closed with t.Cleanup. An in-process
	// registry returns p.
	Reopen func(t *testing.T, p presence.Presence) presence.Presence
	// TTL is the node TTL of the tests that wait for a node to expire: a
	// few hundred milliseconds on real time. Zero means
	// presence.DefaultTTL, which only suits a registry with Advance.
	TTL time.Duration
	// Advance moves the clock of p (and of its other handles) forward by
	// d. Nil means the registry runs on real time: the suite then polls,
	// pausing TTL/20 between polls, until a deadline.
	Advance func(p presence.Presence, d time.Duration)
}

// env is what a test runs on: two handles on one fresh registry, as two
// nodes hold it.
type env struct {
	o    Opener
	p, q presence.Presence
}

type test struct {
	name string
	run  func(t *testing.T, e env)
}

// Run runs the conformance suite.
func Run(t *testing.T, o Opener) {
	if o.TTL == 0 {
		o.TTL = presence.DefaultTTL
	}
	groups := []struct {
		name  string
		tests []test
	}{
		{"Sessions", sessionTests},
		{"Limit", limitTests},
		{"Lookup", lookupTests},
		{"Liveness", livenessTests},
		{"Tenancy", tenancyTests},
		{"Concurrency", concurrencyTests},
		{"Rooms", roomTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					p := o.Open(t)
					tc.run(t, env{o: o, p: p, q: o.Reopen(t, p)})
				})
			}
		})
	}
}

// long is the TTL of nodes that must stay alive for the whole test.
const long = time.Hour

// base is the suite's fixed clock origin for ConnectedAt.
var base = time.UnixMilli(1_700_000_000_000).UTC()

// sess returns a session of app "A" on node; connected sec seconds after
// base.
func sess(user, device, id, node string, sec int64) presence.Session {
	return presence.Session{AppID: "A", UserID: user, DeviceID: device, SessionID: id, NodeID: node,
		ConnectedAt: base.Add(time.Duration(sec) * time.Second)}
}

// up refreshes nodes for ttl; it fails the test on error.
func up(t *testing.T, p presence.Presence, ttl time.Duration, nodes ...string) {
	t.Helper()
	for _, n := range nodes {
		if _, err := p.Refresh(t.Context(), n, ttl); err != nil {
			t.Fatalf("Refresh(%s, %v): %v", n, ttl, err)
		}
	}
}

// register registers s and returns what it kicked; it fails the test on
// error.
func register(t *testing.T, p presence.Presence, s presence.Session, maxDevices int, policy presence.Policy) []presence.Session {
	t.Helper()
	kicked, err := p.Register(t.Context(), s, maxDevices, policy)
	if err != nil {
		t.Fatalf("Register(%s, %d, %q): %v", s.SessionID, maxDevices, policy, err)
	}
	return kicked
}

// lookup looks up users of app "A"; it fails the test on error.
func lookup(t *testing.T, p presence.Presence, users ...string) map[string][]presence.Session {
	t.Helper()
	return lookupApp(t, p, "A", users...)
}

func lookupApp(t *testing.T, p presence.Presence, app string, users ...string) map[string][]presence.Session {
	t.Helper()
	got, err := p.Lookup(t.Context(), app, users)
	if err != nil {
		t.Fatalf("Lookup(%s, %d users): %v", app, len(users), err)
	}
	return got
}

// checkUser checks that user's live sessions are exactly want, in order.
func checkUser(t *testing.T, p presence.Presence, user string, want ...presence.Session) {
	t.Helper()
	got := lookup(t, p, user)[user]
	if !equal(got, want) {
		t.Errorf("Lookup(%s) = %s, want %s", user, show(got), show(want))
	}
}

// checkKicked checks that Register kicked exactly want, in order.
func checkKicked(t *testing.T, call string, got []presence.Session, want ...presence.Session) {
	t.Helper()
	if !equal(got, want) {
		t.Errorf("%s kicked %s, want %s", call, show(got), show(want))
	}
}

// equal reports whether two lists hold the same sessions in the same order.
func equal(a, b []presence.Session) bool {
	return slices.EqualFunc(a, b, func(x, y presence.Session) bool {
		return x.AppID == y.AppID && x.UserID == y.UserID && x.DeviceID == y.DeviceID &&
			x.SessionID == y.SessionID && x.NodeID == y.NodeID && x.ConnectedAt.Equal(y.ConnectedAt)
	})
}

// show formats sessions for failure messages.
func show(ss []presence.Session) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = fmt.Sprintf("%s/%s/%s:%s@%s(%d)", s.AppID, s.UserID, s.DeviceID, s.SessionID, s.NodeID, s.ConnectedAt.UnixMilli())
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// wantErr reports an error unless errors.Is(err, want).
func wantErr(t *testing.T, err, want error, call string, args ...any) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s = %v, want %v", fmt.Sprintf(call, args...), err, want)
	}
}

// eventually lets time pass for p until cond holds: on an injected clock
// it advances TTL/20 per check, on real time it pauses as long. It fails
// the test if cond does not hold within 20 TTLs (plus 10 s on real time).
func (e env) eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	step := e.o.TTL / 20
	deadline := time.Now().Add(20*e.o.TTL + 10*time.Second)
	for i := 0; ; i++ {
		if cond() {
			return
		}
		if e.o.Advance != nil && i >= 400 || e.o.Advance == nil && time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, 20*e.o.TTL)
		}
		if e.o.Advance != nil {
			e.o.Advance(e.p, step)
		} else {
			time.Sleep(step) // poll interval on real time, not synchronisation
		}
	}
}
