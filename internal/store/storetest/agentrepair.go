package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/maintenance"
	"github.com/magpie-im/magpie/internal/store"
)

var agentRepairTests = []test{
	{"SetAgentActive", testSetAgentActive},
	{"AgentLoads", testAgentLoads},
	{"Repair", testAgentRepair},
	{"RepairWaitsForChanges", testAgentRepairWaits},
}

// testSetAgentActive: the count is set only while it is the one named.
func testSetAgentActive(t *testing.T, s store.Store) {
	a, ctx := supportSetup(t, s, 3, 1), t.Context()
	must(t, a.SetAgentActive(ctx, "ag1", 0, 2), "SetAgentActive(ag1, 0, 2)")
	checkActive(t, a, "ag1", 2)
	wantErr(t, a.SetAgentActive(ctx, "ag1", 0, 1), store.ErrConflict, "SetAgentActive(ag1, stale 0, 1)")
	checkActive(t, a, "ag1", 2)
	wantErr(t, a.SetAgentActive(ctx, "nobody", 0, 1), store.ErrNotFound, "SetAgentActive(nobody)")
	// Another app's agent of the same id is not reached.
	wantErr(t, s.App("B").SetAgentActive(ctx, "ag1", 2, 0), store.ErrNotFound, "App(B).SetAgentActive(ag1)")
	checkActive(t, a, "ag1", 2)
}

// loadOf returns the load of app's agent user among ls.
func loadOf(t *testing.T, ls []store.AgentLoad, app, user string) store.AgentLoad {
	t.Helper()
	for _, l := range ls {
		if l.AppID == app && l.UserID == user {
			return l
		}
	}
	t.Fatalf("no load of %s/%s in %+v", app, user, ls)
	return store.AgentLoad{}
}

// testAgentLoads pages through the agents of every app, each with its
// active sessions only; a session's change changes its agent's Mark.
func testAgentLoads(t *testing.T, s store.Store) {
	a, ctx := supportSetup(t, s, 3, 3, "v1", "v2", "v3"), t.Context()
	b := s.App("B")
	must(t, b.CreateUser(ctx, newUser("ag0")), "B: CreateUser(ag0)")
	must(t, b.PutAgent(ctx, newAgent("ag0", 1)), "B: PutAgent(ag0)")
	createSupport(t, a, newSupportSession("s1", "v1", "", 10), newSupportSession("s2", "v2", "", 11),
		newSupportSession("s3", "v3", "", 12))
	_, err := a.AssignSupportSession(ctx, "s1", 1, "ag1", at(20))
	must(t, err, "AssignSupportSession(s1, ag1)")
	_, err = a.AssignSupportSession(ctx, "s2", 1, "ag1", at(21))
	must(t, err, "AssignSupportSession(s2, ag1)")
	got, err := a.AssignSupportSession(ctx, "s3", 1, "ag2", at(22))
	must(t, err, "AssignSupportSession(s3, ag2)")
	_, err = a.CloseSupportSession(ctx, "s3", got.Version, "v3", at(23)) // closed: not counted
	must(t, err, "CloseSupportSession(s3)")

	all, err := s.AgentLoads(ctx, "", "", 10)
	must(t, err, "AgentLoads(first 10)")
	var keys []string
	for _, l := range all {
		keys = append(keys, l.AppID+"/"+l.UserID)
	}
	if want := []string{"A/ag1", "A/ag2", "B/ag0"}; !slices.Equal(keys, want) {
		t.Fatalf("AgentLoads(first 10) = %v, want %v", keys, want)
	}
	if l := loadOf(t, all, "A", "ag1"); l.Active != 2 || l.Sessions != 2 {
		t.Errorf("AgentLoads: A/ag1 = %+v, want Active 2 and 2 sessions", l)
	}
	if l := loadOf(t, all, "A", "ag2"); l.Active != 0 || l.Sessions != 0 || l.Mark != 0 {
		t.Errorf("AgentLoads: A/ag2 = %+v, want nothing active", l)
	}
	// Pages: after A/ag1 comes A/ag2, then B/ag0.
	page, err := s.AgentLoads(ctx, "A", "ag1", 1)
	must(t, err, "AgentLoads(after A/ag1, 1)")
	if len(page) != 1 || page[0].AppID != "A" || page[0].UserID != "ag2" {
		t.Errorf("AgentLoads(after A/ag1, 1) = %+v, want A/ag2", page)
	}
	page, err = s.AgentLoads(ctx, "A", "ag2", 5)
	must(t, err, "AgentLoads(after A/ag2, 5)")
	if len(page) != 1 || page[0].AppID != "B" || page[0].UserID != "ag0" {
		t.Errorf("AgentLoads(after A/ag2, 5) = %+v, want B/ag0", page)
	}
	// A session moving to another agent changes both Marks.
	before := loadOf(t, all, "A", "ag1")
	s1, err := a.GetSupportSession(ctx, "s1")
	must(t, err, "GetSupportSession(s1)")
	_, err = a.AssignSupportSession(ctx, "s1", s1.Version, "ag2", at(30))
	must(t, err, "AssignSupportSession(s1, ag2)")
	all, err = s.AgentLoads(ctx, "", "", 10)
	must(t, err, "AgentLoads(first 10)")
	if l := loadOf(t, all, "A", "ag1"); l.Sessions != 1 || l.Mark == before.Mark {
		t.Errorf("AgentLoads after a transfer: A/ag1 = %+v, want 1 session and a Mark other than %d", l, before.Mark)
	}
}

// repairClock is a clock the test moves.
type repairClock struct{ now time.Time }

func (c *repairClock) Now() time.Time { return c.now }

