package messaging_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
)

// policy is a fake moderation policy. Its rules go by content: the filter
// acts on "kw-<action>", the hook on "hook-<action>" (action: reject,
// drop, modify, invalid); the hook holds a message "hold-<name>" until
// release(name) gives its verdict.
type policy struct {
	hook bool // HasHook

	mu    sync.Mutex // guards the following fields
	calls []string   // contents the hook was asked about
	holds map[string]chan messaging.Verdict
	asked chan string // each held content, once the hook has it
	quit  chan struct{}
	quits sync.Once
}

func newPolicy(hook bool) *policy {
	return &policy{hook: hook, holds: map[string]chan messaging.Verdict{}, asked: make(chan string, 16), quit: make(chan struct{})}
}

// stop lets every held hook call go (allow) and later ones pass at once.
// newServiceOn calls it before the service stops (see gatedStore.release).
func (p *policy) stop() { p.quits.Do(func() { close(p.quit) }) }

// recv receives from ch, failing the test after 10 s: what names what the
// test waits for.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

func verdictFor(stage, content string) messaging.Verdict {
	switch strings.TrimPrefix(content, stage+"-") {
	case "reject":
		return messaging.Verdict{Action: messaging.Reject, Code: stage + "_says_no", Message: "not allowed"}
	case "drop":
		return messaging.Verdict{Action: messaging.Drop}
	case "modify":
		return messaging.Verdict{Action: messaging.Modify, Content: "modified by " + stage}
	case "invalid":
		return messaging.Verdict{Action: messaging.Modify, Content: strings.Repeat("x", 2000)} // over MaxBytes
	}
	return messaging.Verdict{Action: messaging.Allow}
}

func (p *policy) Filter(c messaging.Candidate) messaging.Verdict { return verdictFor("kw", c.Content) }
func (p *policy) HasHook() bool                                  { return p.hook }

func (p *policy) Hook(ctx context.Context, c messaging.Candidate) messaging.Verdict {
	p.mu.Lock()
	p.calls = append(p.calls, c.Content)
	var hold chan messaging.Verdict
	if strings.HasPrefix(c.Content, "hold-") {
		hold = p.holds[c.Content]
		if hold == nil {
			hold = make(chan messaging.Verdict, 1)
			p.holds[c.Content] = hold
		}
	}
	p.mu.Unlock()
	if hold != nil {
		select {
		case p.asked <- c.Content:
		case <-p.quit:
		}
		select {
		case v := <-hold:
			return v
		case <-ctx.Done():
			return messaging.Verdict{Action: messaging.Allow} // fail open
		case <-p.quit:
			return messaging.Verdict{Action: messaging.Allow}
		}
	}
	return verdictFor("hook", c.Content)
}

// release answers the held hook call of content with v.
func (p *policy) release(content string, v messaging.Verdict) {
	p.mu.Lock()
	hold := p.holds[content]
	if hold == nil {
		hold = make(chan messaging.Verdict, 1)
		p.holds[content] = hold
	}
	p.mu.Unlock()
	hold <- v
}

func (p *policy) hookCalls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.calls...)
}

// moderator gives app "A" its policy and app "B" none.
type moderator struct{ pol *policy }

func (m moderator) stop() {
	if m.pol != nil {
		m.pol.stop()
	}
}

func (m moderator) Policy(_ context.Context, appID string, _ bool) (messaging.Policy, error) {
	if appID != "A" || m.pol == nil {
		return nil, nil
	}
	return m.pol, nil
}

func stored(t *testing.T, s *messaging.Service, app, user, conv string) []string {
	t.Helper()
	msgs, _, err := s.Messages(context.Background(), app, user, messaging.MessageQuery{ConvID: conv, From: 1, Limit: 100})
	if err != nil {
		var me *messaging.Error
		if errors.As(err, &me) && me.Code == "forbidden" {
			return nil // no conversation yet
		}
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		out = append(out, string(m.Body))
	}
	return out
}

