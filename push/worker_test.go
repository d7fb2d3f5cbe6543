package push_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/bus"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/store/sqlite"
	"github.com/magpie-im/magpie/push"
	"github.com/magpie-im/magpie/push/provider"
)

// env is a real store and a real in-process bus, as embedded mode runs
// them: app A with alice, bob and carol, app B with dave.
type env struct {
	store *sqlite.Store
	bus   *bus.Local
	push  *push.Notifier
	work  *push.Worker
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx, dir := t.Context(), t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "magpie.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	b, err := bus.OpenLocal(ctx, filepath.Join(dir, "bus.db"), bus.LocalConfig{})
	if err != nil {
		t.Fatalf("open bus: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	for app, users := range map[string][]string{"A": {"alice", "bob", "carol"}, "B": {"dave"}} {
		if err := st.CreateApp(ctx, store.App{ID: app, TenantID: "t1", Key: "pk_" + app, CreatedAt: t0, UpdatedAt: t0}); err != nil {
			t.Fatalf("CreateApp(%s): %v", app, err)
		}
		for _, u := range users {
			if err := st.App(app).CreateUser(ctx, store.User{ID: u, CreatedAt: t0, UpdatedAt: t0}); err != nil {
				t.Fatalf("CreateUser(%s, %s): %v", app, u, err)
			}
		}
	}
	return &env{store: st, bus: b, push: push.NewNotifier(b), work: push.NewWorker(st, push.WorkerConfig{})}
}

// send stores a text message from alice to bob in app A and returns it.
func (e *env) send(t *testing.T, clientID, body string) store.Message {
	t.Helper()
	res, err := e.store.App("A").AppendMessages(t.Context(), []store.Draft{{
		ConvID: "c1", Members: []string{"alice", "bob"}, SenderID: "alice", ClientMsgID: clientID,
		Type: "text", Body: []byte(body), CreatedAt: t0,
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("AppendMessages: %v, %+v", err, res)
	}
	return res[0].Message
}

// offline reports msg as offline for user of app.
func (e *env) offline(t *testing.T, app, user string, msg store.Message) {
	t.Helper()
	if err := e.push.Offline(t.Context(), app, user, msg); err != nil {
		t.Fatalf("Offline(%s, %s, seq %d): %v", app, user, msg.Seq, err)
	}
}

// handled is the outcome of one Handle call.
type handled struct {
	job bus.Job
	err error
}

// consume runs the worker's Handle on QueueOffline and reports each
// outcome on the returned channel.
func (e *env) consume(t *testing.T) <-chan handled {
	t.Helper()
	out := make(chan handled)
	h := func(ctx context.Context, job bus.Job) error {
		err := e.work.Handle(ctx, job)
		select {
		case out <- handled{job, err}:
		case <-ctx.Done():
		}
		return err
	}
	c, err := e.bus.Consume(t.Context(), push.QueueOffline, h, bus.ConsumeOptions{MinBackoff: time.Millisecond, MaxAttempts: 2})
	if err != nil {
		t.Fatalf("Consume: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return out
}

// waitHandled returns the next n outcomes, failing on any error.
func waitHandled(t *testing.T, ch <-chan handled, n int) []bus.Job {
	t.Helper()
	var jobs []bus.Job
	timeout := time.After(10 * time.Second)
	for len(jobs) < n {
		select {
		case h := <-ch:
			if h.err != nil {
				t.Fatalf("Handle(%s) = %v", h.job.ID, h.err)
			}
			jobs = append(jobs, h.job)
		case <-timeout:
			t.Fatalf("%d of %d jobs handled after 10s", len(jobs), n)
		}
	}
	return jobs
}

// outbox returns the entries of user in app (every user if empty).
func (e *env) outbox(t *testing.T, app, user string) []store.OutboxEntry {
	t.Helper()
	es, err := e.store.App(app).ListOutbox(t.Context(), user, "", 100)
	if err != nil {
		t.Fatalf("ListOutbox(%s, %q): %v", app, user, err)
	}
	return es
}

// waitFor polls cond until it holds, for at most 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestOfflineRecordedOnce reports one message twice (fan-out and delivery
// watch) and another once: the outbox holds one entry per message.
func TestOfflineRecordedOnce(t *testing.T) {
	e := newEnv(t)
	m1 := e.send(t, "m1", "dinner at "+strings.Repeat("eight ", 30))
	m2 := e.send(t, "m2", "bring wine")
	e.offline(t, "A", "bob", m1)
	e.offline(t, "A", "bob", m1)
	e.offline(t, "A", "bob", m2)
	waitHandled(t, e.consume(t), 3)

	got := e.outbox(t, "A", "bob")
	want := map[int64]store.OutboxEntry{
		1: {ID: push.OfflineJobID("A", "bob", "c1", 1), UserID: "bob", ConvID: "c1", Seq: 1, SenderID: "alice",
			Type: "text", Preview: push.Preview("text", m1.Body), CreatedAt: t0, Badge: 2},
		2: {ID: push.OfflineJobID("A", "bob", "c1", 2), UserID: "bob", ConvID: "c1", Seq: 2, SenderID: "alice",
			Type: "text", Preview: "bring wine", CreatedAt: t0, Badge: 2},
	}
	if len(got) != len(want) {
		t.Fatalf("outbox of bob = %+v, want %d entries", got, len(want))
	}
	for _, g := range got {
		// The payload is the rendered notification: alice's name over the
		// preview, the badge, the conversation in the data.
		var n provider.Notification
		if err := json.Unmarshal(g.Payload, &n); err != nil {
			t.Errorf("outbox entry of seq %d: payload %q: %v", g.Seq, g.Payload, err)
		}
		if n.Title != "alice" || n.Body != g.Preview || n.Badge == nil || *n.Badge != 2 || n.Data["conv_id"] != "c1" ||
			n.Data["seq"] != strconv.FormatInt(g.Seq, 10) || n.ID != g.ID {
			t.Errorf("outbox entry of seq %d: payload %s, want alice's notification with badge 2", g.Seq, g.Payload)
		}
		g.Payload = nil
		if w := want[g.Seq]; !reflect.DeepEqual(g, w) {
			t.Errorf("outbox entry of seq %d = %+v, want %+v", g.Seq, g, w)
		}
	}
	if n := len([]rune(got[0].Preview)) + len([]rune(got[1].Preview)); n != push.PreviewRunes+len("bring wine") {
		t.Errorf("previews hold %d runes, want the long one cut at %d", n, push.PreviewRunes)
	}
	if es := e.outbox(t, "A", "alice"); len(es) != 0 {
		t.Errorf("outbox of alice = %+v, want none", es)
	}
}

// TestJobsThatNoLongerApply: a deleted user's job, a recalled message's, a
// non-member's and an unknown app's are acknowledged and record nothing.
func TestJobsThatNoLongerApply(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	m1 := e.send(t, "m1", "one")
	m2 := e.send(t, "m2", "two")
	e.offline(t, "A", "bob", m1)
	e.offline(t, "A", "carol", m1) // not in c1
	e.offline(t, "Z", "bob", m1)   // no such app
	e.offline(t, "A", "alice", m2) // recalled below
	if err := e.store.App("A").DeleteUser(ctx, "bob", store.UserDeletion{At: t0}); err != nil {
		t.Fatalf("DeleteUser(bob): %v", err)
	}
	if _, err := e.store.App("A").RecallMessage(ctx, "c1", m2.Seq, t0); err != nil {
		t.Fatalf("RecallMessage: %v", err)
	}
	waitHandled(t, e.consume(t), 4)
	if es := e.outbox(t, "A", ""); len(es) != 0 {
		t.Errorf("outbox of A = %+v, want none", es)
	}
	if dl, err := e.bus.DeadLetters(ctx, push.QueueOffline, 10); err != nil || len(dl) != 0 {
		t.Errorf("DeadLetters = %+v, %v, want none", dl, err)
	}
}

// TestRecreatedUserNotNotified: a job for a deleted user's message is not
// recorded for a new user who took the id after the message.
func TestRecreatedUserNotNotified(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	m1 := e.send(t, "m1", "for the old bob")
	a := e.store.App("A")
	if err := a.DeleteUser(ctx, "bob", store.UserDeletion{At: t0}); err != nil {
		t.Fatalf("DeleteUser(bob): %v", err)
	}
	if err := a.CreateUser(ctx, store.User{ID: "bob", CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatalf("CreateUser(bob again): %v", err)
	}
	m2 := e.send(t, "m2", "for the new bob") // re-creates bob's entry from seq 2
	e.offline(t, "A", "bob", m1)
	e.offline(t, "A", "bob", m2)
	waitHandled(t, e.consume(t), 2)
	if got := e.outbox(t, "A", "bob"); len(got) != 1 || got[0].Seq != m2.Seq {
		t.Errorf("outbox of the new bob = %+v, want only seq %d", got, m2.Seq)
	}
}

// TestCrossAppJob: a job naming app B for a user and conversation that
// exist only in app A records nothing in either app.
func TestCrossAppJob(t *testing.T) {
	e := newEnv(t)
	m1 := e.send(t, "m1", "app A's message")
	e.offline(t, "B", "bob", m1)
	e.offline(t, "B", "dave", m1) // B's user, A's conversation
	waitHandled(t, e.consume(t), 2)
	for _, app := range []string{"A", "B"} {
		if es := e.outbox(t, app, ""); len(es) != 0 {
			t.Errorf("outbox of %s = %+v, want none", app, es)
		}
	}
}

// TestPoisonJob: a malformed job fails MaxAttempts times and ends in the
// dead letters, while the valid job published after it is recorded.
func TestPoisonJob(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	poison := bus.Job{ID: "poison", AppID: "A", Type: push.JobType, Body: []byte(`{"v":1,"user_id":`)}
	if err := e.bus.Publish(ctx, push.QueueOffline, poison); err != nil {
		t.Fatalf("Publish(poison): %v", err)
	}
	e.offline(t, "A", "bob", e.send(t, "m1", "hello"))
	// One job at a time: the valid one runs only if the poison does not
	// hold the queue.
	opts := bus.ConsumeOptions{Concurrency: 1, MaxAttempts: 3, MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond}
	c, err := e.work.Start(ctx, e.bus, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer c.Close()
	var dead []bus.Job
	waitFor(t, "poison job dead-lettered", func() bool {
		dead, err = e.bus.DeadLetters(ctx, push.QueueOffline, 10)
		return err != nil || len(dead) > 0
	})
	if err != nil || len(dead) != 1 || dead[0].ID != "poison" || dead[0].Attempt != 3 ||
		!strings.Contains(dead[0].LastError, push.ErrMalformed.Error()) {
		t.Fatalf("DeadLetters = %+v, %v, want the poison job after 3 malformed attempts", dead, err)
	}
	waitFor(t, "valid job recorded", func() bool { return len(e.outbox(t, "A", "bob")) == 1 })
	if err := c.Close(); err != nil {
		t.Errorf("Consumer.Close = %v", err)
	}
}

// TestRun records jobs until its context ends, then returns nil.
func TestRun(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.work.Run(ctx, e.bus, bus.ConsumeOptions{}) }()
	e.offline(t, "A", "bob", e.send(t, "m1", "hello"))
	waitFor(t, "job recorded", func() bool { return len(e.outbox(t, "A", "bob")) == 1 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// failingStore fails every read.
type failingStore struct{ err error }

func (f failingStore) GetApp(context.Context, string) (store.App, error) { return store.App{}, f.err }
func (f failingStore) App(string) store.AppStore                         { return nil }

func TestHandleErrors(t *testing.T) {
	body, err := push.EncodeOffline(push.OfflineJob{UserID: "bob", ConvID: "c1", Seq: 1, Type: "text", CreatedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	down := errors.New("store down")
	w := push.NewWorker(failingStore{down}, push.WorkerConfig{})
	tests := []struct {
		name      string
		job       bus.Job
		malformed bool
	}{
		{"store down", bus.Job{ID: "j1", AppID: "A", Type: push.JobType, Body: body}, false},
		{"other type", bus.Job{ID: "j2", AppID: "A", Type: "webhook", Body: body}, true},
		{"no app", bus.Job{ID: "j3", Type: push.JobType, Body: body}, true},
		{"bad body", bus.Job{ID: "j4", AppID: "A", Type: push.JobType, Body: []byte("{}")}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := w.Handle(t.Context(), tc.job)
			if err == nil || errors.Is(err, push.ErrMalformed) != tc.malformed || (!tc.malformed && !errors.Is(err, down)) {
				t.Errorf("Handle(%+v) = %v, want an error, malformed %v", tc.job, err, tc.malformed)
			}
		})
	}
}
