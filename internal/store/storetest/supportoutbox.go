package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

var supportOutboxTests = []test{
	{"WithChanges", testSupportOutboxWithChanges},
	{"FailedChangesStoreNone", testSupportOutboxFailedChanges},
	{"Published", testSupportOutboxPublished},
	{"AddEvents", testSupportOutboxAdd},
	{"Pending", testSupportOutboxPending},
	{"Notices", testSupportOutboxNotices},
	{"NoticesFailedChanges", testSupportOutboxNoticesFailed},
	{"NoticesPending", testSupportOutboxNoticesPending},
	{"WaitingApps", testWaitingSupportApps},
}

// supportEvent is an event of session id with a payload naming it, at
// second sec.
func supportEvent(id, typ string, sec int64) store.SupportEvent {
	return store.SupportEvent{ID: id, Type: typ, At: at(sec), Payload: []byte(fmt.Sprintf(`{"id":%q}`, id))}
}

func normSupportEvent(ev store.SupportEvent) store.SupportEvent {
	ev.At = normTime(ev.At)
	if len(ev.Payload) == 0 {
		ev.Payload = nil
	}
	return ev
}

// pendingOf returns the pending entries of kind of every app up to a time
// far ahead of the suite's.
func pendingOf(t *testing.T, s store.Store, kind string) []store.SupportEvent {
	t.Helper()
	evs, err := s.PendingSupportEvents(t.Context(), kind, at(1_000_000), 1000)
	if err != nil {
		t.Fatalf("PendingSupportEvents(%q): %v", kind, err)
	}
	return evs
}

// checkPending fails unless the pending events are want, in order.
func checkPending(t *testing.T, s store.Store, want ...store.SupportEvent) {
	t.Helper()
	checkPendingKind(t, s, store.SupportKindEvent, want...)
}

// checkPendingKind fails unless the pending entries of kind are want, in
// order.
func checkPendingKind(t *testing.T, s store.Store, kind string, want ...store.SupportEvent) {
	t.Helper()
	if got := pendingOf(t, s, kind); !sameAll(got, want, normSupportEvent) {
		t.Errorf("PendingSupportEvents(%q) = %+v,\nwant %+v", kind, got, want)
	}
}

// supportNotice is a notice to user of session id's step typ, at second
// sec.
func supportNotice(id, user, typ string, sec int64) store.SupportEvent {
	return store.SupportEvent{Kind: store.SupportKindNotice, ID: id, Type: typ, UserID: user, At: at(sec),
		Payload: []byte(fmt.Sprintf(`{"support":{"event":%q}}`, typ))}
}

// pending returns ev as PendingSupportEvents lists it: with its app and
// session.
func pending(ev store.SupportEvent, app, session string) store.SupportEvent {
	ev.AppID, ev.SessionID = app, session
	return ev
}

// testSupportOutboxWithChanges: every change stores its events with it,
// and the drain's read lists them by app, time and id.
func testSupportOutboxWithChanges(t *testing.T, s store.Store) {
	a, ctx := supportSetup(t, s, 2, 2, "v1", "v2"), t.Context()
	created := supportEvent("e1", "support.session.created", 10)
	must(t, a.CreateSupportSession(ctx, newSupportSession("s1", "v1", "", 10), created), "CreateSupportSession(s1, e1)")
	assignedEv := supportEvent("e2", "support.session.assigned", 11)
	got, err := a.AssignSupportSession(ctx, "s1", 1, "ag1", at(11), assignedEv)
	checkChanged(t, a, "AssignSupportSession(s1, ag1, e2)", got, err, assigned(newSupportSession("s1", "v1", "", 10), "ag1", 11))
	requeued := supportEvent("e3", "support.session.transferred", 12)
	got, err = a.RequeueSupportSession(ctx, "s1", 2, "billing", requeued)
	must(t, err, "RequeueSupportSession(s1, e3)")
	closedEv := supportEvent("e4", "support.session.closed", 13)
	_, err = a.CloseSupportSession(ctx, "s1", got.Version, "v1", at(13), closedEv)
	must(t, err, "CloseSupportSession(s1, e4)")
	rated := supportEvent("e5", "support.session.rated", 14)
	_, err = a.RateSupportSession(ctx, "s1", 4, "ok", rated)
	must(t, err, "RateSupportSession(s1, e5)")
	checkActive(t, a, "ag1", 0)

	// Another app's session, and one without events.
	b := s.App("B")
	must(t, b.CreateUser(ctx, newUser("v1")), "B: CreateUser(v1)")
	other := supportEvent("e0", "support.session.created", 5)
	must(t, b.CreateSupportSession(ctx, newSupportSession("s1", "v1", "", 5), other), "B: CreateSupportSession(s1, e0)")
	must(t, a.CreateSupportSession(ctx, newSupportSession("s2", "v2", "", 15)), "CreateSupportSession(s2) without events")

	checkPending(t, s, pending(created, "A", "s1"), pending(assignedEv, "A", "s1"), pending(requeued, "A", "s1"),
		pending(closedEv, "A", "s1"), pending(rated, "A", "s1"), pending(other, "B", "s1"))
}

