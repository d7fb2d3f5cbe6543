package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/store/sqlite"
)

// router records what the service pushes. online lists the users with a
// device online (one device each, session "<user>-dev").
type router struct {
	mu       sync.Mutex
	online   map[string]bool
	msgs     []string // "user:conv:seq"
	receipts []string // "user:kind:conv:seq:by"
	svc      *messaging.Service
}

func (r *router) Deliver(ds []messaging.Delivery) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]int, len(ds))
	for i, d := range ds {
		if !r.online[d.UserID] || d.Except == d.UserID+"-dev" {
			continue
		}
		r.msgs = append(r.msgs, fmt.Sprintf("%s:%s:%d", d.UserID, d.Msg.ConvID, d.Msg.Seq))
		out[i] = 1
	}
	return out
}

func (r *router) PushReceipt(appID, userID, except string, rc messaging.Receipt) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.online[userID] || except == userID+"-dev" {
		return 0
	}
	r.receipts = append(r.receipts, fmt.Sprintf("%s:%d:%s:%d:%s", userID, rc.Kind, rc.ConvID, rc.Seq, rc.UserID))
	return 1
}

// take returns what was pushed since the last take, once the fan-out stage
// has delivered everything committed so far.
func (r *router) take() (msgs, receipts []string) {
	if r.svc != nil {
		r.svc.SyncFanOut()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	msgs, receipts = r.msgs, r.receipts
	r.msgs, r.receipts = nil, nil
	return msgs, receipts
}

type offline struct {
	mu    sync.Mutex
	users []string
	calls chan struct{} // one per call
	block chan struct{} // if set, calls wait for it to close (or ctx)
}

func (o *offline) Offline(ctx context.Context, appID, userID string, m store.Message) error {
	if o.block != nil {
		select {
		case <-o.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	o.mu.Lock()
	o.users = append(o.users, userID)
	o.mu.Unlock()
	select {
	case o.calls <- struct{}{}:
	default: // nobody counts (a benchmark): never block the service's shutdown
	}
	return nil
}

// wait waits for n notifications (they are handed over asynchronously)
// and returns the users notified so far.
func (o *offline) wait(t testing.TB, n int) []string {
	t.Helper()
	for i := range n {
		select {
		case <-o.calls:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d offline notifications within 10 s, want %d", i, n)
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.users)
}

func newService(t testing.TB, online ...string) (*messaging.Service, *router, *offline, store.Store) {
	t.Helper()
	return newServiceWith(t, messaging.Config{}, online...)
}

func newServiceWith(t testing.TB, cfg messaging.Config, online ...string) (*messaging.Service, *router, *offline, store.Store) {
	t.Helper()
	return newServiceOn(t, cfg, nil, online...)
}

// newServiceOn is newServiceWith on the store that wrap (if not nil) makes
// of the test's.
func newServiceOn(t testing.TB, cfg messaging.Config, wrap func(store.Store) store.Store, online ...string) (*messaging.Service, *router, *offline, store.Store) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, app := range []string{"A", "B"} {
		for _, u := range []string{"alice", "bob", "carol"} {
			if err := st.App(app).CreateUser(ctx, store.User{ID: u, CreatedAt: time.UnixMilli(1)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	r := &router{online: map[string]bool{}}
	for _, u := range online {
		r.online[u] = true
	}
	off := &offline{calls: make(chan struct{}, 1024)}
	cfg.Offline = off
	var used store.Store = st
	if wrap != nil {
		used = wrap(st)
	}
	s := messaging.New(used, r, cfg)
	r.svc = s
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	// Registered after Run's cleanup, so run before it: what a test holds
	// (a commit at a gate, a hook call) goes on, and Run can return.
	if g, ok := used.(interface{ release() }); ok {
		t.Cleanup(g.release)
	}
	if m, ok := cfg.Moderator.(interface{ stop() }); ok {
		t.Cleanup(m.stop)
	}
	return s, r, off, st
}

func text(from, to, id, content string) messaging.SendRequest {
	return messaging.SendRequest{AppID: "A", SenderID: from, Session: from + "-dev", ToUserID: to,
		ClientMsgID: id, Type: "text", Content: content, MaxBytes: 1024}
}

func TestSendFansOutAndDedups(t *testing.T) {
	s, r, off, _ := newService(t, "alice", "bob")
	ctx := context.Background()
	a, err := s.Send(ctx, text("alice", "bob", "c1", "hi"))
	if err != nil || a.ConvID != "p:alice:bob" || a.Seq != 1 || a.Duplicate {
		t.Fatalf("Send = %+v, %v", a, err)
	}
	msgs, receipts := r.take()
	// bob's device gets it; alice's only device is the sender's session.
	if fmt.Sprint(msgs) != "[bob:p:alice:bob:1]" || len(receipts) != 0 {
		t.Fatalf("pushes = %v %v", msgs, receipts)
	}
	again, err := s.Send(ctx, text("alice", "bob", "c1", "hi"))
	if err != nil || !again.Duplicate || again.Seq != 1 {
		t.Fatalf("resend = %+v, %v", again, err)
	}
	if msgs, _ := r.take(); len(msgs) != 0 {
		t.Fatalf("a duplicate was fanned out again: %v", msgs)
	}
	b, _ := s.Send(ctx, text("bob", "alice", "c1", "same client id, other sender"))
	if b.Seq != 2 || b.Duplicate {
		t.Fatalf("bob's c1 = %+v, want seq 2", b)
	}
	r.take() // waits for the fan-out stage
	if len(off.users) != 0 {
		t.Fatalf("offline notices for online users: %v", off.users)
	}
}

func TestSendToOfflineUser(t *testing.T) {
	s, r, off, _ := newService(t, "alice")
	if _, err := s.Send(context.Background(), text("alice", "carol", "c1", "are you there?")); err != nil {
		t.Fatal(err)
	}
	_, receipts := r.take()
	// STORED (kind 2) goes to the sender's devices, the sending one included.
	if fmt.Sprint(receipts) != "[alice:2:p:alice:carol:1:carol]" {
		t.Fatalf("receipts = %v", receipts)
	}
	if users := off.wait(t, 1); fmt.Sprint(users) != "[carol]" {
		t.Fatalf("offline notices = %v", users)
	}
}

// TestStuckNotifierDoesNotHoldUpDelivery: when the offline notifier
// hangs (the bus is down), sends to offline users are still acknowledged
// with STORED, notifications beyond the queue are dropped, and online
// users still get their messages.
func TestStuckNotifierDoesNotHoldUpDelivery(t *testing.T) {
	s, r, off, _ := newServiceWith(t, messaging.Config{OfflineQueue: 2, OfflineWorkers: 1}, "alice", "bob")
	off.block = make(chan struct{})
	ctx := context.Background()
	for i := range 6 {
		if _, err := s.Send(ctx, text("alice", "carol", fmt.Sprint("c", i), "stored")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Send(ctx, text("alice", "bob", "b1", "live")); err != nil {
		t.Fatal(err)
	}
	msgs, receipts := r.take()
	if !slices.Contains(msgs, "bob:p:alice:bob:1") || len(receipts) != 6 {
		t.Fatalf("with the notifier stuck: deliveries %v, receipts %v; want bob's message and 6 STORED", msgs, receipts)
	}
	close(off.block)
	// One notification was in the notifier, two queued, three dropped.
	if users := off.wait(t, 3); len(users) != 3 {
		t.Fatalf("notified %v, want 3", users)
	}
}

func TestReceipts(t *testing.T) {
	s, r, _, _ := newService(t, "alice", "bob")
	ctx := context.Background()
	for i := range 3 {
		if _, err := s.Send(ctx, text("alice", "bob", fmt.Sprint("c", i), "m")); err != nil {
			t.Fatal(err)
		}
	}
	r.take()
	conv := "p:alice:bob"
	if err := s.AckDelivered(ctx, "A", "bob", "phone", []messaging.Cursor{{ConvID: conv, Seq: 2}}); err != nil {
		t.Fatal(err)
	}
	// A second device acking less does not move the user's cursor.
	if err := s.AckDelivered(ctx, "A", "bob", "laptop", []messaging.Cursor{{ConvID: conv, Seq: 1}}); err != nil {
		t.Fatal(err)
	}
	_, receipts := r.take()
	if fmt.Sprint(receipts) != "[alice:1:p:alice:bob:2:bob]" {
		t.Fatalf("delivered receipts = %v", receipts)
	}
	if err := s.MarkRead(ctx, "A", "bob", "bob-dev", conv, 3); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkRead(ctx, "A", "bob", "bob-dev", conv, 2); err != nil {
		t.Fatal(err) // backwards: ignored
	}
	_, receipts = r.take()
	if fmt.Sprint(receipts) != "[alice:3:p:alice:bob:3:bob]" {
		t.Fatalf("read receipts = %v", receipts)
	}
	convs, next, err := s.Conversations(ctx, "A", "alice", "", "", 10)
	if err != nil || next != "" || len(convs) != 1 {
		t.Fatalf("Conversations = %+v, %q, %v", convs, next, err)
	}
	c := convs[0]
	if c.MaxSeq != 3 || c.PeerReadSeq != 3 || c.PeerDeliveredSeq != 2 || c.Last == nil || c.Last.Seq != 3 {
		t.Fatalf("alice's view = %+v", c)
	}
}

func TestDeliveredReceiptOnlyForOthersMessages(t *testing.T) {
	s, r, _, _ := newService(t, "alice", "bob")
	ctx := context.Background()
	conv := "p:alice:bob"
	send := func(from, to, id string) {
		t.Helper()
		if _, err := s.Send(ctx, text(from, to, id, "m")); err != nil {
			t.Fatal(err)
		}
	}
	ack := func(seq int64) []string {
		t.Helper()
		if err := s.AckDelivered(ctx, "A", "bob", "phone", []messaging.Cursor{{ConvID: conv, Seq: seq}}); err != nil {
			t.Fatal(err)
		}
		_, receipts := r.take()
		return receipts
	}
	send("bob", "alice", "b1")
	send("bob", "alice", "b2")
	r.take()
	if got := ack(2); len(got) != 0 {
		t.Errorf("receipts for bob's ack over his own messages = %v, want none", got)
	}
	send("alice", "bob", "a3")
	send("bob", "alice", "b4")
	r.take()
	if got := fmt.Sprint(ack(4)); got != "[alice:1:p:alice:bob:4:bob]" {
		t.Errorf("receipts for bob's ack over alice's 3 and his 4 = %v, want DELIVERED 4 to alice", got)
	}
}

func TestSendValidation(t *testing.T) {
	s, _, _, st := newService(t)
	ctx := context.Background()
	tests := []struct {
		name string
		mod  func(*messaging.SendRequest)
		code string
	}{
		{"empty client id", func(r *messaging.SendRequest) { r.ClientMsgID = "" }, "invalid_argument"},
		{"bad recipient id", func(r *messaging.SendRequest) { r.ToUserID = "x y" }, "invalid_argument"},
		{"unknown recipient", func(r *messaging.SendRequest) { r.ToUserID = "dave" }, "user_not_found"},
		{"recipient of another app", func(r *messaging.SendRequest) { r.AppID = "C" }, "user_not_found"},
		{"unknown type", func(r *messaging.SendRequest) { r.Type = "sticker" }, "invalid_message"},
		{"empty content", func(r *messaging.SendRequest) { r.Content = "" }, "invalid_message"},
		{"too large", func(r *messaging.SendRequest) { r.Content = string(make([]byte, 1025)) }, "message_too_large"},
		{"invalid UTF-8", func(r *messaging.SendRequest) { r.Content = "\xff" }, "invalid_message"},
		{"custom not JSON", func(r *messaging.SendRequest) { r.Type, r.Content = "custom", "{" }, "invalid_message"},
	}
	for _, tt := range tests {
		req := text("alice", "bob", "c1", "hello")
		tt.mod(&req)
		_, err := s.Send(ctx, req)
		var me *messaging.Error
		if !errors.As(err, &me) || me.Code != tt.code {
			t.Errorf("%s: Send = %v, want %s", tt.name, err, tt.code)
		}
	}
	if _, err := st.App("A").GetConversation(ctx, "p:alice:bob"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a rejected send created the conversation: %v", err)
	}
	for _, tt := range []struct {
		cur  messaging.Cursor
		code string
	}{
		{messaging.Cursor{ConvID: "p:bob:carol", Seq: 1}, "forbidden"},
		{messaging.Cursor{ConvID: "junk", Seq: 1}, "forbidden"},
		{messaging.Cursor{ConvID: "p:alice:bob", Seq: 0}, "invalid_argument"},
		{messaging.Cursor{ConvID: "p:alice:bob", Seq: -1}, "invalid_argument"},
		{messaging.Cursor{ConvID: "p:bob:carol", Seq: -1}, "invalid_argument"},
	} {
		err := s.AckDelivered(ctx, "A", "alice", "d", []messaging.Cursor{tt.cur})
		var me *messaging.Error
		if !errors.As(err, &me) || me.Code != tt.code {
			t.Errorf("AckDelivered(%v) = %v, want %s", tt.cur, err, tt.code)
		}
		err = s.MarkRead(ctx, "A", "alice", "d", tt.cur.ConvID, tt.cur.Seq)
		if !errors.As(err, &me) || me.Code != tt.code {
			t.Errorf("MarkRead(%v) = %v, want %s", tt.cur, err, tt.code)
		}
	}
}

func TestSystemMessageAndRecall(t *testing.T) {
	s, r, _, _ := newService(t, "alice", "bob")
	ctx := context.Background()
	a, err := s.Send(ctx, messaging.SendRequest{AppID: "A", ToUserID: "bob", System: true, ClientMsgID: "sys1",
		Type: "custom", Content: `{"notice":"welcome"}`})
	if err != nil || a.ConvID != "s:bob" || a.SenderID != "" {
		t.Fatalf("system send = %+v, %v", a, err)
	}
	if msgs, receipts := r.take(); fmt.Sprint(msgs) != "[bob:s:bob:1]" || len(receipts) != 0 {
		t.Fatalf("system pushes = %v %v", msgs, receipts)
	}
	m, _ := s.Send(ctx, text("alice", "bob", "c1", "oops"))
	r.take()
	rec, err := s.Recall(ctx, "A", m.ConvID, m.Seq)
	if err != nil || rec.RecalledAt.IsZero() || len(rec.Body) != 0 {
		t.Fatalf("Recall = %+v, %v", rec, err)
	}
	if msgs, _ := r.take(); fmt.Sprint(msgs) != "[alice:p:alice:bob:1 bob:p:alice:bob:1]" {
		t.Fatalf("recall pushes = %v", msgs)
	}
	if _, err := s.Recall(ctx, "B", m.ConvID, m.Seq); err == nil {
		t.Fatal("app B recalled app A's message")
	}
}

func TestConcurrentSendsKeepOrderPerConversation(t *testing.T) {
	s, _, _, st := newService(t)
	ctx := context.Background()
	const senders, each = 8, 25
	var wg sync.WaitGroup
	for i := range senders {
		wg.Go(func() {
			from := []string{"alice", "bob", "carol"}[i%3]
			to := []string{"bob", "carol", "alice"}[i%3]
			for j := range each {
				if _, err := s.Send(ctx, text(from, to, fmt.Sprintf("s%d-%d", i, j), "x")); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	total := 0
	for _, conv := range []string{"p:alice:bob", "p:bob:carol", "p:alice:carol"} {
		msgs, err := st.App("A").ListMessages(ctx, conv, store.Range{From: 1, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range msgs {
			if m.Seq != int64(i+1) {
				t.Fatalf("%s: message %d has seq %d", conv, i, m.Seq)
			}
		}
		total += len(msgs)
	}
	if total != senders*each {
		t.Fatalf("stored %d messages, want %d", total, senders*each)
	}
}

func TestHistoryPagesByBytes(t *testing.T) {
	s, _, _, _ := newService(t)
	ctx := context.Background()
	big := strings.Repeat("x", 600<<10)
	for i := range 3 {
		req := text("alice", "bob", fmt.Sprint("big", i), big)
		req.MaxBytes = 1 << 20
		if _, err := s.Send(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	msgs, more, err := s.History(ctx, "A", messaging.MessageQuery{ConvID: "p:alice:bob", From: 1, Limit: 200})
	if err != nil || len(msgs) != 1 || !more {
		t.Fatalf("History over 1 MiB = %d messages, more %v, %v; want 1, true", len(msgs), more, err)
	}
	msgs, more, err = s.History(ctx, "A", messaging.MessageQuery{ConvID: "p:alice:bob", From: 3, Limit: 200})
	if err != nil || len(msgs) != 1 || more {
		t.Fatalf("last page = %d messages, more %v, %v; want 1, false", len(msgs), more, err)
	}
}

// TestUnacknowledgedPushCountsAsStored covers a recipient whose connection
// died silently: it looks online, takes the push, never acknowledges it.
func TestUnacknowledgedPushCountsAsStored(t *testing.T) {
	s, r, off, _ := newServiceWith(t, messaging.Config{DeliveryTimeout: 20 * time.Millisecond}, "alice", "bob")
	if _, err := s.Send(context.Background(), text("alice", "bob", "c1", "anyone there?")); err != nil {
		t.Fatal(err)
	}
	var receipts []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		_, rs := r.take()
		if receipts = append(receipts, rs...); len(receipts) > 0 {
			break
		}
	}
	if fmt.Sprint(receipts) != "[alice:2:p:alice:bob:1:bob]" {
		t.Fatalf("receipts after the delivery timeout = %v, want STORED for bob", receipts)
	}
	if users := off.wait(t, 1); fmt.Sprint(users) != "[bob]" {
		t.Fatalf("offline notices = %v, want [bob]", users)
	}
}

func TestAcknowledgedPushIsNotWatched(t *testing.T) {
	s, r, _, _ := newServiceWith(t, messaging.Config{DeliveryTimeout: time.Hour}, "alice", "bob")
	ctx := context.Background()
	for i := range 3 {
		if _, err := s.Send(ctx, text("alice", "bob", fmt.Sprint("c", i), "hi")); err != nil {
			t.Fatal(err)
		}
	}
	s.SyncFanOut() // the pushes are watched once the fan-out stage made them
	if n := s.Watched(); n != 1 {
		t.Fatalf("watched = %d, want 1 (one per conversation and recipient)", n)
	}
	if err := s.AckDelivered(ctx, "A", "bob", "phone", []messaging.Cursor{{ConvID: "p:alice:bob", Seq: 2}}); err != nil {
		t.Fatal(err)
	}
	if n := s.Watched(); n != 1 {
		t.Fatalf("watched after a partial ack = %d, want 1", n)
	}
	if err := s.AckDelivered(ctx, "A", "bob", "phone", []messaging.Cursor{{ConvID: "p:alice:bob", Seq: 3}}); err != nil {
		t.Fatal(err)
	}
	if n := s.Watched(); n != 0 {
		t.Fatalf("watched after the full ack = %d, want 0", n)
	}
	if _, rs := r.take(); fmt.Sprint(rs) != "[alice:1:p:alice:bob:2:bob alice:1:p:alice:bob:3:bob]" {
		t.Fatalf("receipts = %v, want DELIVERED 2 then 3", rs)
	}
}

// slowRouter blocks every Deliver until release is closed, as a presence
// lookup or a relay to another node might.
type slowRouter struct {
	router
	release chan struct{}
}

func (r *slowRouter) Deliver(ds []messaging.Delivery) []int {
	<-r.release
	return r.router.Deliver(ds)
}

// TestSlowRouterDoesNotHoldUpCommits: the committer hands committed
// batches to the fan-out stage and goes on, so sends are acknowledged
// (durable) while deliveries wait; the deliveries then arrive in commit
// order.
func TestSlowRouterDoesNotHoldUpCommits(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, u := range []string{"alice", "bob"} {
		if err := st.App("A").CreateUser(ctx, store.User{ID: u, CreatedAt: time.UnixMilli(1)}); err != nil {
			t.Fatal(err)
		}
	}
	r := &slowRouter{router: router{online: map[string]bool{"bob": true}}, release: make(chan struct{})}
	s := messaging.New(st, r, messaging.Config{})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	var released sync.Once
	release := func() { released.Do(func() { close(r.release) }) }
	// Before Run's cleanup (registered later, run first): if a send fails,
	// Run must not wait forever for the fan-out held in Deliver.
	t.Cleanup(release)

	for i := range 5 {
		sendCtx, stop := context.WithTimeout(ctx, 10*time.Second)
		m, err := s.Send(sendCtx, text("alice", "bob", fmt.Sprint("c", i), "hi"))
		stop()
		if err != nil || m.Seq != int64(i+1) {
			t.Fatalf("send %d while deliveries wait = %+v, %v", i, m, err)
		}
	}
	release()
	r.svc = s
	msgs, _ := r.take()
	want := "[bob:p:alice:bob:1 bob:p:alice:bob:2 bob:p:alice:bob:3 bob:p:alice:bob:4 bob:p:alice:bob:5]"
	if fmt.Sprint(msgs) != want {
		t.Fatalf("delivered = %v, want %s", msgs, want)
	}
}

// usageCounter records what the service counts for the usage report.
type usageCounter struct {
	mu       sync.Mutex
	messages map[string]int
	active   map[string]bool
}

func (u *usageCounter) MessagesStored(app string, n int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.messages[app] += n
}

func (u *usageCounter) UserActive(app, user string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.active[app+"/"+user] = true
}

// TestUsageCounted: stored messages and their senders are counted per app
// by the time the send is acknowledged; duplicates are not.
func TestUsageCounted(t *testing.T) {
	u := &usageCounter{messages: map[string]int{}, active: map[string]bool{}}
	s, _, _, _ := newServiceWith(t, messaging.Config{Usage: u}, "alice", "bob")
	ctx := context.Background()
	for _, req := range []messaging.SendRequest{
		text("alice", "bob", "c1", "one"),
		text("alice", "bob", "c1", "one again"), // a duplicate
		text("bob", "alice", "c2", "two"),
	} {
		if _, err := s.Send(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	b := text("carol", "alice", "c3", "three")
	b.AppID = "B"
	if _, err := s.Send(ctx, b); err != nil {
		t.Fatal(err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.messages["A"] != 2 || u.messages["B"] != 1 {
		t.Errorf("messages counted = %v, want A:2 B:1", u.messages)
	}
	if len(u.active) != 3 || !u.active["A/alice"] || !u.active["A/bob"] || !u.active["B/carol"] {
		t.Errorf("active users = %v, want A/alice, A/bob, B/carol", u.active)
	}
}

// TestSubmitWaitsWhileTheStoreIsBusy: while the store reports Busy, Submit
// refuses a send with ErrOverloaded before anything is queued (the sender
// goes back to it), with or without a moderator, and stores nothing; once
// the store is no longer busy the send goes through.
func TestSubmitWaitsWhileTheStoreIsBusy(t *testing.T) {
	var busy atomic.Bool
	busy.Store(true)
	pol := newPolicy(true)
	s, _, _, st := newServiceWith(t, messaging.Config{Busy: busy.Load, Moderator: moderator{pol}}, "alice", "bob")
	ctx := context.Background()
	for _, req := range []messaging.SendRequest{text("alice", "bob", "m1", "hi"), text("alice", "bob", "m2", "hook-allow")} {
		if _, err := s.Submit(ctx, req); !errors.Is(err, messaging.ErrOverloaded) {
			t.Fatalf("Submit(%s) while busy = %v; want ErrOverloaded", req.ClientMsgID, err)
		}
		if _, err := s.Send(ctx, req); !errors.Is(err, messaging.ErrOverloaded) {
			t.Fatalf("Send(%s) while busy = %v; want ErrOverloaded", req.ClientMsgID, err)
		}
	}
	if calls := pol.hookCalls(); len(calls) != 0 {
		t.Fatalf("the hook was asked about %q while busy", calls)
	}
	if msgs, err := st.App("A").ListMessages(ctx, "p:alice:bob", store.Range{From: 1, Limit: 10}); err != nil || len(msgs) != 0 {
		t.Fatalf("stored while busy: %v, %v", msgs, err)
	}
	busy.Store(false)
	for i, req := range []messaging.SendRequest{text("alice", "bob", "m1", "hi"), text("alice", "bob", "m2", "hook-allow")} {
		a, err := s.Send(ctx, req)
		if err != nil || a.Seq != int64(i+1) || a.Duplicate {
			t.Fatalf("Send(%s) once not busy = %+v, %v; want seq %d", req.ClientMsgID, a, err, i+1)
		}
	}
}
