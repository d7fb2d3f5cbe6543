package support_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/store/sqlite"
	"github.com/magpie-im/magpie/webhook"
	"github.com/magpie-im/magpie/webhook/support"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// notices records the system messages the service sends, with their
// client message ids (Key): the messaging core stores one message per id of
// the system sender, so tests check that two notices' ids differ.
type notices struct {
	mu   sync.Mutex
	msgs []notice
}

type notice struct {
	To, Key   string
	Event     string `json:"event"`
	SessionID string `json:"session_id"`
	AgentID   string `json:"agent_id"`
	Position  int    `json:"position"`
}

func (n *notices) Send(_ context.Context, req messaging.SendRequest) (store.Appended, error) {
	var c struct{ Support notice }
	if !req.System || req.Type != "custom" || json.Unmarshal([]byte(req.Content), &c) != nil {
		return store.Appended{}, errors.New("not a support notice")
	}
	c.Support.To, c.Support.Key = req.ToUserID, req.ClientMsgID
	n.mu.Lock()
	defer n.mu.Unlock()
	n.msgs = append(n.msgs, c.Support)
	return store.Appended{}, nil
}

// take returns the notices sent since the last take.
func (n *notices) take() []notice {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := n.msgs
	n.msgs = nil
	return out
}

// online is a presence: the users in it are online.
type online map[string]bool

func (o online) UsersOnline(_ context.Context, _ string, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, id := range ids {
		out[id] = o[id]
	}
	return out, nil
}

// router answers the routing webhook with body, or fails with err.
type router struct {
	body []byte
	err  error
	asks int
}

func (r *router) Route(context.Context, string, string, any) ([]byte, error) {
	r.asks++
	return r.body, r.err
}

// events records the events the service publishes.
type events struct {
	mu  sync.Mutex
	evs []store.SupportEvent
}

func (*events) Wants(string, string) bool { return true }

func (e *events) Publish(_ context.Context, _ string, evs []store.SupportEvent) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = append(e.evs, evs...)
	return nil
}

type env struct {
	st     store.Store
	svc    *support.Service
	sent   *notices
	online online
	router *router
	events *events
	// skew is added to the wall clock of the service (in nanoseconds),
	// to move it past the sweep's grace.
	skew atomic.Int64
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "magpie.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newEnvOn(t, st)
}

