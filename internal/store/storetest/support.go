package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/magpie-im/magpie/internal/store"
)

var supportTests = []test{
	{"AgentsPutGetList", testAgentsPutGetList},
	{"PutAgentKeepsActive", testPutAgentKeepsActive},
	{"DeleteAgent", testDeleteAgent},
	{"SessionsCreateGet", testSupportCreateGet},
	{"SessionsList", testSupportList},
	{"Assign", testSupportAssign},
	{"Transfer", testSupportTransfer},
	{"Requeue", testSupportRequeue},
	{"Close", testSupportClose},
	{"Rate", testSupportRate},
	{"AssignConcurrent", testSupportAssignConcurrent},
	{"DeleteUser", testSupportDeleteUser},
}

func newAgent(id string, capacity int, skills ...string) store.Agent {
	return store.Agent{UserID: id, Skills: skills, Capacity: capacity, Available: true, UpdatedAt: at(5)}
}

func newSupportSession(id, visitor, skill string, sec int64) store.SupportSession {
	return store.SupportSession{ID: id, VisitorID: visitor, Skill: skill, State: store.SupportWaiting,
		CreatedAt: at(sec), Version: 1}
}

func normAgent(x store.Agent) store.Agent {
	x.UpdatedAt = normTime(x.UpdatedAt)
	x.Skills = nilIfEmpty(x.Skills)
	return x
}

func normSupport(x store.SupportSession) store.SupportSession {
	x.CreatedAt, x.AssignedAt, x.ClosedAt = normTime(x.CreatedAt), normTime(x.AssignedAt), normTime(x.ClosedAt)
	return x
}

func supportIDs(ss []store.SupportSession) []string {
	return ids(ss, func(s store.SupportSession) string { return s.ID })
}

func agentIDs(as []store.Agent) []string {
	return ids(as, func(a store.Agent) string { return a.UserID })
}

// supportSetup creates, in app A, the users of the given ids and agents
// ag1 and ag2 (users too) of the given capacities, serving "billing".
func supportSetup(t *testing.T, s store.Store, cap1, cap2 int, users ...string) store.AppStore {
	t.Helper()
	a, ctx := s.App("A"), t.Context()
	for _, id := range append([]string{"ag1", "ag2"}, users...) {
		must(t, a.CreateUser(ctx, newUser(id)), "CreateUser(%s)", id)
	}
	must(t, a.PutAgent(ctx, newAgent("ag1", cap1, "billing")), "PutAgent(ag1)")
	must(t, a.PutAgent(ctx, newAgent("ag2", cap2, "billing")), "PutAgent(ag2)")
	return a
}

func createSupport(t *testing.T, a store.AppStore, ss ...store.SupportSession) {
	t.Helper()
	for _, s := range ss {
		must(t, a.CreateSupportSession(t.Context(), s), "CreateSupportSession(%s)", s.ID)
	}
}

// checkSupport fails unless GetSupportSession(want.ID) returns want.
func checkSupport(t *testing.T, a store.AppStore, want store.SupportSession) {
	t.Helper()
	got, err := a.GetSupportSession(t.Context(), want.ID)
	if err != nil || !same(got, want, normSupport) {
		t.Errorf("GetSupportSession(%s) = %+v, %v, want %+v", want.ID, got, err, want)
	}
}

// checkActive fails unless agent id's Active count is want.
func checkActive(t *testing.T, a store.AppStore, id string, want int) {
	t.Helper()
	got, err := a.GetAgent(t.Context(), id)
	if err != nil || got.Active != want {
		t.Errorf("GetAgent(%s).Active = %d, %v, want %d", id, got.Active, err, want)
	}
}

// checkChanged fails unless a state change returned want without error
// and the store holds it.
func checkChanged(t *testing.T, a store.AppStore, call string, got store.SupportSession, err error, want store.SupportSession) {
	t.Helper()
	if err != nil || !same(got, want, normSupport) {
		t.Errorf("%s = %+v, %v, want %+v", call, got, err, want)
	}
	checkSupport(t, a, want)
}

func assigned(s store.SupportSession, agentID string, sec int64) store.SupportSession {
	s.State, s.AgentID, s.AssignedAt, s.Version = store.SupportActive, agentID, at(sec), s.Version+1
	return s
}

