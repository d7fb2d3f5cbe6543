package support_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/store/enginetest"
	"github.com/magpie-im/magpie/webhook/support"
)

// nobody is a router with no device online.
type nobody struct{}

func (nobody) Deliver(ds []messaging.Delivery) []int                     { return make([]int, len(ds)) }
func (nobody) PushReceipt(string, string, string, messaging.Receipt) int { return 0 }

// dying is a sender that sends its first notice and dies: every later
// send fails.
type dying struct {
	next support.Sender
	sent atomic.Int32
}

func (d *dying) Send(ctx context.Context, req messaging.SendRequest) (store.Appended, error) {
	if d.sent.Add(1) > 1 {
		return store.Appended{}, errors.New("killed before sending")
	}
	return d.next.Send(ctx, req)
}

// deadStore is a store whose process died before marking anything sent.
type deadStore struct{ store.Store }

func (s deadStore) App(appID string) store.AppStore { return deadApp{s.Store.App(appID)} }

type deadApp struct{ store.AppStore }

func (deadApp) SupportEventsPublished(context.Context, string, ...string) error {
	return errors.New("killed before marking")
}

// systemNotices returns the support notices stored in user's system
// conversation, as "event key", in order.
func systemNotices(t *testing.T, st store.Store, user string) []string {
	t.Helper()
	ms, err := st.App("A").ListMessages(t.Context(), messaging.SystemConvID(user), store.Range{From: 1, Limit: 100})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		var c struct {
			Support struct{ Event string }
		}
		if err := json.Unmarshal(m.Body, &c); err != nil {
			t.Fatalf("system message %d of %s: %v", m.Seq, user, err)
		}
		out = append(out, c.Support.Event+" "+m.ClientMsgID)
	}
	return out
}

// TestSupportNoticesSurviveAKill: a process killed between a close's
// commit and its notices (here, after sending the visitor's, before the
// agent's, and before marking either) loses neither: the notices' drain
// sends both later, and the messaging core stores each once, under the
// client message id the step gave it. A second drain sends nothing. Both
// stores.
func TestSupportNoticesSurviveAKill(t *testing.T) {
	for _, kind := range enginetest.Engines {
		t.Run(kind.Name, func(t *testing.T) {
			st := kind.Open(t)
			e := newEnvOn(t, st)
			ctx := t.Context()
			msgs := messaging.New(st, nobody{}, messaging.Config{})
			runCtx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = msgs.Run(runCtx) }()
			t.Cleanup(func() { cancel(); <-done })

			var skew atomic.Int64
			clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
			live := support.New(st, support.Config{Sender: msgs, Presence: e.online, Now: clock})
			e.online["ann"] = true
			if _, err := live.PutAgent(ctx, "A", "ann", support.AgentInput{Capacity: 1, Available: true}); err != nil {
				t.Fatal(err)
			}
			ss, err := live.Open(ctx, "A", "v1", "")
			if err != nil || ss.AgentID != "ann" {
				t.Fatalf("Open = %+v, %v; want assigned to ann", ss, err)
			}

			dead := support.New(deadStore{st}, support.Config{Sender: &dying{next: msgs}, Presence: e.online, Now: clock})
			closed, err := dead.Close(ctx, "A", ss.ID, "v1")
			if err != nil {
				t.Fatal(err)
			}
			key := func(user string) string {
				return "support:" + ss.ID + ":closed:" + strconv.FormatInt(closed.Version, 10) + ":" + user
			}
			pending, err := st.PendingSupportEvents(ctx, store.SupportKindNotice, time.Now().Add(time.Hour), 100)
			if err != nil {
				t.Fatal(err)
			}
			var left []string
			for _, n := range pending {
				left = append(left, n.UserID+" "+n.ID)
			}
			// Each notice has its own At (the clock read as it was made):
			// across a millisecond, the visitor's comes first.
			slices.Sort(left)
			if len(left) != 2 || left[0] != "ann "+key("ann") || left[1] != "v1 "+key("v1") {
				t.Errorf("notices pending after the kill = %q, want the close's to ann and v1", left)
			}
			assigned := "assigned support:" + ss.ID + ":assigned:" + strconv.FormatInt(ss.Version, 10) + ":"
			if got := systemNotices(t, st, "ann"); len(got) != 1 || got[0] != assigned+"ann" {
				t.Fatalf("ann's notices after the kill = %q, want only the assignment", got)
			}

			// Within the grace the drain leaves them (a live step may be
			// sending them); past it, it sends them.
			if n, err := live.DrainNotices(ctx); err != nil || n != 0 {
				t.Fatalf("DrainNotices within the grace = %d, %v; want 0", n, err)
			}
			skew.Store(int64(2 * support.NoticeGrace))
			if n, err := live.DrainNotices(ctx); err != nil || n != 2 {
				t.Errorf("DrainNotices past the grace = %d, %v; want 2", n, err)
			}
			if n, err := live.DrainNotices(ctx); err != nil || n != 0 {
				t.Fatalf("second DrainNotices = %d, %v; want 0: the first marked them sent", n, err)
			}
			for _, user := range []string{"v1", "ann"} {
				got := systemNotices(t, st, user)
				want := []string{assigned + user, "closed " + key(user)}
				if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
					t.Errorf("%s's notices = %q, want %q: each once", user, got, want)
				}
			}
		})
	}
}