func TestModerationVerdicts(t *testing.T) {
	for _, hook := range []bool{false, true} {
		stage := "kw"
		if hook {
			stage = "hook"
		}
		for _, tc := range []struct {
			action  string
			reason  string // of the message_rejected error; empty when the send succeeds
			stored  string // content stored; empty when none
			dropped bool
		}{
			{action: "allow", stored: stage + "-allow"},
			{action: "reject", reason: stage + "_says_no"},
			{action: "modify", stored: "modified by " + stage},
			{action: "drop", dropped: true},
			{action: "invalid", reason: messaging.ReasonModerationInvalid},
		} {
			t.Run(stage+"/"+tc.action, func(t *testing.T) {
				pol := newPolicy(hook)
				s, r, _, _ := newServiceWith(t, messaging.Config{Moderator: moderator{pol}}, "alice", "bob")
				var committed []store.Appended
				req := text("alice", "bob", "c1", stage+"-"+tc.action)
				req.Committed = func(a store.Appended) { committed = append(committed, a) }
				a, err := s.Send(context.Background(), req)
				var me *messaging.Error
				switch {
				case tc.reason != "":
					if !errors.As(err, &me) || me.Code != messaging.CodeMessageRejected || me.Reason != tc.reason {
						t.Fatalf("Send = %+v, %v; want message_rejected (%s)", a, err, tc.reason)
					}
				case err != nil:
					t.Fatalf("Send = %v", err)
				case a.Dropped != tc.dropped || a.ConvID != "p:alice:bob" || (a.Seq == 0) != tc.dropped:
					t.Fatalf("Send = %+v, want dropped %v", a, tc.dropped)
				case len(committed) != 1 || committed[0].Dropped != tc.dropped:
					t.Fatalf("Committed got %+v", committed)
				}
				got := stored(t, s, "A", "alice", "p:alice:bob")
				if want := tc.stored; (want == "" && len(got) != 0) || (want != "" && (len(got) != 1 || got[0] != want)) {
					t.Fatalf("stored %q, want %q", got, want)
				}
				msgs, _ := r.take()
				if (len(msgs) == 1) != (tc.stored != "") {
					t.Fatalf("delivered %v", msgs)
				}
				wantCalls := 0
				if hook {
					wantCalls = 1
				}
				if n := len(pol.hookCalls()); n != wantCalls {
					t.Fatalf("hook asked %d times, want %d", n, wantCalls)
				}
			})
		}
	}
}

// TestFilterVerdictsSkipHook: a message the keyword rules reject or drop
// never reaches the hook; one they modify reaches it modified.
func TestFilterVerdictsSkipHook(t *testing.T) {
	pol := newPolicy(true)
	s, _, _, _ := newServiceWith(t, messaging.Config{Moderator: moderator{pol}}, "alice", "bob")
	ctx := context.Background()
	if _, err := s.Send(ctx, text("alice", "bob", "c1", "kw-reject")); err == nil {
		t.Fatal("kw-reject was sent")
	}
	if a, err := s.Send(ctx, text("alice", "bob", "c2", "kw-drop")); err != nil || !a.Dropped {
		t.Fatalf("kw-drop = %+v, %v", a, err)
	}
	if _, err := s.Send(ctx, text("alice", "bob", "c3", "kw-modify")); err != nil {
		t.Fatal(err)
	}
	if calls := pol.hookCalls(); len(calls) != 1 || calls[0] != "modified by kw" {
		t.Fatalf("hook calls = %q, want only the modified message", calls)
	}
}