func testAgentsPutGetList(t *testing.T, s store.Store) {
	a, ctx := supportSetup(t, s, 2, 1, "ag3", "ag4"), t.Context()
	wantErr(t, a.PutAgent(ctx, newAgent("nobody", 1)), store.ErrNotFound, "PutAgent(nobody)")
	_, err := a.GetAgent(ctx, "nobody")
	wantErr(t, err, store.ErrNotFound, "GetAgent(nobody)")
	_, err = a.GetAgent(ctx, "ag3")
	wantErr(t, err, store.ErrNotFound, "GetAgent(ag3), a user but no agent")

	// A new agent starts with Active 0, whatever the record says.
	ag3 := newAgent("ag3", 4, "sales", "billing")
	ag3.Active, ag3.Available = 3, false
	must(t, a.PutAgent(ctx, ag3), "PutAgent(ag3)")
	ag3.Active = 0
	if got, err := a.GetAgent(ctx, "ag3"); err != nil || !same(got, ag3, normAgent) {
		t.Errorf("GetAgent(ag3) = %+v, %v, want %+v", got, err, ag3)
	}
	must(t, a.PutAgent(ctx, newAgent("ag4", 1)), "PutAgent(ag4)") // no skills: the default queue only

	for _, tc := range []struct {
		skill string
		want  []string
	}{
		{"", []string{"ag1", "ag2", "ag3", "ag4"}},
		{"billing", []string{"ag1", "ag2", "ag3"}},
		{"sales", []string{"ag3"}},
		{"nope", nil},
	} {
		got, err := a.ListAgents(ctx, tc.skill)
		if err != nil || !slices.Equal(agentIDs(got), tc.want) {
			t.Errorf("ListAgents(%q) = %q, %v, want %q", tc.skill, agentIDs(got), err, tc.want)
		}
	}
	got, err := a.ListAgents(ctx, "sales")
	if err != nil || len(got) != 1 || !same(got[0], ag3, normAgent) {
		t.Errorf("ListAgents(sales) = %+v, %v, want [%+v]", got, err, ag3)
	}
}

func testPutAgentKeepsActive(t *testing.T, s store.Store) {
	a, ctx := supportSetup(t, s, 2, 1, "v1"), t.Context()
	createSupport(t, a, newSupportSession("s1", "v1", "billing", 10))
	_, err := a.AssignSupportSession(ctx, "s1", 1, "ag1", at(11))
	must(t, err, "AssignSupportSession(s1, ag1)")

	// Every other field is replaced; Active stays, whatever the record says.
	u := store.Agent{UserID: "ag1", Skills: []string{"sales"}, Capacity: 5, Available: false, Active: 0, UpdatedAt: at(20)}
	must(t, a.PutAgent(ctx, u), "PutAgent(ag1 again)")
	u.Active = 1
	if got, err := a.GetAgent(ctx, "ag1"); err != nil || !same(got, u, normAgent) {
		t.Errorf("GetAgent(ag1) = %+v, %v, want %+v", got, err, u)
	}
	u.Active, u.Skills = 9, nil
	must(t, a.PutAgent(ctx, u), "PutAgent(ag1, no skills)")
	u.Active = 1
	if got, err := a.GetAgent(ctx, "ag1"); err != nil || !same(got, u, normAgent) {
		t.Errorf("GetAgent(ag1) = %+v, %v, want %+v", got, err, u)
	}
}

func testDeleteAgent(t *testing.T, s store.Store) {
	a, ctx := supportSetup(t, s, 2, 1, "v1"), t.Context()
	wantErr(t, a.DeleteAgent(ctx, "nobody"), store.ErrNotFound, "DeleteAgent(nobody)")
	wantErr(t, a.DeleteAgent(ctx, "v1"), store.ErrNotFound, "DeleteAgent(v1), a user but no agent")

	createSupport(t, a, newSupportSession("s1", "v1", "", 10))
	sess, err := a.AssignSupportSession(ctx, "s1", 1, "ag1", at(11))
	must(t, err, "AssignSupportSession(s1, ag1)")
	wantErr(t, a.DeleteAgent(ctx, "ag1"), store.ErrLimit, "DeleteAgent(ag1) with an active session")
	checkActive(t, a, "ag1", 1)

	_, err = a.CloseSupportSession(ctx, "s1", sess.Version, "ag1", at(12))
	must(t, err, "CloseSupportSession(s1)")
	must(t, a.DeleteAgent(ctx, "ag1"), "DeleteAgent(ag1) without sessions")
	_, err = a.GetAgent(ctx, "ag1")
	wantErr(t, err, store.ErrNotFound, "GetAgent(ag1) after delete")
	wantErr(t, a.DeleteAgent(ctx, "ag1"), store.ErrNotFound, "DeleteAgent(ag1) twice")
	if got, err := a.ListAgents(ctx, ""); err != nil || !slices.Equal(agentIDs(got), []string{"ag2"}) {
		t.Errorf("ListAgents after delete = %q, %v, want [ag2]", agentIDs(got), err)
	}
	// The user stays, and its closed session.
	if _, err := a.GetUser(ctx, "ag1"); err != nil {
		t.Errorf("GetUser(ag1) after DeleteAgent = %v, want the user", err)
	}
	if got, err := a.GetSupportSession(ctx, "s1"); err != nil || got.AgentID != "ag1" {
		t.Errorf("GetSupportSession(s1) after DeleteAgent = %+v, %v, want agent ag1", got, err)
	}
}