// testSupportOutboxFailedChanges: a change that fails stores none of its
// events.
func testSupportOutboxFailedChanges(t *testing.T, s store.Store) {
	a, ctx := supportSetup(t, s, 1, 1, "v1", "v2"), t.Context()
	createSupport(t, a, newSupportSession("s1", "v1", "", 10), newSupportSession("s2", "v2", "", 11))
	_, err := a.AssignSupportSession(ctx, "s1", 1, "ag1", at(12))
	must(t, err, "AssignSupportSession(s1, ag1)")
	bad := func(n int) store.SupportEvent { return supportEvent(fmt.Sprintf("bad%d", n), "support.session.x", 20) }

	wantErr(t, a.CreateSupportSession(ctx, newSupportSession("s1", "v1", "", 13), bad(1)), store.ErrConflict, "CreateSupportSession(taken s1)")
	wantErr(t, a.CreateSupportSession(ctx, newSupportSession("s9", "nobody", "", 13), bad(2)), store.ErrNotFound, "CreateSupportSession(visitor nobody)")
	_, err = a.AssignSupportSession(ctx, "s2", 7, "ag2", at(13), bad(3))
	wantErr(t, err, store.ErrConflict, "AssignSupportSession(s2, stale version)")
	_, err = a.AssignSupportSession(ctx, "s2", 1, "ag1", at(13), bad(4))
	wantErr(t, err, store.ErrLimit, "AssignSupportSession(s2, full ag1)")
	_, err = a.RequeueSupportSession(ctx, "s2", 7, "", bad(5))
	wantErr(t, err, store.ErrConflict, "RequeueSupportSession(s2, stale version)")
	_, err = a.CloseSupportSession(ctx, "s2", 7, "v2", at(13), bad(6))
	wantErr(t, err, store.ErrConflict, "CloseSupportSession(s2, stale version)")
	_, err = a.RateSupportSession(ctx, "s2", 5, "", bad(7))
	wantErr(t, err, store.ErrConflict, "RateSupportSession(s2, not closed)")
	_, err = a.CloseSupportSession(ctx, "nope", 1, "v2", at(13), bad(8))
	wantErr(t, err, store.ErrNotFound, "CloseSupportSession(nope)")
	checkPending(t, s)
	checkActive(t, a, "ag1", 1)
}

// testSupportOutboxPublished: publishing removes the events named, of the
// session named, in the app only.
func testSupportOutboxPublished(t *testing.T, s store.Store) {
	a, ctx := supportSetup(t, s, 2, 2, "v1", "v2"), t.Context()
	b := s.App("B")
	must(t, b.CreateUser(ctx, newUser("v1")), "B: CreateUser(v1)")
	e1, e2 := supportEvent("e1", "support.session.created", 10), supportEvent("e2", "support.session.assigned", 11)
	e3 := supportEvent("e3", "support.session.created", 12)
	must(t, a.CreateSupportSession(ctx, newSupportSession("s1", "v1", "", 10), e1), "CreateSupportSession(s1)")
	_, err := a.AssignSupportSession(ctx, "s1", 1, "ag1", at(11), e2)
	must(t, err, "AssignSupportSession(s1)")
	must(t, a.CreateSupportSession(ctx, newSupportSession("s2", "v2", "", 12), e3), "CreateSupportSession(s2)")
	must(t, b.CreateSupportSession(ctx, newSupportSession("s1", "v1", "", 10), e1), "B: CreateSupportSession(s1)")

	must(t, b.SupportEventsPublished(ctx, "s1", "e1", "e2"), "B: SupportEventsPublished(s1, e1, e2)")
	checkPending(t, s, pending(e1, "A", "s1"), pending(e2, "A", "s1"), pending(e3, "A", "s2"))
	must(t, a.SupportEventsPublished(ctx, "s2", "e1"), "SupportEventsPublished(s2, e1 of s1)")
	must(t, a.SupportEventsPublished(ctx, "s1", "e1", "unknown"), "SupportEventsPublished(s1, e1, unknown)")
	checkPending(t, s, pending(e2, "A", "s1"), pending(e3, "A", "s2"))
	must(t, a.SupportEventsPublished(ctx, "s1", "e2"), "SupportEventsPublished(s1, e2)")
	must(t, a.SupportEventsPublished(ctx, "s2", "e3"), "SupportEventsPublished(s2, e3)")
	must(t, a.SupportEventsPublished(ctx, "nope", "e3"), "SupportEventsPublished(nope)")
	must(t, a.SupportEventsPublished(ctx, "s1"), "SupportEventsPublished(s1, no ids)")
	checkPending(t, s)
	// The session itself is untouched.
	checkSupport(t, a, assigned(newSupportSession("s1", "v1", "", 10), "ag1", 11))
}