// failing is a sender that fails every send with err.
type failing struct{ err error }

func (f failing) Send(context.Context, messaging.SendRequest) (store.Appended, error) {
	return store.Appended{}, f.err
}

// TestStepsMarkTheirNotices: a step marks the notices it sent, leaves
// pending those it could not send, and drops those the messaging core
// refuses for good.
func TestStepsMarkTheirNotices(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.agent(t, "A", "ann", 3)
	pendingNotices := func() []string {
		t.Helper()
		ns, err := e.st.PendingSupportEvents(ctx, store.SupportKindNotice, time.Now().Add(time.Hour), 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, n := range ns {
			out = append(out, n.Type+" to "+n.UserID)
		}
		return out
	}
	ss := e.open(t, "v1", "")
	if _, err := e.svc.Close(ctx, "A", ss.ID, "v1"); err != nil {
		t.Fatal(err)
	}
	if left := pendingNotices(); len(left) != 0 {
		t.Errorf("notices pending after steps that sent them = %q, want none", left)
	}

	for _, c := range []struct {
		name string
		err  error
		want int
	}{
		{"transient", errors.New("store unavailable"), 2},
		{"refused", &messaging.Error{Code: "user_not_found", Message: "no such user"}, 0},
	} {
		svc := support.New(e.st, support.Config{Sender: failing{c.err}, Presence: e.online})
		ss, err := svc.Open(ctx, "A", "v2", "")
		if err != nil || ss.AgentID != "ann" {
			t.Fatalf("%s: Open = %+v, %v; want assigned to ann", c.name, ss, err)
		}
		if left := pendingNotices(); len(left) != c.want {
			t.Errorf("%s: notices pending after a failed send = %q, want %d", c.name, left, c.want)
		}
		if _, err := e.svc.Close(ctx, "A", ss.ID, "v2"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.DrainNotices(ctx); err != nil {
			t.Fatal(err)
		}
		e.skew.Add(int64(2 * support.NoticeGrace))
		if n, err := e.svc.DrainNotices(ctx); err != nil || n != c.want {
			t.Errorf("%s: DrainNotices = %d, %v; want %d", c.name, n, err, c.want)
		}
		if left := pendingNotices(); len(left) != 0 {
			t.Errorf("%s: notices pending after the drain = %q, want none", c.name, left)
		}
	}
}

// TestSweepTellsPositions: a process killed between a close of a waiting
// session and the telling of the queue's new positions leaves the
// visitors behind it told their old positions; the routing sweep tells
// them the new ones.
func TestSweepTellsPositions(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.agent(t, "A", "ann", 1)
	e.open(t, "v1", "")
	second, third := e.open(t, "v2", ""), e.open(t, "v3", "")
	last := map[string]int{}
	for _, n := range e.sent.take() {
		if n.Event == "queued" {
			last[n.To] = n.Position
		}
	}
	if last["v2"] != 1 || last["v3"] != 2 {
		t.Fatalf("positions told = %v, want v2 1 and v3 2", last)
	}
	if _, err := e.st.App("A").CloseSupportSession(ctx, second.ID, second.Version, "v2", time.Now()); err != nil {
		t.Fatal(err)
	}
	if n := e.sweep(t); n != 0 {
		t.Fatalf("Sweep with ann busy assigned %d, want 0", n)
	}
	ns := e.sent.take()
	if len(ns) != 1 || ns[0].To != "v3" || ns[0].Event != "queued" || ns[0].Position != 1 || ns[0].SessionID != third.ID {
		t.Errorf("notices of the sweep = %+v, want position 1 for v3", ns)
	}
}