func testSupportCreateGet(t *testing.T, s store.Store) {
	a, ctx := supportSetup(t, s, 1, 1, "v1"), t.Context()
	// Stored at Version 1, whatever the record says.
	s1 := newSupportSession("s1", "v1", "billing", 10)
	s1.Version = 7
	must(t, a.CreateSupportSession(ctx, s1), "CreateSupportSession(s1)")
	s1.Version = 1
	checkSupport(t, a, s1)
	s2 := newSupportSession("s2", "v1", "", 11) // the default queue
	createSupport(t, a, s2)
	checkSupport(t, a, s2)

	wantErr(t, a.CreateSupportSession(ctx, newSupportSession("s1", "v1", "", 20)), store.ErrConflict, "CreateSupportSession(s1 again)")
	checkSupport(t, a, s1)
	wantErr(t, a.CreateSupportSession(ctx, newSupportSession("s3", "nobody", "", 20)), store.ErrNotFound, "CreateSupportSession(s3, visitor nobody)")
	_, err := a.GetSupportSession(ctx, "s3")
	wantErr(t, err, store.ErrNotFound, "GetSupportSession(s3)")

	// A new session must be waiting without an agent.
	bad := newSupportSession("s4", "v1", "", 20)
	bad.State, bad.AgentID = store.SupportActive, "ag1"
	if err := a.CreateSupportSession(ctx, bad); err == nil {
		t.Errorf("CreateSupportSession(s4, active with ag1) = nil, want an error")
	}
	_, err = a.GetSupportSession(ctx, "s4")
	wantErr(t, err, store.ErrNotFound, "GetSupportSession(s4) after a refused create")
}

func testSupportList(t *testing.T, s store.Store) {
	a, ctx := supportSetup(t, s, 5, 5, "v1", "v2"), t.Context()
	// Creation order differs from id order, and s3 and s4 tie on time.
	createSupport(t, a,
		newSupportSession("s5", "v1", "billing", 10),
		newSupportSession("s4", "v2", "", 12),
		newSupportSession("s3", "v1", "", 12),
		newSupportSession("s2", "v2", "billing", 14),
		newSupportSession("s1", "v1", "sales", 16),
		newSupportSession("s6", "v2", "", 18),
	)
	_, err := a.AssignSupportSession(ctx, "s4", 1, "ag1", at(20))
	must(t, err, "AssignSupportSession(s4, ag1)")
	_, err = a.AssignSupportSession(ctx, "s2", 1, "ag2", at(21))
	must(t, err, "AssignSupportSession(s2, ag2)")
	s6, err := a.AssignSupportSession(ctx, "s6", 1, "ag1", at(22))
	must(t, err, "AssignSupportSession(s6, ag1)")
	_, err = a.CloseSupportSession(ctx, "s6", s6.Version, "v2", at(23))
	must(t, err, "CloseSupportSession(s6)")

	for _, tc := range []struct {
		name string
		q    store.SupportQuery
		want []string
	}{
		{"all", store.SupportQuery{}, []string{"s5", "s3", "s4", "s2", "s1", "s6"}},
		{"waiting", store.SupportQuery{State: store.SupportWaiting}, []string{"s5", "s3", "s1"}},
		{"active", store.SupportQuery{State: store.SupportActive}, []string{"s4", "s2"}},
		{"closed", store.SupportQuery{State: store.SupportClosed}, []string{"s6"}},
		{"billing", store.SupportQuery{Skill: "billing"}, []string{"s5", "s2"}},
		{"billing queue", store.SupportQuery{State: store.SupportWaiting, Skill: "billing"}, []string{"s5"}},
		{"default skill", store.SupportQuery{FilterSkill: true}, []string{"s3", "s4", "s6"}},
		{"default queue", store.SupportQuery{State: store.SupportWaiting, FilterSkill: true}, []string{"s3"}},
		{"visitor v1", store.SupportQuery{VisitorID: "v1"}, []string{"s5", "s3", "s1"}},
		{"visitor v2 active", store.SupportQuery{VisitorID: "v2", State: store.SupportActive}, []string{"s4", "s2"}},
		{"agent ag1", store.SupportQuery{AgentID: "ag1"}, []string{"s4", "s6"}},
		{"agent ag1 active", store.SupportQuery{AgentID: "ag1", State: store.SupportActive}, []string{"s4"}},
		{"nothing", store.SupportQuery{Skill: "nope"}, nil},
		{"limit 2", store.SupportQuery{Limit: 2}, []string{"s5", "s3"}},
		{"limit 1 waiting", store.SupportQuery{State: store.SupportWaiting, Limit: 1}, []string{"s5"}},
		{"limit 0", store.SupportQuery{Limit: -1}, nil},
	} {
		q := tc.q
		if q.Limit == 0 {
			q.Limit = 100
		} else if q.Limit < 0 {
			q.Limit = 0
		}
		got, err := a.ListSupportSessions(ctx, q)
		if err != nil || !slices.Equal(supportIDs(got), tc.want) {
			t.Errorf("ListSupportSessions(%s: %+v) = %q, %v, want %q", tc.name, q, supportIDs(got), err, tc.want)
		}
	}
	// Listed sessions are whole.
	got, err := a.ListSupportSessions(ctx, store.SupportQuery{State: store.SupportClosed, Limit: 10})
	must(t, err, "ListSupportSessions(closed)")
	want, err := a.GetSupportSession(ctx, "s6")
	must(t, err, "GetSupportSession(s6)")
	if len(got) != 1 || !same(got[0], want, normSupport) {
		t.Errorf("ListSupportSessions(closed) = %+v, want [%+v]", got, want)
	}
}