// testSupportOutboxAdd: events without a change are added while the
// version holds, once per id.
func testSupportOutboxAdd(t *testing.T, s store.Store) {
	a, ctx := supportSetup(t, s, 2, 2, "v1"), t.Context()
	createSupport(t, a, newSupportSession("s1", "v1", "", 10))
	q := supportEvent("q1", "support.session.queued", 11)
	must(t, a.AddSupportEvents(ctx, "s1", 1, q), "AddSupportEvents(s1, q1)")
	again := q
	again.At = at(12)
	must(t, a.AddSupportEvents(ctx, "s1", 1, again), "AddSupportEvents(s1, q1 again)")
	wantErr(t, a.AddSupportEvents(ctx, "s1", 2, supportEvent("q2", "support.session.queued", 12)), store.ErrConflict, "AddSupportEvents(s1, stale version)")
	wantErr(t, a.AddSupportEvents(ctx, "nope", 1, supportEvent("q3", "support.session.queued", 12)), store.ErrNotFound, "AddSupportEvents(nope)")
	wantErr(t, s.App("B").AddSupportEvents(ctx, "s1", 1, supportEvent("q4", "support.session.queued", 12)), store.ErrNotFound, "B: AddSupportEvents(s1)")
	checkPending(t, s, pending(q, "A", "s1"))
	checkSupport(t, a, newSupportSession("s1", "v1", "", 10))
}

// testSupportOutboxPending: the drain's read stops at its time and its
// limit.
func testSupportOutboxPending(t *testing.T, s store.Store) {
	a, ctx := supportSetup(t, s, 2, 2, "v1", "v2", "v3"), t.Context()
	var all []store.SupportEvent
	for i, v := range []string{"v1", "v2", "v3"} {
		ev := supportEvent("e"+v, "support.session.created", int64(10+i))
		must(t, a.CreateSupportSession(ctx, newSupportSession("s"+v, v, "", int64(10+i)), ev), "CreateSupportSession(%s)", v)
		all = append(all, pending(ev, "A", "s"+v))
	}
	checkOutboxPending(t, s, store.SupportKindEvent, all)
}

// checkOutboxPending checks the drain's reads of kind, whose pending entries are
// all, stored at 10, 11 and 12 s: they stop at their time and their limit.
func checkOutboxPending(t *testing.T, s store.Store, kind string, all []store.SupportEvent) {
	t.Helper()
	for _, c := range []struct {
		before time.Time
		limit  int
		want   []store.SupportEvent
	}{
		{at(9), 10, nil},
		{at(10), 10, all[:1]},
		{at(11), 10, all[:2]},
		{at(100), 2, all[:2]},
		{at(100), 10, all},
		{at(100), 0, nil},
	} {
		got, err := s.PendingSupportEvents(t.Context(), kind, c.before, c.limit)
		if err != nil || !sameAll(got, c.want, normSupportEvent) {
			t.Errorf("PendingSupportEvents(%q, %v, %d) = %+v, %v, want %+v", kind, c.before, c.limit, got, err, c.want)
		}
	}
}