// TestHookKeepsSessionOrder: a session's message held by the hook holds up
// the session's later messages, not other sessions'; seqs follow send
// order.
func TestHookKeepsSessionOrder(t *testing.T) {
	pol := newPolicy(true)
	s, _, _, _ := newServiceWith(t, messaging.Config{Moderator: moderator{pol}}, "alice", "bob")
	ctx := context.Background()
	var order messaging.Order
	var mu sync.Mutex
	var committed []string
	submit := func(id, content string) *messaging.Pending {
		req := text("alice", "bob", id, content)
		req.Order = &order
		req.Committed = func(a store.Appended) {
			mu.Lock()
			committed = append(committed, a.ClientMsgID)
			mu.Unlock()
		}
		p, err := s.Submit(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p1 := submit("m1", "hold-1")
	recv(t, pol.asked, "m1's hook call") // m1 is with the hook
	p2 := submit("m2", "hook-allow")
	p3 := submit("m3", "kw-drop") // no hook, but behind m1
	// Another session commits while m1 is held.
	if a, err := s.Send(ctx, text("carol", "bob", "o1", "hello")); err != nil || a.Seq != 1 {
		t.Fatalf("other session's send = %+v, %v", a, err)
	}
	mu.Lock()
	early := append([]string(nil), committed...)
	mu.Unlock()
	if len(early) != 0 {
		t.Fatalf("committed %v before m1's hook answered", early)
	}
	pol.release("hold-1", messaging.Verdict{Action: messaging.Allow})
	a1, err1 := p1.Wait(ctx)
	a2, err2 := p2.Wait(ctx)
	a3, err3 := p3.Wait(ctx)
	if err1 != nil || err2 != nil || err3 != nil || a1.Seq != 1 || a2.Seq != 2 || !a3.Dropped {
		t.Fatalf("results = %+v %v, %+v %v, %+v %v", a1, err1, a2, err2, a3, err3)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(committed, ",") != "m1,m2,m3" {
		t.Fatalf("committed %v, want m1,m2,m3", committed)
	}
}

// TestHookRejectKeepsOrder: a rejected message fails without holding up
// the later ones beyond its turn, and a cancelled sender's held message is
// not stored.
func TestHookRejectKeepsOrder(t *testing.T) {
	pol := newPolicy(true)
	s, _, _, _ := newServiceWith(t, messaging.Config{Moderator: moderator{pol}}, "alice", "bob")
	var order messaging.Order
	ctx := context.Background()
	r1 := text("alice", "bob", "m1", "hold-1")
	r1.Order = &order
	p1, err := s.Submit(ctx, r1)
	if err != nil {
		t.Fatal(err)
	}
	recv(t, pol.asked, "the held hook call")
	r2 := text("alice", "bob", "m2", "hook-allow")
	r2.Order = &order
	p2, err := s.Submit(ctx, r2)
	if err != nil {
		t.Fatal(err)
	}
	pol.release("hold-1", messaging.Verdict{Action: messaging.Reject, Code: "spam"})
	var me *messaging.Error
	if _, err := p1.Wait(ctx); !errors.As(err, &me) || me.Reason != "spam" {
		t.Fatalf("m1 = %v, want rejected (spam)", err)
	}
	if a, err := p2.Wait(ctx); err != nil || a.Seq != 1 {
		t.Fatalf("m2 = %+v, %v", a, err)
	}

	cctx, cancel := context.WithCancel(ctx)
	r3 := text("alice", "bob", "m3", "hold-3")
	r3.Order = &order
	p3, err := s.Submit(cctx, r3)
	if err != nil {
		t.Fatal(err)
	}
	recv(t, pol.asked, "the held hook call")
	cancel()
	if _, err := p3.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("m3 = %v, want context.Canceled", err)
	}
	if got := stored(t, s, "A", "alice", "p:alice:bob"); strings.Join(got, ",") != "hook-allow" {
		t.Fatalf("stored %q", got)
	}
}

// TestModerationDropAndDedup: a dropped message stores nothing and leaves
// no gap; a resend of a stored message returns the original even when the
// hook would modify it.
func TestModerationDropAndDedup(t *testing.T) {
	pol := newPolicy(true)
	s, r, _, _ := newServiceWith(t, messaging.Config{Moderator: moderator{pol}}, "alice", "bob")
	ctx := context.Background()
	a, err := s.Send(ctx, text("alice", "bob", "c1", "hook-drop"))
	if err != nil || !a.Dropped || a.Seq != 0 || a.ClientMsgID != "c1" {
		t.Fatalf("drop = %+v, %v", a, err)
	}
	if msgs, _ := r.take(); len(msgs) != 0 {
		t.Fatalf("a dropped message was delivered: %v", msgs)
	}
	a, err = s.Send(ctx, text("alice", "bob", "c2", "first"))
	if err != nil || a.Seq != 1 {
		t.Fatalf("send after drop = %+v, %v; want seq 1", a, err)
	}
	again, err := s.Send(ctx, text("alice", "bob", "c2", "hook-modify"))
	if err != nil || !again.Duplicate || again.Seq != 1 || string(again.Body) != "first" {
		t.Fatalf("resend = %+v, %v; want the original", again, err)
	}
}

// TestNoPolicyPath: an app without a policy is not moderated, and a policy
// error fails the send.
func TestNoPolicyPath(t *testing.T) {
	s, _, _, _ := newServiceWith(t, messaging.Config{Moderator: moderator{newPolicy(true)}}, "alice", "bob")
	req := text("alice", "bob", "c1", "kw-reject")
	req.AppID = "B"
	if a, err := s.Send(context.Background(), req); err != nil || a.Seq != 1 {
		t.Fatalf("app B send = %+v, %v", a, err)
	}
	s2, _, _, _ := newServiceWith(t, messaging.Config{Moderator: failing{}}, "alice", "bob")
	if _, err := s2.Send(context.Background(), text("alice", "bob", "c1", "x")); err == nil {
		t.Fatal("send with a failing moderator succeeded")
	}
}

type failing struct{}

func (failing) Policy(context.Context, string, bool) (messaging.Policy, error) {
	return nil, errors.New("no policy")
}

// TestResendIsNotModeratedAgain: a resend of a message accepted earlier
// (same sender and client message id) gets the original, even if the
// moderation would now refuse it: the hook is not asked again.
func TestResendIsNotModeratedAgain(t *testing.T) {
	pol := newPolicy(true)
	s, _, _, _ := newServiceWith(t, messaging.Config{Moderator: moderator{pol}}, "alice", "bob")
	ctx := context.Background()
	first, err := s.Send(ctx, text("alice", "bob", "c1", "hook-allow"))
	if err != nil || first.Seq != 1 {
		t.Fatalf("first send = %+v, %v", first, err)
	}
	for _, content := range []string{"hook-reject", "hook-drop", "kw-reject"} {
		again, err := s.Send(ctx, text("alice", "bob", "c1", content))
		if err != nil || !again.Duplicate || again.Seq != 1 || string(again.Body) != "hook-allow" {
			t.Fatalf("resend as %q = %+v, %v; want the original, a duplicate", content, again, err)
		}
	}
	if calls := pol.hookCalls(); len(calls) != 1 {
		t.Errorf("hook asked about %q, want the first send only", calls)
	}
	// A new message with the same content is moderated as usual.
	if _, err := s.Send(ctx, text("alice", "bob", "c2", "hook-reject")); err == nil {
		t.Error("a new rejected message was accepted")
	}
}

// countingStore counts the batched resend lookups, per app.
type countingStore struct {
	store.Store
	mu    sync.Mutex
	calls map[string][]int // app → keys per call
}

type countingApp struct {
	store.AppStore
	s   *countingStore
	app string
}

func (c *countingStore) App(appID string) store.AppStore {
	return countingApp{AppStore: c.Store.App(appID), s: c, app: appID}
}

func (a countingApp) ClientMsgIDsStored(ctx context.Context, keys []store.ClientMsgKey) ([]bool, error) {
	a.s.mu.Lock()
	a.s.calls[a.app] = append(a.s.calls[a.app], len(keys))
	a.s.mu.Unlock()
	return a.AppStore.ClientMsgIDsStored(ctx, keys)
}

// TestResendLookupsBatched: a batch of lookups of sends of two apps is one
// store read per app, each answer back at its send.
func TestResendLookupsBatched(t *testing.T) {
	s, _, _, st := newServiceWith(t, messaging.Config{}, "alice", "bob")
	ctx := context.Background()
	for _, app := range []string{"A", "B"} {
		if _, err := s.Send(ctx, messaging.SendRequest{AppID: app, SenderID: "alice", ToUserID: "bob", ClientMsgID: "c1", Type: "text", Content: "hi"}); err != nil {
			t.Fatal(err)
		}
	}
	counting := &countingStore{Store: st, calls: map[string][]int{}}
	looker := messaging.New(counting, nil, messaging.Config{})
	keys := []messaging.Resend{
		messaging.ResendKey("A", "alice", "c1"), messaging.ResendKey("B", "alice", "c2"), messaging.ResendKey("A", "bob", "c1"),
		messaging.ResendKey("B", "alice", "c1"), messaging.ResendKey("A", "alice", "c9"),
	}
	found, errs := looker.LookupResends(ctx, keys)
	want := []bool{true, false, false, true, false}
	for i := range keys {
		if errs[i] != nil || found[i] != want[i] {
			t.Errorf("lookup %d = %t, %v; want %t", i, found[i], errs[i], want[i])
		}
	}
	if a, b := counting.calls["A"], counting.calls["B"]; len(a) != 1 || a[0] != 3 || len(b) != 1 || b[0] != 2 {
		t.Errorf("store reads: A %v, B %v (keys per read); want one of 3 and one of 2", a, b)
	}
}

// gatedStore holds every AppendMessages until open is closed, telling
// entered (once) when one arrives.
type gatedStore struct {
	store.Store
	entered chan struct{}
	open    chan struct{}
	opened  sync.Once
}

func newGatedStore() *gatedStore {
	return &gatedStore{entered: make(chan struct{}, 1), open: make(chan struct{})}
}

// release opens the gate; it may be called more than once. newServiceOn
// calls it before the service stops: a held commit runs without a context
// that ends, so Run would otherwise wait for it forever after a test
// failed before opening the gate.
func (g *gatedStore) release() { g.opened.Do(func() { close(g.open) }) }

type gatedApp struct {
	store.AppStore
	g *gatedStore
}

func (g *gatedStore) App(appID string) store.AppStore { return gatedApp{g.Store.App(appID), g} }

func (a gatedApp) AppendMessages(ctx context.Context, ds []store.Draft) ([]store.Appended, error) {
	select {
	case a.g.entered <- struct{}{}:
	default:
	}
	select {
	case <-a.g.open:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return a.AppStore.AppendMessages(ctx, ds)
}

// TestHookAdmission: while the commit queue is full, a message headed for
// the hook is refused at once with ErrOverloaded (its connection goes back
// to it) and the hook is not asked; once there is room it is taken.
func TestHookAdmission(t *testing.T) {
	pol := newPolicy(true)
	g := newGatedStore()
	s, _, _, _ := newServiceOn(t, messaging.Config{Moderator: moderator{pol}, MaxQueue: 2},
		func(st store.Store) store.Store { g.Store = st; return g }, "alice", "bob")
	ctx := context.Background()
	unhooked := func(id string) *messaging.Pending { // app B has no policy
		req := text("alice", "bob", id, "hi")
		req.AppID = "B"
		p, err := s.Submit(ctx, req)
		if err != nil {
			t.Fatalf("Submit(B %s) = %v", id, err)
		}
		return p
	}
	fill := []*messaging.Pending{unhooked("b0")}
	recv(t, g.entered, "b0's commit") // b0 is in the commit, held: the queue is empty
	fill = append(fill, unhooked("b1"), unhooked("b2"))
	if _, err := s.Submit(ctx, text("alice", "bob", "m1", "hook-allow")); !errors.Is(err, messaging.ErrOverloaded) {
		t.Fatalf("Submit(m1) with the commit queue full = %v, want ErrOverloaded", err)
	}
	if calls := pol.hookCalls(); len(calls) != 0 {
		t.Fatalf("the hook was asked about %q", calls)
	}
	g.release()
	for i, p := range fill {
		if _, err := p.Wait(ctx); err != nil {
			t.Fatalf("b%d: %v", i, err)
		}
	}
	a, err := s.Send(ctx, text("alice", "bob", "m1", "hook-allow")) // the go-back: sent again
	if err != nil || a.Seq != 1 {
		t.Fatalf("m1 sent again = %+v, %v", a, err)
	}
	if calls := pol.hookCalls(); len(calls) != 1 {
		t.Errorf("the hook was asked about %q, want m1 once", calls)
	}
}