func testSupportAssign(t *testing.T, s store.Store) {
	a, ctx := supportSetup(t, s, 1, 1, "v1"), t.Context()
	s1, s2 := newSupportSession("s1", "v1", "billing", 10), newSupportSession("s2", "v1", "", 11)
	createSupport(t, a, s1, s2)

	got, err := a.AssignSupportSession(ctx, "s1", 1, "ag1", at(20))
	s1 = assigned(s1, "ag1", 20)
	checkChanged(t, a, "AssignSupportSession(s1, ag1)", got, err, s1)
	checkActive(t, a, "ag1", 1)

	// ag1 is full: refused, and nothing changes.
	_, err = a.AssignSupportSession(ctx, "s2", 1, "ag1", at(21))
	wantErr(t, err, store.ErrLimit, "AssignSupportSession(s2, full ag1)")
	checkSupport(t, a, s2)
	checkActive(t, a, "ag1", 1)
	// A stale version is a conflict, and changes nothing.
	_, err = a.AssignSupportSession(ctx, "s2", 2, "ag2", at(22))
	wantErr(t, err, store.ErrConflict, "AssignSupportSession(s2, stale version 2)")
	checkSupport(t, a, s2)
	checkActive(t, a, "ag2", 0)
	// So is assigning a session to its own agent.
	_, err = a.AssignSupportSession(ctx, "s1", 2, "ag1", at(23))
	wantErr(t, err, store.ErrConflict, "AssignSupportSession(s1, its own ag1)")
	checkSupport(t, a, s1)
	checkActive(t, a, "ag1", 1)
	// Missing session or agent.
	_, err = a.AssignSupportSession(ctx, "nope", 1, "ag2", at(24))
	wantErr(t, err, store.ErrNotFound, "AssignSupportSession(nope, ag2)")
	_, err = a.AssignSupportSession(ctx, "s2", 1, "nobody", at(24))
	wantErr(t, err, store.ErrNotFound, "AssignSupportSession(s2, nobody)")
	_, err = a.AssignSupportSession(ctx, "s2", 1, "v1", at(24))
	wantErr(t, err, store.ErrNotFound, "AssignSupportSession(s2, v1, a user but no agent)")
	checkSupport(t, a, s2)
	checkActive(t, a, "ag2", 0)

	// A closed session is not assigned again, even with room.
	got, err = a.CloseSupportSession(ctx, "s1", s1.Version, "v1", at(25))
	must(t, err, "CloseSupportSession(s1)")
	_, err = a.AssignSupportSession(ctx, "s1", got.Version, "ag2", at(26))
	wantErr(t, err, store.ErrConflict, "AssignSupportSession(s1 closed, ag2)")
	checkSupport(t, a, got)
	checkActive(t, a, "ag1", 0)
	checkActive(t, a, "ag2", 0)
}