// testWaitingSupportApps: the apps with a waiting session created before
// the time, paged by app id.
func testWaitingSupportApps(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, app := range []string{"A", "B", "C", "D"} {
		a := s.App(app)
		must(t, a.CreateUser(ctx, newUser("v1")), "%s: CreateUser(v1)", app)
		must(t, a.CreateUser(ctx, newUser("ag1")), "%s: CreateUser(ag1)", app)
		must(t, a.PutAgent(ctx, newAgent("ag1", 5)), "%s: PutAgent(ag1)", app)
	}
	createSupport(t, s.App("A"), newSupportSession("s1", "v1", "", 10))
	createSupport(t, s.App("B"), newSupportSession("s1", "v1", "", 20)) // too recent below
	createSupport(t, s.App("C"), newSupportSession("s1", "v1", "", 10))
	_, err := s.App("C").AssignSupportSession(ctx, "s1", 1, "ag1", at(11)) // active: not waiting
	must(t, err, "C: AssignSupportSession(s1)")
	createSupport(t, s.App("D"), newSupportSession("s1", "v1", "", 10), newSupportSession("s2", "v1", "x", 11))
	for _, c := range []struct {
		after  string
		before time.Time
		limit  int
		want   []string
	}{
		{"", at(15), 10, []string{"A", "D"}},
		{"", at(25), 10, []string{"A", "B", "D"}},
		{"", at(25), 2, []string{"A", "B"}},
		{"B", at(25), 2, []string{"D"}},
		{"D", at(25), 2, nil},
		{"", at(10), 10, nil},
		{"", at(25), 0, nil},
	} {
		got, err := s.WaitingSupportApps(ctx, c.after, c.before, c.limit)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("WaitingSupportApps(%q, %v, %d) = %q, %v, want %q", c.after, c.before, c.limit, got, err, c.want)
		}
	}
}

// testSupportOutboxNotices: notices are stored with the changes beside the
// events, each kind read by its own drain with its recipient, and marked
// sent like events, in the app only.
func testSupportOutboxNotices(t *testing.T, s store.Store) {
	a, ctx := supportSetup(t, s, 2, 2, "v1"), t.Context()
	created := supportEvent("e1", "support.session.created", 10)
	must(t, a.CreateSupportSession(ctx, newSupportSession("s1", "v1", "", 10), created), "CreateSupportSession(s1, e1)")
	assignedEv := supportEvent("e2", "support.session.assigned", 11)
	toV1, toAg1 := supportNotice("support:s1:assigned:2:v1", "v1", "assigned", 11), supportNotice("support:s1:assigned:2:ag1", "ag1", "assigned", 11)
	_, err := a.AssignSupportSession(ctx, "s1", 1, "ag1", at(11), assignedEv, toV1, toAg1)
	must(t, err, "AssignSupportSession(s1, ag1, e2 and two notices)")
	away := supportNotice("support:s1:transferred_away:3:ag1", "ag1", "transferred_away", 12)
	toV1Again, toAg2 := supportNotice("support:s1:assigned:3:v1", "v1", "assigned", 12), supportNotice("support:s1:assigned:3:ag2", "ag2", "assigned", 12)
	_, err = a.AssignSupportSession(ctx, "s1", 2, "ag2", at(12), away, toV1Again, toAg2) // notices only
	must(t, err, "AssignSupportSession(s1, ag2, notices only)")
	closed := supportNotice("support:s1:closed:4:v1", "v1", "closed", 13)
	_, err = a.CloseSupportSession(ctx, "s1", 3, "v1", at(13), closed)
	must(t, err, "CloseSupportSession(s1, notice)")
	queued := supportNotice("support:s2:queued:1:1", "v1", "queued", 14)
	createSupport(t, a, newSupportSession("s2", "v1", "", 14))
	must(t, a.AddSupportEvents(ctx, "s2", 1, queued), "AddSupportEvents(s2, notice)")
	must(t, a.AddSupportEvents(ctx, "s2", 1, queued), "AddSupportEvents(s2, notice again)")

	b := s.App("B")
	must(t, b.CreateUser(ctx, newUser("v1")), "B: CreateUser(v1)")
	otherApp := supportNotice("support:s1:x:1:v1", "v1", "x", 5)
	must(t, b.CreateSupportSession(ctx, newSupportSession("s1", "v1", "", 5), otherApp), "B: CreateSupportSession(s1, notice)")

	checkPending(t, s, pending(created, "A", "s1"), pending(assignedEv, "A", "s1"))
	checkPendingKind(t, s, store.SupportKindNotice,
		pending(toAg1, "A", "s1"), pending(toV1, "A", "s1"), pending(toAg2, "A", "s1"), pending(toV1Again, "A", "s1"), pending(away, "A", "s1"),
		pending(closed, "A", "s1"), pending(queued, "A", "s2"), pending(otherApp, "B", "s1"))
	checkPendingKind(t, s, "nonsense")

	// One call marks events and notices alike; another app's ids and
	// another session's are left.
	must(t, b.SupportEventsPublished(ctx, "s1", toV1.ID, created.ID), "B: SupportEventsPublished(s1, A's ids)")
	must(t, a.SupportEventsPublished(ctx, "s2", toV1.ID), "SupportEventsPublished(s2, an id of s1)")
	must(t, a.SupportEventsPublished(ctx, "s1", toV1.ID, created.ID, toAg1.ID, away.ID, toV1Again.ID, toAg2.ID), "SupportEventsPublished(s1, mixed)")
	checkPending(t, s, pending(assignedEv, "A", "s1"))
	checkPendingKind(t, s, store.SupportKindNotice, pending(closed, "A", "s1"), pending(queued, "A", "s2"), pending(otherApp, "B", "s1"))
	must(t, a.SupportEventsPublished(ctx, "s1", closed.ID, assignedEv.ID), "SupportEventsPublished(s1, the rest)")
	must(t, a.SupportEventsPublished(ctx, "s2", queued.ID), "SupportEventsPublished(s2)")
	must(t, b.SupportEventsPublished(ctx, "s1", otherApp.ID), "B: SupportEventsPublished(s1)")
	checkPending(t, s)
	checkPendingKind(t, s, store.SupportKindNotice)
	got, err := a.GetSupportSession(ctx, "s1")
	if err != nil || got.State != store.SupportClosed || got.AgentID != "ag2" || got.Version != 4 {
		t.Errorf("GetSupportSession(s1) = %+v, %v, want closed with ag2 at version 4", got, err)
	}
}

