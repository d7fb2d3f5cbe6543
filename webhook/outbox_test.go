package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/store/enginetest"
	"github.com/magpie-im/magpie/internal/store/mongo/mongotest"
	"github.com/magpie-im/magpie/webhook"
	"github.com/magpie-im/magpie/webhook/support"
)

func TestMain(m *testing.M) { mongotest.Main(m) }

// killed is a process that dies right after each step's store write: it
// never publishes the step's events (nor marks them).
type killed struct{ *webhook.Outbox }

func (killed) Publish(context.Context, string, []store.SupportEvent) error {
	return errors.New("killed before publishing")
}

// noSender drops the support notices; everyone is online.
type noSender struct{}

func (noSender) Send(context.Context, messaging.SendRequest) (store.Appended, error) {
	return store.Appended{}, nil
}

func (noSender) UsersOnline(_ context.Context, _ string, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// TestSupportEventsSurviveAKill: a process killed between a support step's
// store write and the publication of its events loses none: the outbox's
// drain publishes them later, and each is delivered once, with the
// webhook-id it was stored with (the same it would have had if published
// at once). A second drain publishes nothing; the steps that follow, in a
// live process, publish their own. Both stores.
func TestSupportEventsSurviveAKill(t *testing.T) {
	for _, kind := range enginetest.Engines {
		t.Run(kind.Name, func(t *testing.T) {
			e := newEnvOn(t, kind.Open(t))
			ctx := t.Context()
			for _, u := range []string{"v1", "ann"} {
				if err := e.store.App("A").CreateUser(ctx, store.User{ID: u, CreatedAt: t0, UpdatedAt: t0}); err != nil {
					t.Fatal(err)
				}
			}
			e.endpoint(t, "A", "/support")
			e.worker(t, webhook.WorkerConfig{})
			outbox := webhook.NewOutbox(e.store, e.bus, webhook.OutboxConfig{})
			dead := support.New(e.store, support.Config{Sender: noSender{}, Presence: noSender{}, Events: killed{outbox}})
			if _, err := dead.PutAgent(ctx, "A", "ann", support.AgentInput{Capacity: 1, Available: true}); err != nil {
				t.Fatal(err)
			}
			ss, err := dead.Open(ctx, "A", "v1", "")
			if err != nil || ss.AgentID != "ann" {
				t.Fatalf("Open = %+v, %v; want assigned to ann", ss, err)
			}
			if ss, err = dead.Close(ctx, "A", ss.ID, "v1"); err != nil {
				t.Fatal(err)
			}

			// What the dead process left: created, assigned, closed.
			left, err := e.store.PendingSupportEvents(ctx, store.SupportKindEvent, time.Now().Add(time.Hour), 100)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, ev := range left {
				want = append(want, ev.Type+" "+ev.ID)
			}
			if len(left) != 3 {
				t.Fatalf("pending after the kill: %q, want created, assigned and closed", want)
			}
			if got := e.recv.Requests(); len(got) != 0 {
				t.Fatalf("%d deliveries before the drain", len(got))
			}

			// The drain, within the grace, leaves them (a live step may be
			// publishing them); past it, publishes them.
			if n, err := outbox.Drain(ctx); err != nil || n != 0 {
				t.Fatalf("Drain within the grace = %d, %v; want 0", n, err)
			}
			later := webhook.NewOutbox(e.store, e.bus, webhook.OutboxConfig{Now: func() time.Time { return time.Now().Add(time.Minute) }})
			if n, err := later.Drain(ctx); err != nil || n != 3 {
				t.Fatalf("Drain past the grace = %d, %v; want 3", n, err)
			}
			if n, err := later.Drain(ctx); err != nil || n != 0 {
				t.Fatalf("second Drain = %d, %v; want 0: the first marked them published", n, err)
			}

			// A live process rates the session: its event goes out at once.
			live := support.New(e.store, support.Config{Sender: noSender{}, Presence: noSender{}, Events: outbox})
			if _, err := live.Rate(ctx, "A", ss.ID, 5, "ok"); err != nil {
				t.Fatal(err)
			}
			if left, err := e.store.PendingSupportEvents(ctx, store.SupportKindEvent, time.Now().Add(time.Hour), 100); err != nil || len(left) != 0 {
				t.Errorf("pending after a live step = %+v, %v; want none", left, err)
			}
			reqs := e.waitN(t, 4)
			var got []string
			for _, r := range reqs {
				var body struct{ ID, Type string }
				if err := json.Unmarshal(r.Body, &body); err != nil {
					t.Fatal(err)
				}
				if body.ID != r.ID {
					t.Errorf("delivery %s carries webhook-id %q", body.ID, r.ID)
				}
				if body.Type != webhook.EventSupportRated {
					got = append(got, body.Type+" "+r.ID)
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("delivered %q, want each event the kill left, once, with its id: %q", got, want)
			}
			if len(reqs) != 4 {
				t.Errorf("%d deliveries, want 4", len(reqs))
			}
		})
	}
}