// testSupportTransfer assigns an active session to another agent: the
// count moves from one agent to the other, and a full target refuses.
func testSupportTransfer(t *testing.T, s store.Store) {
	a, ctx := supportSetup(t, s, 2, 1, "v1"), t.Context()
	s1, s2 := newSupportSession("s1", "v1", "", 10), newSupportSession("s2", "v1", "", 11)
	createSupport(t, a, s1, s2)
	_, err := a.AssignSupportSession(ctx, "s1", 1, "ag1", at(20))
	must(t, err, "AssignSupportSession(s1, ag1)")
	s1 = assigned(s1, "ag1", 20)
	got, err := a.AssignSupportSession(ctx, "s2", 1, "ag2", at(21))
	must(t, err, "AssignSupportSession(s2, ag2)")
	s2 = assigned(s2, "ag2", 21)

	// ag2 is full.
	_, err = a.AssignSupportSession(ctx, "s1", s1.Version, "ag2", at(22))
	wantErr(t, err, store.ErrLimit, "AssignSupportSession(s1 from ag1 to full ag2)")
	checkSupport(t, a, s1)
	checkActive(t, a, "ag1", 1)
	checkActive(t, a, "ag2", 1)

	got, err = a.AssignSupportSession(ctx, "s2", got.Version, "ag1", at(23))
	s2 = assigned(s2, "ag1", 23)
	checkChanged(t, a, "AssignSupportSession(s2 from ag2 to ag1)", got, err, s2)
	checkActive(t, a, "ag1", 2)
	checkActive(t, a, "ag2", 0)

	got, err = a.AssignSupportSession(ctx, "s1", s1.Version, "ag2", at(24))
	s1 = assigned(s1, "ag2", 24)
	checkChanged(t, a, "AssignSupportSession(s1 from ag1 to ag2)", got, err, s1)
	checkActive(t, a, "ag1", 1)
	checkActive(t, a, "ag2", 1)
	// The transfer's old version is stale now.
	_, err = a.AssignSupportSession(ctx, "s1", s1.Version-1, "ag1", at(25))
	wantErr(t, err, store.ErrConflict, "AssignSupportSession(s1, stale version)")
	checkActive(t, a, "ag1", 1)
	checkActive(t, a, "ag2", 1)
}

func testSupportRequeue(t *testing.T, s store.Store) {
	a, ctx := supportSetup(t, s, 1, 1, "v1"), t.Context()
	s1, s2 := newSupportSession("s1", "v1", "", 10), newSupportSession("s2", "v1", "billing", 11)
	createSupport(t, a, s1, s2)
	_, err := a.AssignSupportSession(ctx, "s1", 1, "ag1", at(20))
	must(t, err, "AssignSupportSession(s1, ag1)")

	// Back in the billing queue, without an agent, at its creation time.
	got, err := a.RequeueSupportSession(ctx, "s1", 2, "billing")
	s1.Skill, s1.Version = "billing", 3
	checkChanged(t, a, "RequeueSupportSession(s1, billing)", got, err, s1)
	checkActive(t, a, "ag1", 0)
	q := store.SupportQuery{State: store.SupportWaiting, Skill: "billing", Limit: 10}
	if got, err := a.ListSupportSessions(ctx, q); err != nil || !slices.Equal(supportIDs(got), []string{"s1", "s2"}) {
		t.Errorf("ListSupportSessions(billing queue) = %q, %v, want [s1 s2]", supportIDs(got), err)
	}
	// ag1 has room again.
	_, err = a.AssignSupportSession(ctx, "s2", 1, "ag1", at(21))
	must(t, err, "AssignSupportSession(s2, ag1) after the requeue")

	// A waiting session moves to another queue.
	got, err = a.RequeueSupportSession(ctx, "s1", 3, "")
	s1.Skill, s1.Version = "", 4
	checkChanged(t, a, "RequeueSupportSession(s1 waiting, default queue)", got, err, s1)
	checkActive(t, a, "ag1", 1)

	_, err = a.RequeueSupportSession(ctx, "s1", 3, "sales")
	wantErr(t, err, store.ErrConflict, "RequeueSupportSession(s1, stale version)")
	checkSupport(t, a, s1)
	_, err = a.RequeueSupportSession(ctx, "nope", 1, "sales")
	wantErr(t, err, store.ErrNotFound, "RequeueSupportSession(nope)")
	closed, err := a.CloseSupportSession(ctx, "s1", 4, "v1", at(30))
	must(t, err, "CloseSupportSession(s1)")
	_, err = a.RequeueSupportSession(ctx, "s1", closed.Version, "sales")
	wantErr(t, err, store.ErrConflict, "RequeueSupportSession(s1 closed)")
	checkSupport(t, a, closed)
	checkActive(t, a, "ag1", 1)
}

