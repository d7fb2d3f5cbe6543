package support_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/maintenance"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/store/enginetest"
	"github.com/magpie-im/magpie/internal/store/mongo/mongotest"
	"github.com/magpie-im/magpie/webhook"
	"github.com/magpie-im/magpie/webhook/support"
)

func TestMain(m *testing.M) { mongotest.Main(m) }

// sweep runs the routing sweep with the service's clock past the grace of
// every session opened so far, and returns how many sessions it assigned.
func (e *env) sweep(t *testing.T) int {
	t.Helper()
	e.skew.Add(int64(2 * support.SweepGrace))
	n, err := e.svc.Sweep(t.Context())
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	return n
}

// session returns session id as stored.
func (e *env) session(t *testing.T, id string) store.SupportSession {
	t.Helper()
	ss, err := e.st.App("A").GetSupportSession(t.Context(), id)
	if err != nil {
		t.Fatalf("GetSupportSession(%s): %v", id, err)
	}
	return ss
}

// TestSweepRoutesWaitingVisitors: a close whose routing a kill interrupted
// leaves a visitor waiting beside a free agent, and a kill between a
// close's two writes (in a store without transactions) leaves the agent's
// count too high; the routing sweep gives the visitor the agent, in the
// second case once the repair sweep has lowered the count. Both stores.
func TestSweepRoutesWaitingVisitors(t *testing.T) {
	for _, kind := range enginetest.Engines {
		t.Run(kind.Name, func(t *testing.T) {
			e := newEnvOn(t, kind.Open(t))
			ctx, a := t.Context(), e.st.App("A")
			e.agent(t, "A", "ann", 1)
			first := e.open(t, "v1", "")
			second := e.open(t, "v2", "")
			if first.AgentID != "ann" || second.State != store.SupportWaiting {
				t.Fatalf("opened %+v and %+v, want the first with ann and the second waiting", first, second)
			}
			if n, err := e.svc.Sweep(ctx); err != nil || n != 0 {
				t.Fatalf("Sweep within the grace = %d, %v; want 0", n, err)
			}
			if n := e.sweep(t); n != 0 {
				t.Fatalf("Sweep with the agent busy = %d; want 0", n)
			}

			// Killed after the close's store write, before its routing.
			if _, err := a.CloseSupportSession(ctx, first.ID, first.Version, "v1", time.Now()); err != nil {
				t.Fatal(err)
			}
			if got := e.session(t, second.ID); got.State != store.SupportWaiting {
				t.Fatalf("second session after the interrupted close = %+v, want still waiting", got)
			}
			e.sent.take()
			if n := e.sweep(t); n != 1 {
				t.Fatalf("Sweep after the grace assigned %d sessions, want 1", n)
			}
			if got := e.session(t, second.ID); got.State != store.SupportActive || got.AgentID != "ann" {
				t.Fatalf("second session after the sweep = %+v, want active with ann", got)
			}
			told := map[string]bool{}
			for _, n := range e.sent.take() {
				told[n.To+"/"+n.Event] = true
			}
			if !told["v2/assigned"] || !told["ann/assigned"] {
				t.Errorf("notices after the sweep = %v, want assigned to v2 and ann", told)
			}

			// Killed between the close's session write and the release of
			// the agent's place: the count stays one too high.
			third := e.open(t, "v3", "")
			if third.State != store.SupportWaiting {
				t.Fatalf("third session = %+v, want waiting", third)
			}
			second = e.session(t, second.ID)
			if _, err := a.CloseSupportSession(ctx, second.ID, second.Version, "v2", time.Now()); err != nil {
				t.Fatal(err)
			}
			if err := a.SetAgentActive(ctx, "ann", 0, 1); err != nil {
				t.Fatal(err)
			}
			if n := e.sweep(t); n != 0 {
				t.Fatalf("Sweep with ann's count left at 1 assigned %d, want 0", n)
			}
			clock := time.Now()
			repair := maintenance.AgentRepair{Grace: time.Minute, Now: func() time.Time { return clock }}
			for pass, want := range []int{0, 1} { // seen, then repaired once it stood still
				n, err := repair.Pass(ctx, e.st)
				if err != nil || n != want {
					t.Fatalf("repair pass %d = %d, %v; want %d", pass, n, err, want)
				}
				clock = clock.Add(2 * time.Minute)
			}
			if n := e.sweep(t); n != 1 {
				t.Fatalf("Sweep after the repair assigned %d, want 1", n)
			}
			if got := e.session(t, third.ID); got.State != store.SupportActive || got.AgentID != "ann" {
				t.Errorf("third session after the repair and the sweep = %+v, want active with ann", got)
			}
			if ann, err := a.GetAgent(ctx, "ann"); err != nil || ann.Active != 1 {
				t.Errorf("ann's active = %d, %v; want 1", ann.Active, err)
			}
		})
	}
}

// TestStepsStoreTheirEvents: every step stores its event with its change
// (pending until published), under an id derived from the session's
// version, the one it publishes. Both stores.
func TestStepsStoreTheirEvents(t *testing.T) {
	for _, kind := range enginetest.Engines {
		t.Run(kind.Name, func(t *testing.T) {
			e := newEnvOn(t, kind.Open(t))
			ctx := t.Context()
			e.agent(t, "A", "ann", 1)
			first := e.open(t, "v1", "")
			second := e.open(t, "v2", "") // waits: queued
			if _, err := e.svc.Close(ctx, "A", first.ID, "ann"); err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.Rate(ctx, "A", first.ID, 5, "thanks"); err != nil {
				t.Fatal(err)
			}
			e.events.mu.Lock()
			published := append([]store.SupportEvent(nil), e.events.evs...)
			e.events.mu.Unlock()
			pending, err := e.st.PendingSupportEvents(ctx, store.SupportKindEvent, time.Now().Add(time.Hour), 100)
			if err != nil {
				t.Fatal(err)
			}
			// The fake publisher marks nothing: everything published is
			// still pending, once.
			ids := map[string]string{}
			for _, ev := range pending {
				if _, dup := ids[ev.ID]; dup {
					t.Errorf("event %s pending twice", ev.ID)
				}
				ids[ev.ID] = ev.Type
				if ev.AppID != "A" || (ev.SessionID != first.ID && ev.SessionID != second.ID) {
					t.Errorf("pending event %+v: wrong app or session", ev)
				}
			}
			if len(published) != len(pending) {
				t.Errorf("published %d events, %d pending", len(published), len(pending))
			}
			for _, ev := range published {
				if ids[ev.ID] != ev.Type {
					t.Errorf("published %s %s, not pending", ev.Type, ev.ID)
				}
			}
			// first: created, assigned, closed, rated; second: created,
			// queued, then assigned by the close.
			want := map[string]int{webhook.EventSupportCreated: 2, webhook.EventSupportAssigned: 2, webhook.EventSupportQueued: 1,
				webhook.EventSupportClosed: 1, webhook.EventSupportRated: 1}
			got := map[string]int{}
			for _, typ := range ids {
				got[typ]++
			}
			for typ, n := range want {
				if got[typ] != n {
					t.Errorf("%d %s events pending, want %d (all: %v)", got[typ], typ, n, got)
				}
			}
			assigned := e.session(t, second.ID)
			wantID := webhook.NewEvent("A", webhook.EventSupportAssigned, assigned.ID+"@"+strconv.FormatInt(assigned.Version, 10), time.Now(), nil).ID
			if ids[wantID] != webhook.EventSupportAssigned {
				t.Errorf("no pending assigned event of %s with id %s", assigned.ID, wantID)
			}
		})
	}
}