// testAgentRepair corrupts agents' counts, as a crash between a session's
// write and its agent's would, and runs the repair sweep: a count below
// the sessions is repaired at the first pass, one above them once it has
// stood still for the grace; right counts are left alone.
func testAgentRepair(t *testing.T, s store.Store) {
	a, ctx := supportSetup(t, s, 3, 3, "v1", "v2", "v3"), t.Context()
	createSupport(t, a, newSupportSession("s1", "v1", "", 10), newSupportSession("s2", "v2", "", 11),
		newSupportSession("s3", "v3", "", 12))
	for _, x := range []struct{ id, agent string }{{"s1", "ag1"}, {"s2", "ag2"}, {"s3", "ag2"}} {
		_, err := a.AssignSupportSession(ctx, x.id, 1, x.agent, at(20))
		must(t, err, "AssignSupportSession(%s, %s)", x.id, x.agent)
	}
	b := s.App("B")
	must(t, b.CreateUser(ctx, newUser("ag9")), "B: CreateUser(ag9)")
	must(t, b.PutAgent(ctx, newAgent("ag9", 2)), "B: PutAgent(ag9)")
	// The crash's leftovers: ag1 counts 3 for 1 session (a place taken,
	// never given back), ag2 0 for 2, B's ag9 1 for none.
	must(t, a.SetAgentActive(ctx, "ag1", 1, 3), "SetAgentActive(ag1, 1, 3)")
	must(t, a.SetAgentActive(ctx, "ag2", 2, 0), "SetAgentActive(ag2, 2, 0)")
	must(t, b.SetAgentActive(ctx, "ag9", 0, 1), "B: SetAgentActive(ag9, 0, 1)")

	clock := &repairClock{now: at(100)}
	r := &maintenance.AgentRepair{Grace: time.Minute, Batch: 2, Now: clock.Now}
	pass := func(want int) {
		t.Helper()
		n, err := r.Pass(ctx, s)
		if err != nil || n != want {
			t.Fatalf("Pass at %v = %d, %v, want %d repaired", clock.now, n, err, want)
		}
	}
	// Batches of 2: A/ag1 and A/ag2, then B/ag9, then from the start.
	pass(1) // ag2 below its sessions: at once
	checkActive(t, a, "ag2", 2)
	checkActive(t, a, "ag1", 3)
	pass(0)
	clock.now = clock.now.Add(30 * time.Second)
	pass(0) // ag1 above for 30 s only
	checkActive(t, a, "ag1", 3)
	pass(0) // ag9 above for 30 s only
	clock.now = clock.now.Add(31 * time.Second)
	pass(1) // ag1 above, unchanged, for 61 s
	checkActive(t, a, "ag1", 1)
	checkActive(t, a, "ag2", 2)
	pass(1) // B's ag9
	checkActive(t, b, "ag9", 0)
	pass(0)
	pass(0)
	// The repaired counts work: ag1 takes two more sessions, and no more.
	createSupport(t, a, newSupportSession("s4", "v1", "", 40), newSupportSession("s5", "v2", "", 41),
		newSupportSession("s6", "v3", "", 42))
	for _, id := range []string{"s4", "s5"} {
		_, err := a.AssignSupportSession(ctx, id, 1, "ag1", at(50))
		must(t, err, "AssignSupportSession(%s, repaired ag1)", id)
	}
	_, err := a.AssignSupportSession(ctx, "s6", 1, "ag1", at(50))
	wantErr(t, err, store.ErrLimit, "AssignSupportSession(s6, full ag1)")
}

// testAgentRepairWaits: a count above its sessions that changes, or
// whose sessions change, between passes (as one does while a session's
// change is between its two writes) is not repaired until it stands
// still for the grace.
func testAgentRepairWaits(t *testing.T, s store.Store) {
	a, ctx := supportSetup(t, s, 3, 3, "v1", "v2"), t.Context()
	createSupport(t, a, newSupportSession("s1", "v1", "", 10), newSupportSession("s2", "v2", "", 11))
	s1, err := a.AssignSupportSession(ctx, "s1", 1, "ag1", at(20))
	must(t, err, "AssignSupportSession(s1, ag1)")
	must(t, a.SetAgentActive(ctx, "ag1", 1, 2), "SetAgentActive(ag1, 1, 2)")

	clock := &repairClock{now: at(100)}
	r := &maintenance.AgentRepair{Grace: time.Minute, Now: clock.Now}
	pass := func(want int) {
		t.Helper()
		n, err := r.Pass(ctx, s)
		if err != nil || n != want {
			t.Fatalf("Pass at %v = %d, %v, want %d repaired", clock.now, n, err, want)
		}
	}
	pass(0)
	// Its session changes (a transfer to ag2 and back): ag1's count is
	// 2 for 1 session again, but the sessions are not the ones seen.
	s1, err = a.AssignSupportSession(ctx, "s1", s1.Version, "ag2", at(30))
	must(t, err, "AssignSupportSession(s1, ag2)")
	_, err = a.AssignSupportSession(ctx, "s1", s1.Version, "ag1", at(31))
	must(t, err, "AssignSupportSession(s1, ag1)")
	checkActive(t, a, "ag1", 2)
	clock.now = clock.now.Add(2 * time.Minute)
	pass(0)
	checkActive(t, a, "ag1", 2)
	// Its count changes: a new session takes a place (3 for 2).
	_, err = a.AssignSupportSession(ctx, "s2", 1, "ag1", at(32))
	must(t, err, "AssignSupportSession(s2, ag1)")
	clock.now = clock.now.Add(2 * time.Minute)
	pass(0)
	checkActive(t, a, "ag1", 3)
	// Standing still for the grace: repaired.
	clock.now = clock.now.Add(time.Minute)
	pass(1)
	checkActive(t, a, "ag1", 2)
}