func testSupportClose(t *testing.T, s store.Store) {
	a, ctx := supportSetup(t, s, 1, 1, "v1"), t.Context()
	s1, s2 := newSupportSession("s1", "v1", "billing", 10), newSupportSession("s2", "v1", "", 11)
	createSupport(t, a, s1, s2)
	_, err := a.AssignSupportSession(ctx, "s1", 1, "ag1", at(20))
	must(t, err, "AssignSupportSession(s1, ag1)")
	s1 = assigned(s1, "ag1", 20)

	// An active session keeps its agent, as its last; the agent has room.
	got, err := a.CloseSupportSession(ctx, "s1", 2, "ag1", at(30))
	s1.State, s1.ClosedAt, s1.ClosedBy, s1.Version = store.SupportClosed, at(30), "ag1", 3
	checkChanged(t, a, "CloseSupportSession(s1 active)", got, err, s1)
	checkActive(t, a, "ag1", 0)

	// A waiting one closes too (the visitor left the queue).
	got, err = a.CloseSupportSession(ctx, "s2", 1, "v1", at(31))
	s2.State, s2.ClosedAt, s2.ClosedBy, s2.Version = store.SupportClosed, at(31), "v1", 2
	checkChanged(t, a, "CloseSupportSession(s2 waiting)", got, err, s2)
	checkActive(t, a, "ag1", 0)
	checkActive(t, a, "ag2", 0)

	_, err = a.CloseSupportSession(ctx, "s1", 3, "ag1", at(32))
	wantErr(t, err, store.ErrConflict, "CloseSupportSession(s1 closed)")
	_, err = a.CloseSupportSession(ctx, "s2", 1, "v1", at(32))
	wantErr(t, err, store.ErrConflict, "CloseSupportSession(s2, stale version)")
	_, err = a.CloseSupportSession(ctx, "nope", 1, "v1", at(32))
	wantErr(t, err, store.ErrNotFound, "CloseSupportSession(nope)")
	checkSupport(t, a, s1)
	checkSupport(t, a, s2)
	checkActive(t, a, "ag1", 0)
}

func testSupportRate(t *testing.T, s store.Store) {
	a, ctx := supportSetup(t, s, 1, 1, "v1"), t.Context()
	s1, s2 := newSupportSession("s1", "v1", "", 10), newSupportSession("s2", "v1", "", 11)
	createSupport(t, a, s1, s2)
	_, err := a.RateSupportSession(ctx, "s1", 4, "quick")
	wantErr(t, err, store.ErrConflict, "RateSupportSession(s1 waiting)")
	active, err := a.AssignSupportSession(ctx, "s1", 1, "ag1", at(20))
	must(t, err, "AssignSupportSession(s1, ag1)")
	_, err = a.RateSupportSession(ctx, "s1", 4, "quick")
	wantErr(t, err, store.ErrConflict, "RateSupportSession(s1 active)")
	checkSupport(t, a, active)

	closed, err := a.CloseSupportSession(ctx, "s1", 2, "v1", at(30))
	must(t, err, "CloseSupportSession(s1)")
	// Rating leaves Version alone.
	got, err := a.RateSupportSession(ctx, "s1", 4, "quick")
	want := closed
	want.Rating, want.Comment = 4, "quick"
	checkChanged(t, a, "RateSupportSession(s1, 4)", got, err, want)
	_, err = a.RateSupportSession(ctx, "s1", 1, "changed my mind")
	wantErr(t, err, store.ErrConflict, "RateSupportSession(s1 rated)")
	checkSupport(t, a, want)
	_, err = a.RateSupportSession(ctx, "nope", 4, "")
	wantErr(t, err, store.ErrNotFound, "RateSupportSession(nope)")

	// The range is the caller's to check; an empty comment is fine.
	closed, err = a.CloseSupportSession(ctx, "s2", 1, "v1", at(31))
	must(t, err, "CloseSupportSession(s2)")
	got, err = a.RateSupportSession(ctx, "s2", 5, "")
	closed.Rating = 5
	checkChanged(t, a, "RateSupportSession(s2, 5)", got, err, closed)
}