// testSupportOutboxNoticesFailed: a change that fails stores none of its
// notices.
func testSupportOutboxNoticesFailed(t *testing.T, s store.Store) {
	a, ctx := supportSetup(t, s, 1, 1, "v1", "v2"), t.Context()
	createSupport(t, a, newSupportSession("s1", "v1", "", 10), newSupportSession("s2", "v2", "", 11))
	_, err := a.AssignSupportSession(ctx, "s1", 1, "ag1", at(12))
	must(t, err, "AssignSupportSession(s1, ag1)")
	bad := func(n int) store.SupportEvent { return supportNotice(fmt.Sprintf("support:bad%d", n), "v2", "x", 20) }
	_, err = a.AssignSupportSession(ctx, "s2", 1, "ag1", at(13), bad(1), supportEvent("bad-e1", "support.session.x", 20))
	wantErr(t, err, store.ErrLimit, "AssignSupportSession(s2, full ag1)")
	_, err = a.AssignSupportSession(ctx, "s2", 7, "ag2", at(13), bad(2))
	wantErr(t, err, store.ErrConflict, "AssignSupportSession(s2, stale version)")
	_, err = a.RequeueSupportSession(ctx, "s2", 7, "", bad(3))
	wantErr(t, err, store.ErrConflict, "RequeueSupportSession(s2, stale version)")
	_, err = a.CloseSupportSession(ctx, "s2", 7, "v2", at(13), bad(4))
	wantErr(t, err, store.ErrConflict, "CloseSupportSession(s2, stale version)")
	wantErr(t, a.AddSupportEvents(ctx, "s2", 7, bad(5)), store.ErrConflict, "AddSupportEvents(s2, stale version)")
	wantErr(t, a.CreateSupportSession(ctx, newSupportSession("s1", "v1", "", 13), bad(6)), store.ErrConflict, "CreateSupportSession(taken s1)")
	checkPending(t, s)
	checkPendingKind(t, s, store.SupportKindNotice)
}

// testSupportOutboxNoticesPending: the notices' read stops at its time
// and its limit, and leaves the events out of its count.
func testSupportOutboxNoticesPending(t *testing.T, s store.Store) {
	a, ctx := supportSetup(t, s, 2, 2, "v1", "v2", "v3"), t.Context()
	var all []store.SupportEvent
	for i, v := range []string{"v1", "v2", "v3"} {
		sec := int64(10 + i)
		n := supportNotice("support:s"+v+":queued:1:1", v, "queued", sec)
		early := supportEvent("e"+v, "support.session.created", 1) // an older event, of the other kind
		must(t, a.CreateSupportSession(ctx, newSupportSession("s"+v, v, "", sec), early, n), "CreateSupportSession(%s)", v)
		all = append(all, pending(n, "A", "s"+v))
	}
	checkOutboxPending(t, s, store.SupportKindNotice, all)
}