// newEnvOn is newEnv on st, a new store, with apps A and B and their users.
func newEnvOn(t *testing.T, st store.Store) *env {
	t.Helper()
	ctx := t.Context()
	for app, users := range map[string][]string{"A": {"v1", "v2", "v3", "ann", "bob", "cat"}, "B": {"v1", "ann"}} {
		if err := st.CreateApp(ctx, store.App{ID: app, TenantID: "t", Key: "k" + app, CreatedAt: t0, UpdatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		for _, u := range users {
			if err := st.App(app).CreateUser(ctx, store.User{ID: u, CreatedAt: t0, UpdatedAt: t0}); err != nil {
				t.Fatal(err)
			}
		}
	}
	e := &env{st: st, sent: &notices{}, online: online{}, router: &router{err: webhook.ErrNoHook}, events: &events{}}
	e.svc = support.New(st, support.Config{Sender: e.sent, Presence: e.online, Router: e.router, Events: e.events,
		Now: func() time.Time { return time.Now().Add(time.Duration(e.skew.Load())) }})
	return e
}

func (e *env) agent(t *testing.T, app, user string, capacity int, skills ...string) {
	t.Helper()
	e.online[user] = true
	if _, err := e.svc.PutAgent(t.Context(), app, user, support.AgentInput{Skills: skills, Capacity: capacity, Available: true}); err != nil {
		t.Fatalf("PutAgent(%s): %v", user, err)
	}
}

func (e *env) open(t *testing.T, visitor, skill string) store.SupportSession {
	t.Helper()
	ss, err := e.svc.Open(t.Context(), "A", visitor, skill)
	if err != nil {
		t.Fatalf("Open(%s): %v", visitor, err)
	}
	return ss
}

func (e *env) types() []string {
	e.events.mu.Lock()
	defer e.events.mu.Unlock()
	var out []string
	for _, ev := range e.events.evs {
		out = append(out, ev.Type)
	}
	e.events.evs = nil
	return out
}

// TestBuiltInRouting: with no routing webhook, a session goes to the
// least-loaded available online agent with its skill; with none free it
// waits, and the visitor is told its position; closing a session gives
// the freed place to the next visitor.
func TestBuiltInRouting(t *testing.T) {
	e := newEnv(t)
	e.agent(t, "A", "ann", 1, "billing")
	e.agent(t, "A", "bob", 2, "billing")
	e.agent(t, "A", "cat", 5, "sales")
	e.online["cat"] = false
	e.sent.take()

	s1 := e.open(t, "v1", "billing")
	if s1.State != store.SupportActive || (s1.AgentID != "ann" && s1.AgentID != "bob") {
		t.Fatalf("first session = %+v", s1)
	}
	s2 := e.open(t, "v2", "billing")
	s3 := e.open(t, "v3", "billing")
	// Three places (ann 1, bob 2): all assigned, the load spread.
	for _, s := range []store.SupportSession{s2, s3} {
		if s.State != store.SupportActive {
			t.Fatalf("session = %+v, want active", s)
		}
	}
	ann, _ := e.st.App("A").GetAgent(t.Context(), "ann")
	bob, _ := e.st.App("A").GetAgent(t.Context(), "bob")
	if ann.Active != 1 || bob.Active != 2 {
		t.Fatalf("active ann %d, bob %d; want 1 and 2", ann.Active, bob.Active)
	}
	if got := e.types(); len(got) != 6 {
		t.Errorf("events = %v, want created and assigned three times", got)
	}

	// Both sides of each assignment are told, under two client message ids.
	told, keys := map[string]bool{}, map[string]bool{}
	for _, n := range e.sent.take() {
		if n.Event == "assigned" {
			told[n.To+"/"+n.SessionID] = true
			if keys[n.Key] {
				t.Errorf("two assigned notices share the client message id %q", n.Key)
			}
			keys[n.Key] = true
		}
	}
	for _, s := range []store.SupportSession{s1, s2, s3} {
		if !told[s.VisitorID+"/"+s.ID] || !told[s.AgentID+"/"+s.ID] {
			t.Errorf("session %s: assigned told to visitor %t, agent %t; want both", s.ID, told[s.VisitorID+"/"+s.ID], told[s.AgentID+"/"+s.ID])
		}
	}

	// Cat is offline: a sales visitor waits, told position 1.
	if _, err := e.svc.Close(t.Context(), "A", s1.ID, s1.AgentID); err != nil {
		t.Fatal(err)
	}
	e.sent.take()
	w := e.open(t, "v1", "sales")
	if w.State != store.SupportWaiting {
		t.Fatalf("sales session with cat offline = %+v", w)
	}
	if ns := e.sent.take(); len(ns) != 1 || ns[0].To != "v1" || ns[0].Event != "queued" || ns[0].Position != 1 {
		t.Errorf("notices = %+v, want position 1 for v1", ns)
	}
	// A visitor cannot open a second session.
	if _, err := e.svc.Open(t.Context(), "A", "v1", "billing"); !errors.Is(err, support.ErrConflict) {
		t.Errorf("second open session = %v, want ErrConflict", err)
	}
	// Cat comes online and available: it takes the waiting session.
	e.online["cat"] = true
	if _, err := e.svc.PutAgent(t.Context(), "A", "cat", support.AgentInput{Skills: []string{"sales"}, Capacity: 5, Available: true}); err != nil {
		t.Fatal(err)
	}
	got, _ := e.svc.Get(t.Context(), "A", w.ID)
	if got.State != store.SupportActive || got.AgentID != "cat" {
		t.Errorf("waiting session after cat came = %+v", got)
	}
}

// TestQueuePositions: waiting visitors learn their positions, and move up
// when an agent frees a place.
func TestQueuePositions(t *testing.T) {
	e := newEnv(t)
	e.agent(t, "A", "ann", 1)
	first := e.open(t, "v1", "")
	e.open(t, "v2", "")
	e.open(t, "v3", "")
	if first.AgentID != "ann" {
		t.Fatalf("first = %+v", first)
	}
	last := map[string]int{}
	for _, n := range e.sent.take() {
		if n.Event == "queued" {
			last[n.To] = n.Position
		}
	}
	if last["v2"] != 1 || last["v3"] != 2 {
		t.Fatalf("positions = %v, want v2 1, v3 2", last)
	}
	if _, err := e.svc.Close(t.Context(), "A", first.ID, "ann"); err != nil {
		t.Fatal(err)
	}
	var assigned, moved bool
	for _, n := range e.sent.take() {
		assigned = assigned || (n.To == "v2" && n.Event == "assigned")
		moved = moved || (n.To == "v3" && n.Event == "queued" && n.Position == 1)
	}
	if !assigned || !moved {
		t.Errorf("after a close: v2 assigned %t, v3 moved to 1 %t", assigned, moved)
	}
}

// TestRoutingWebhook: the routing webhook's agent is taken; its queue is
// used; when it fails, the built-in router routes.
func TestRoutingWebhook(t *testing.T) {
	e := newEnv(t)
	e.agent(t, "A", "ann", 3)
	e.agent(t, "A", "bob", 3, "vip")
	e.router.err, e.router.body = nil, []byte(`{"agent_id":"bob"}`)
	if s := e.open(t, "v1", ""); s.AgentID != "bob" {
		t.Errorf("routed by the webhook to %q, want bob", s.AgentID)
	}
	e.router.body = []byte(`{"skill":"vip"}`)
	if s := e.open(t, "v2", ""); s.AgentID != "bob" || s.Skill != "vip" {
		t.Errorf("routed to the vip queue: %+v", s)
	}
	e.router.err = errors.New("webhook down")
	if s := e.open(t, "v3", ""); s.AgentID != "ann" {
		t.Errorf("with the webhook down: %+v, want ann by the built-in router", s)
	}
	if e.router.asks != 3 {
		t.Errorf("router asked %d times", e.router.asks)
	}
}

// TestTransferCloseRate: a session moves to another agent and to another
// queue, is closed and rated once; bad input is refused.
func TestTransferCloseRate(t *testing.T) {
	e := newEnv(t)
	e.agent(t, "A", "ann", 2)
	e.agent(t, "A", "bob", 2, "vip")
	s := e.open(t, "v1", "")
	if s.AgentID != "ann" {
		t.Fatalf("open = %+v", s)
	}
	e.types()
	s, err := e.svc.Transfer(t.Context(), "A", s.ID, "bob", nil)
	if err != nil || s.AgentID != "bob" {
		t.Fatalf("Transfer to bob = %+v, %v", s, err)
	}
	ann, _ := e.st.App("A").GetAgent(t.Context(), "ann")
	if ann.Active != 0 {
		t.Errorf("ann keeps %d sessions after the transfer", ann.Active)
	}
	vip := "vip"
	if s, err = e.svc.Transfer(t.Context(), "A", s.ID, "", &vip); err != nil || s.Skill != "vip" {
		t.Fatalf("Transfer to vip = %+v, %v", s, err)
	}
	if _, err := e.svc.Transfer(t.Context(), "A", s.ID, "", nil); err == nil {
		t.Error("Transfer to nowhere succeeded")
	}
	if _, err := e.svc.Rate(t.Context(), "A", s.ID, 5, "great"); !errors.Is(err, support.ErrConflict) {
		t.Errorf("Rate an open session = %v", err)
	}
	if s, err = e.svc.Close(t.Context(), "A", s.ID, "v1"); err != nil || s.State != store.SupportClosed {
		t.Fatalf("Close = %+v, %v", s, err)
	}
	if _, err := e.svc.Close(t.Context(), "A", s.ID, "v1"); !errors.Is(err, support.ErrConflict) {
		t.Errorf("Close twice = %v", err)
	}
	if _, err := e.svc.Rate(t.Context(), "A", s.ID, 6, ""); err == nil {
		t.Error("Rate 6 succeeded")
	}
	if s, err = e.svc.Rate(t.Context(), "A", s.ID, 4, "ok"); err != nil || s.Rating != 4 {
		t.Fatalf("Rate = %+v, %v", s, err)
	}
	if _, err := e.svc.Rate(t.Context(), "A", s.ID, 5, ""); !errors.Is(err, support.ErrConflict) {
		t.Errorf("Rate twice = %v", err)
	}
	if got := e.types(); len(got) < 4 || got[len(got)-1] != webhook.EventSupportRated {
		t.Errorf("events = %v", got)
	}
	// App B sees none of it.
	if _, err := e.svc.Get(t.Context(), "B", s.ID); !errors.Is(err, support.ErrNotFound) {
		t.Errorf("app B Get = %v", err)
	}
	if _, err := e.svc.Close(t.Context(), "B", s.ID, "x"); !errors.Is(err, support.ErrNotFound) {
		t.Errorf("app B Close = %v", err)
	}
	if _, err := e.svc.PutAgent(t.Context(), "A", "ghost", support.AgentInput{Capacity: 1}); !errors.Is(err, support.ErrNotFound) {
		t.Errorf("PutAgent of an unknown user = %v", err)
	}
	if _, err := e.svc.PutAgent(t.Context(), "A", "ann", support.AgentInput{Capacity: 0}); err == nil {
		t.Error("PutAgent with capacity 0 succeeded")
	}
}

// TestOpenResumes: a process killed in the middle of a visitor's open
// leaves a session stored but never routed, or assigned but never told;
// the visitor asking again (its SDK resends after reconnecting) finishes
// the job, once: the session is routed, the notices sent, and a session
// routed and told long ago is only answered.
func TestOpenResumes(t *testing.T) {
	e := newEnv(t)
	e.agent(t, "A", "ann", 2)
	ctx := t.Context()
	// Killed after the store, before the routing.
	waiting := store.SupportSession{ID: "ss_killed", VisitorID: "v1", State: store.SupportWaiting, CreatedAt: t0, Version: 1}
	if err := e.st.App("A").CreateSupportSession(ctx, waiting); err != nil {
		t.Fatal(err)
	}
	e.sent.take()
	got, err := e.svc.Open(ctx, "A", "v1", "")
	if !errors.Is(err, support.ErrConflict) || got.ID != "ss_killed" || got.State != store.SupportActive || got.AgentID != "ann" {
		t.Fatalf("Open after a kill before routing = %+v, %v; want ss_killed assigned to ann, and ErrConflict", got, err)
	}
	ns := e.sent.take()
	if len(ns) != 2 || ns[0].Event != "assigned" || ns[1].Event != "assigned" {
		t.Fatalf("notices = %+v, want assigned to v1 and ann", ns)
	}
	// System messages share one sender: the two notices need two client
	// message ids, or the messaging core stores the second as the first.
	if ns[0].Key == ns[1].Key || len(ns[0].Key) > 128 {
		t.Errorf("notices to v1 and ann have client message ids %q and %q, want two of at most 128 bytes", ns[0].Key, ns[1].Key)
	}
	keys := []string{ns[0].Key, ns[1].Key}
	// Killed after the assignment, before the notices: told again, with
	// the same session version (so with the same client message ids: the
	// messaging core stores each once).
	again, err := e.svc.Open(ctx, "A", "v1", "")
	if !errors.Is(err, support.ErrConflict) || again.ID != got.ID || again.Version != got.Version || again.AgentID != "ann" {
		t.Fatalf("Open again = %+v, %v; want %+v unchanged", again, err, got)
	}
	ns = e.sent.take()
	if len(ns) != 2 || ns[0].To != "v1" || ns[1].To != "ann" || ns[0].Event != "assigned" || ns[0].SessionID != got.ID ||
		ns[0].Key != keys[0] || ns[1].Key != keys[1] {
		t.Errorf("notices = %+v, want assigned to v1 and ann again, with the same client message ids %q", ns, keys)
	}
	ann, err := e.st.App("A").GetAgent(ctx, "ann")
	if err != nil || ann.Active != 1 {
		t.Errorf("ann's active = %d, %v; want 1: the session is assigned once", ann.Active, err)
	}
}