// assignAtCapacity has workers assign distinct waiting sessions to one
// agent of capacity 3 at once, through the given handles: exactly 3 must
// succeed, the others fail with store.ErrLimit, and the agent's Active
// must end at 3.
func assignAtCapacity(t *testing.T, apps []store.AppStore) {
	const workers, capacity = 10, 3
	a, ctx := apps[0], t.Context()
	for _, id := range []string{"ag1", "v1"} {
		must(t, a.CreateUser(ctx, newUser(id)), "CreateUser(%s)", id)
	}
	must(t, a.PutAgent(ctx, newAgent("ag1", capacity)), "PutAgent(ag1)")
	for w := range workers {
		createSupport(t, a, newSupportSession(fmt.Sprintf("s%02d", w), "v1", "", int64(w)))
	}
	var mu sync.Mutex
	var won []string
	var wg sync.WaitGroup
	for w := range workers {
		h := apps[w%len(apps)]
		wg.Go(func() {
			id := fmt.Sprintf("s%02d", w)
			_, err := h.AssignSupportSession(ctx, id, 1, "ag1", at(100))
			switch {
			case err == nil:
				mu.Lock()
				won = append(won, id)
				mu.Unlock()
			case !errors.Is(err, store.ErrLimit):
				t.Errorf("AssignSupportSession(%s, ag1) = %v, want nil or ErrLimit", id, err)
			}
		})
	}
	wg.Wait()
	if len(won) != capacity {
		t.Errorf("%d of %d concurrent assignments to an agent of capacity %d succeeded (%q), want %d", len(won), workers, capacity, won, capacity)
	}
	for _, h := range apps {
		checkActive(t, h, "ag1", capacity)
	}
	got, err := a.ListSupportSessions(ctx, store.SupportQuery{AgentID: "ag1", State: store.SupportActive, Limit: workers})
	slices.Sort(won)
	if err != nil || !slices.Equal(supportIDs(got), won) {
		t.Errorf("ListSupportSessions(ag1 active) = %q, %v, want %q", supportIDs(got), err, won)
	}
	waiting, err := a.ListSupportSessions(ctx, store.SupportQuery{State: store.SupportWaiting, Limit: workers})
	if err != nil || len(waiting) != workers-capacity {
		t.Errorf("ListSupportSessions(waiting) = %q, %v, want %d sessions", supportIDs(waiting), err, workers-capacity)
	}
}

func testSupportAssignConcurrent(t *testing.T, s store.Store) {
	assignAtCapacity(t, []store.AppStore{s.App("A")})
}

func testTwoHandlesSupportCapacity(t *testing.T, s1, s2 store.Store) {
	assignAtCapacity(t, []store.AppStore{s1.App("A"), s2.App("A")})
}

// testSupportDeleteUser: deleting an agent's user removes the agent record
// even with active sessions; the sessions stay, as history, with their
// agent and visitor ids. A new agent under the id starts at Active 0, and
// closing the old session does not take it below.
func testSupportDeleteUser(t *testing.T, s store.Store) {
	a, ctx := supportSetup(t, s, 2, 1, "v1"), t.Context()
	createSupport(t, a, newSupportSession("s1", "v1", "", 10), newSupportSession("s2", "v1", "", 11))
	s1, err := a.AssignSupportSession(ctx, "s1", 1, "ag1", at(20))
	must(t, err, "AssignSupportSession(s1, ag1)")

	must(t, a.DeleteUser(ctx, "ag1", store.UserDeletion{At: at(30)}), "DeleteUser(ag1)")
	_, err = a.GetAgent(ctx, "ag1")
	wantErr(t, err, store.ErrNotFound, "GetAgent(ag1) after DeleteUser")
	if got, err := a.ListAgents(ctx, ""); err != nil || !slices.Equal(agentIDs(got), []string{"ag2"}) {
		t.Errorf("ListAgents after DeleteUser(ag1) = %q, %v, want [ag2]", agentIDs(got), err)
	}
	checkSupport(t, a, s1)

	must(t, a.DeleteUser(ctx, "v1", store.UserDeletion{At: at(31)}), "DeleteUser(v1)")
	if got, err := a.ListSupportSessions(ctx, store.SupportQuery{VisitorID: "v1", Limit: 10}); err != nil || !slices.Equal(supportIDs(got), []string{"s1", "s2"}) {
		t.Errorf("ListSupportSessions(v1) after DeleteUser(v1) = %q, %v, want [s1 s2]", supportIDs(got), err)
	}

	must(t, a.CreateUser(ctx, newUser("ag1")), "CreateUser(ag1 again)")
	must(t, a.PutAgent(ctx, newAgent("ag1", 2)), "PutAgent(ag1 again)")
	checkActive(t, a, "ag1", 0)
	_, err = a.CloseSupportSession(ctx, "s1", s1.Version, "ag2", at(40))
	must(t, err, "CloseSupportSession(s1 of the deleted agent)")
	checkActive(t, a, "ag1", 0)
}

// testTenancySupport proves that app B neither sees nor changes app A's
// agents and support sessions under the same ids.
func testTenancySupport(t *testing.T, s store.Store) {
	a, b, ctx := supportSetup(t, s, 1, 1, "v1"), s.App("B"), t.Context()
	createSupport(t, a, newSupportSession("s1", "v1", "billing", 10))
	sa, err := a.AssignSupportSession(ctx, "s1", 1, "ag1", at(20))
	must(t, err, "A.AssignSupportSession(s1, ag1)")
	agA, err := a.GetAgent(ctx, "ag1")
	must(t, err, "A.GetAgent(ag1)")

	_, err = b.GetAgent(ctx, "ag1")
	wantErr(t, err, store.ErrNotFound, "B.GetAgent(ag1)")
	if got, err := b.ListAgents(ctx, ""); err != nil || len(got) != 0 {
		t.Errorf("B.ListAgents = %q, %v, want none", agentIDs(got), err)
	}
	wantErr(t, b.PutAgent(ctx, newAgent("ag1", 5)), store.ErrNotFound, "B.PutAgent(ag1), no such user in B")
	wantErr(t, b.DeleteAgent(ctx, "ag1"), store.ErrNotFound, "B.DeleteAgent(ag1)")
	_, err = b.GetSupportSession(ctx, "s1")
	wantErr(t, err, store.ErrNotFound, "B.GetSupportSession(s1)")
	if got, err := b.ListSupportSessions(ctx, store.SupportQuery{Limit: 10}); err != nil || len(got) != 0 {
		t.Errorf("B.ListSupportSessions = %q, %v, want none", supportIDs(got), err)
	}
	wantErr(t, b.CreateSupportSession(ctx, newSupportSession("s2", "v1", "", 30)), store.ErrNotFound, "B.CreateSupportSession(s2, visitor v1 of A)")
	_, err = b.AssignSupportSession(ctx, "s1", 2, "ag2", at(31))
	wantErr(t, err, store.ErrNotFound, "B.AssignSupportSession(s1, ag2)")
	_, err = b.RequeueSupportSession(ctx, "s1", 2, "")
	wantErr(t, err, store.ErrNotFound, "B.RequeueSupportSession(s1)")
	_, err = b.CloseSupportSession(ctx, "s1", 2, "v1", at(32))
	wantErr(t, err, store.ErrNotFound, "B.CloseSupportSession(s1)")
	_, err = b.RateSupportSession(ctx, "s1", 1, "")
	wantErr(t, err, store.ErrNotFound, "B.RateSupportSession(s1)")

	// B's own records under the same ids.
	for _, id := range []string{"ag1", "v1"} {
		must(t, b.CreateUser(ctx, newUser(id)), "B.CreateUser(%s)", id)
	}
	must(t, b.PutAgent(ctx, newAgent("ag1", 3, "sales")), "B.PutAgent(ag1)")
	createSupport(t, b, newSupportSession("s1", "v1", "", 40))
	sb, err := b.AssignSupportSession(ctx, "s1", 1, "ag1", at(41))
	must(t, err, "B.AssignSupportSession(s1, ag1)")
	_, err = b.CloseSupportSession(ctx, "s1", sb.Version, "v1", at(42))
	must(t, err, "B.CloseSupportSession(s1)")
	_, err = b.RateSupportSession(ctx, "s1", 2, "B")
	must(t, err, "B.RateSupportSession(s1)")
	must(t, b.DeleteAgent(ctx, "ag1"), "B.DeleteAgent(ag1)")

	checkSupport(t, a, sa)
	if got, err := a.GetAgent(ctx, "ag1"); err != nil || !same(got, agA, normAgent) {
		t.Errorf("A.GetAgent(ag1) after B's changes = %+v, %v, want %+v", got, err, agA)
	}
	_, err = a.AssignSupportSession(ctx, "s1", 2, "ag2", at(50))
	must(t, err, "A.AssignSupportSession(s1, ag2) after B's changes")
	checkActive(t, a, "ag1", 0)
	checkActive(t, a, "ag2", 1)
}
