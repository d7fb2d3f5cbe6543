package contacts_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magpie-im/magpie/contacts"
	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/store/sqlite"
)

// nobody is a router with no online device.
type nobody struct{}

func (nobody) Deliver(ds []messaging.Delivery) []int                     { return make([]int, len(ds)) }
func (nobody) PushReceipt(string, string, string, messaging.Receipt) int { return 0 }

// notices records the notices the service posts, and posts them.
type notices struct {
	next contacts.Sender
	mu   sync.Mutex
	got  []string // "app/to: event by user"
}

func (n *notices) Send(ctx context.Context, req messaging.SendRequest) (store.Appended, error) {
	var c contacts.Notice
	_ = json.Unmarshal([]byte(req.Content), &c)
	n.mu.Lock()
	n.got = append(n.got, fmt.Sprintf("%s/%s: %s by %s", req.AppID, req.ToUserID, c.Event, c.UserID))
	n.mu.Unlock()
	return n.next.Send(ctx, req)
}

func (n *notices) take() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := n.got
	n.got = nil
	return out
}

// changes records ContactsChanged events and applies them.
type changes struct {
	svc atomic.Pointer[contacts.Service]
	mu  sync.Mutex
	got []string
}

func (c *changes) ContactsChanged(_ context.Context, app, user string) error {
	c.mu.Lock()
	c.got = append(c.got, app+"/"+user)
	c.mu.Unlock()
	c.svc.Load().Forget(app, user)
	return nil
}

type env struct {
	svc         *contacts.Service
	msgs        *messaging.Service
	st          store.Store
	notes       *notices
	ev          *changes
	onlyFriends atomic.Bool
}

func newEnv(t *testing.T, maxFriends int) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, app := range []string{"A", "B"} {
		for _, u := range []string{"alice", "bob", "carol", "dave"} {
			if err := st.App(app).CreateUser(ctx, store.User{ID: u, CreatedAt: time.UnixMilli(1)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := st.App("B").CreateUser(ctx, store.User{ID: "zed", CreatedAt: time.UnixMilli(1)}); err != nil {
		t.Fatal(err)
	}
	e := &env{st: st, ev: &changes{}}
	e.msgs = messaging.New(st, nobody{}, messaging.Config{})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = e.msgs.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	e.notes = &notices{next: e.msgs}
	e.svc = contacts.New(st, e.notes, contacts.Config{
		MaxFriends: func(context.Context, string) (int, error) { return maxFriends, nil },
		Settings: func(context.Context, string) (store.Settings, error) {
			return store.Settings{OnlyFriendsMessage: e.onlyFriends.Load()}, nil
		},
		Events: e.ev,
	})
	e.ev.svc.Store(e.svc)
	e.msgs.SetContactGate(e.svc)
	return e
}

func code(err error) string {
	var ce *contacts.Error
	if errors.As(err, &ce) {
		return ce.Code
	}
	var me *messaging.Error
	if errors.As(err, &me) {
		return me.Code
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return ""
}

func wantCode(t *testing.T, err error, want, what string) {
	t.Helper()
	if got := code(err); got != want {
		t.Errorf("%s: code %q (%v), want %q", what, got, err, want)
	}
}

func (e *env) send(from, to string) error {
	_, err := e.msgs.Send(context.Background(), messaging.SendRequest{AppID: "A", SenderID: from, ToUserID: to,
		ClientMsgID: fmt.Sprintf("m%d", time.Now().UnixNano()), Type: "text", Content: "hi"})
	return err
}

func friendIDs(fs []store.Friend) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.FriendID)
	}
	return out
}

func TestRequestAcceptFlow(t *testing.T) {
	e, ctx := newEnv(t, 0), context.Background()
	out, err := e.svc.SendRequest(ctx, "A", "alice", "bob", "hello")
	if err != nil || out != contacts.Requested {
		t.Fatalf("SendRequest = %q, %v", out, err)
	}
	// Sending again replaces it.
	if _, err := e.svc.SendRequest(ctx, "A", "alice", "bob", "hello again"); err != nil {
		t.Fatal(err)
	}
	in, next, err := e.svc.Requests(ctx, "A", "bob", true, "", 10)
	if err != nil || len(in) != 1 || in[0].FromID != "alice" || in[0].Message != "hello again" || next != "" {
		t.Fatalf("Requests(bob incoming) = %+v, %q, %v", in, next, err)
	}
	if out, _, err := e.svc.Requests(ctx, "A", "alice", false, "", 10); err != nil || len(out) != 1 || out[0].ToID != "bob" {
		t.Fatalf("Requests(alice outgoing) = %+v, %v", out, err)
	}
	if got := e.notes.take(); !slices.Equal(got, []string{"A/bob: friend.requested by alice", "A/bob: friend.requested by alice"}) {
		t.Errorf("notices = %q", got)
	}
	wantCode(t, e.svc.Accept(ctx, "A", "alice", "bob"), contacts.CodeNotFound, "Accept by the sender")
	if err := e.svc.Accept(ctx, "A", "bob", "alice"); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob"} {
		fs, _, err := e.svc.Friends(ctx, "A", u, "", 10)
		if err != nil || len(fs) != 1 {
			t.Errorf("Friends(%s) = %+v, %v", u, fs, err)
		}
	}
	if got := e.notes.take(); !slices.Equal(got, []string{"A/alice: friend.accepted by bob"}) {
		t.Errorf("notices = %q", got)
	}
	if in, _, _ := e.svc.Requests(ctx, "A", "bob", true, "", 10); len(in) != 0 {
		t.Errorf("request left after accepting: %+v", in)
	}
	// Already friends.
	if out, err := e.svc.SendRequest(ctx, "A", "bob", "alice", ""); err != nil || out != contacts.Befriended {
		t.Errorf("SendRequest between friends = %q, %v", out, err)
	}
}

func TestMutualRequestBefriends(t *testing.T) {
	e, ctx := newEnv(t, 0), context.Background()
	if _, err := e.svc.SendRequest(ctx, "A", "alice", "bob", ""); err != nil {
		t.Fatal(err)
	}
	out, err := e.svc.SendRequest(ctx, "A", "bob", "alice", "")
	if err != nil || out != contacts.Befriended {
		t.Fatalf("crossing SendRequest = %q, %v, want friends", out, err)
	}
	if _, err := e.svc.Friend(ctx, "A", "alice", "bob"); err != nil {
		t.Errorf("Friend(alice, bob): %v", err)
	}
	if got := e.notes.take(); !slices.Contains(got, "A/alice: friend.accepted by bob") {
		t.Errorf("notices = %q", got)
	}
}

func TestDeclineCancel(t *testing.T) {
	e, ctx := newEnv(t, 0), context.Background()
	for _, to := range []string{"bob", "carol"} {
		if _, err := e.svc.SendRequest(ctx, "A", "alice", to, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.svc.Decline(ctx, "A", "bob", "alice"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.svc.Decline(ctx, "A", "bob", "alice"), contacts.CodeNotFound, "Decline again")
	wantCode(t, e.svc.Cancel(ctx, "A", "carol", "alice"), contacts.CodeNotFound, "Cancel by the recipient")
	if err := e.svc.Cancel(ctx, "A", "alice", "carol"); err != nil {
		t.Fatal(err)
	}
	if out, _, err := e.svc.Requests(ctx, "A", "alice", false, "", 10); err != nil || len(out) != 0 {
		t.Errorf("Requests after decline and cancel = %+v, %v", out, err)
	}
	wantCode(t, e.svc.Accept(ctx, "A", "bob", "alice"), contacts.CodeNotFound, "Accept a declined request")
}

func TestBadInput(t *testing.T) {
	e, ctx := newEnv(t, 0), context.Background()
	long := string(make([]byte, contacts.MaxMessageBytes+1))
	_, err := e.svc.SendRequest(ctx, "A", "alice", "bob", long)
	wantCode(t, err, contacts.CodeInvalidArgument, "long message")
	_, err = e.svc.SendRequest(ctx, "A", "alice", "alice", "")
	wantCode(t, err, contacts.CodeInvalidArgument, "request to oneself")
	_, err = e.svc.SendRequest(ctx, "A", "alice", "nobody", "")
	wantCode(t, err, contacts.CodeUserNotFound, "request to no user")
	_, err = e.svc.SendRequest(ctx, "A", "alice", "bad id!", "")
	wantCode(t, err, contacts.CodeUserNotFound, "request to a bad id")
	_, _, err = e.svc.Friends(ctx, "A", "alice", "", contacts.MaxPage+1)
	wantCode(t, err, contacts.CodeInvalidArgument, "page too large")
	_, err = e.svc.Block(ctx, "A", "alice", "alice")
	wantCode(t, err, contacts.CodeInvalidArgument, "block oneself")
	if _, err := e.svc.AddFriend(ctx, "A", "alice", "bob"); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.SetRemark(ctx, "A", "alice", "bob", string(make([]byte, contacts.MaxRemarkBytes+1)))
	wantCode(t, err, contacts.CodeInvalidArgument, "long remark")
	_, err = e.svc.SetRemark(ctx, "A", "alice", "carol", "x")
	wantCode(t, err, contacts.CodeNotFound, "remark of a non-friend")
	wantCode(t, e.svc.RemoveFriend(ctx, "A", "alice", "carol"), contacts.CodeNotFound, "remove a non-friend")
	wantCode(t, e.svc.Unblock(ctx, "A", "alice", "carol"), contacts.CodeNotFound, "unblock a non-blocked")
}

func TestRemarkAndRemove(t *testing.T) {
	e, ctx := newEnv(t, 0), context.Background()
	if _, err := e.svc.AddFriend(ctx, "A", "alice", "bob"); err != nil {
		t.Fatal(err)
	}
	f, err := e.svc.SetRemark(ctx, "A", "alice", "bob", "Bobby")
	if err != nil || f.Remark != "Bobby" {
		t.Fatalf("SetRemark = %+v, %v", f, err)
	}
	if f, err := e.svc.Friend(ctx, "A", "bob", "alice"); err != nil || f.Remark != "" {
		t.Errorf("bob's side = %+v, %v, want no remark", f, err)
	}
	e.notes.take()
	if err := e.svc.RemoveFriend(ctx, "A", "bob", "alice"); err != nil {
		t.Fatal(err)
	}
	if fs, _, err := e.svc.Friends(ctx, "A", "alice", "", 10); err != nil || len(fs) != 0 {
		t.Errorf("Friends(alice) after removal = %+v, %v", fs, err)
	}
	if got := e.notes.take(); !slices.Equal(got, []string{"A/alice: friend.removed by bob"}) {
		t.Errorf("notices = %q", got)
	}
}

func TestPaging(t *testing.T) {
	e, ctx := newEnv(t, 0), context.Background()
	for _, f := range []string{"bob", "carol", "dave"} {
		if _, err := e.svc.AddFriend(ctx, "A", "alice", f); err != nil {
			t.Fatal(err)
		}
	}
	var all []string
	after := ""
	for range 5 {
		fs, next, err := e.svc.Friends(ctx, "A", "alice", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, friendIDs(fs)...)
		if next == "" {
			break
		}
		after = next
	}
	if !slices.Equal(all, []string{"bob", "carol", "dave"}) {
		t.Errorf("paged friends = %q", all)
	}
}

func TestFriendLimit(t *testing.T) {
	e, ctx := newEnv(t, 2), context.Background()
	for _, f := range []string{"bob", "carol"} {
		if _, err := e.svc.AddFriend(ctx, "A", "alice", f); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.svc.AddFriend(ctx, "A", "alice", "dave")
	wantCode(t, err, contacts.CodeTooManyFriends, "third friend")
	if _, err := e.svc.SendRequest(ctx, "A", "dave", "alice", ""); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.svc.Accept(ctx, "A", "alice", "dave"), contacts.CodeTooManyFriends, "accept over the limit")
}

func TestBlocks(t *testing.T) {
	e, ctx := newEnv(t, 0), context.Background()
	if _, err := e.svc.SendRequest(ctx, "A", "bob", "alice", ""); err != nil {
		t.Fatal(err)
	}
	b, err := e.svc.Block(ctx, "A", "alice", "bob")
	if err != nil || b.TargetID != "bob" || b.UserID != "alice" {
		t.Fatalf("Block = %+v, %v", b, err)
	}
	_, err = e.svc.SendRequest(ctx, "A", "bob", "alice", "")
	wantCode(t, err, contacts.CodeForbidden, "request to a blocker")
	_, err = e.svc.SendRequest(ctx, "A", "alice", "bob", "")
	wantCode(t, err, contacts.CodeForbidden, "request to a blocked user")
	wantCode(t, e.svc.Accept(ctx, "A", "alice", "bob"), contacts.CodeForbidden, "accept from a blocked user")
	if _, err := e.svc.Block(ctx, "A", "alice", "carol"); err != nil {
		t.Fatal(err)
	}
	bs, next, err := e.svc.Blocks(ctx, "A", "alice", "", 1)
	if err != nil || len(bs) != 1 || bs[0].TargetID != "bob" || next != "bob" {
		t.Errorf("Blocks page 1 = %+v, %q, %v", bs, next, err)
	}
	if err := e.svc.Unblock(ctx, "A", "alice", "bob"); err != nil {
		t.Fatal(err)
	}
	if bs, _, _ := e.svc.Blocks(ctx, "A", "alice", "", 10); len(bs) != 1 || bs[0].TargetID != "carol" {
		t.Errorf("Blocks after unblock = %+v", bs)
	}
}

// Another app's user ids name nothing; an app's contacts are its own.
func TestOtherApp(t *testing.T) {
	e, ctx := newEnv(t, 0), context.Background()
	_, err := e.svc.SendRequest(ctx, "A", "alice", "zed", "")
	wantCode(t, err, contacts.CodeUserNotFound, "request to another app's user")
	_, err = e.svc.AddFriend(ctx, "A", "alice", "zed")
	wantCode(t, err, contacts.CodeUserNotFound, "befriend another app's user")
	_, err = e.svc.Block(ctx, "A", "zed", "alice")
	wantCode(t, err, contacts.CodeUserNotFound, "block by another app's user")
	if _, err := e.svc.AddFriend(ctx, "A", "alice", "bob"); err != nil {
		t.Fatal(err)
	}
	if fs, _, err := e.svc.Friends(ctx, "B", "alice", "", 10); err != nil || len(fs) != 0 {
		t.Errorf("B's alice's friends = %+v, %v, want none", fs, err)
	}
	wantCode(t, e.svc.RemoveFriend(ctx, "B", "alice", "bob"), contacts.CodeNotFound, "B removes A's friendship")
}

func TestGateBlocked(t *testing.T) {
	e, ctx := newEnv(t, 0), context.Background()
	if err := e.send("bob", "alice"); err != nil { // cached: allowed
		t.Fatal(err)
	}
	if _, err := e.svc.Block(ctx, "A", "alice", "bob"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.send("bob", "alice"), messaging.CodeBlocked, "blocked user's message")
	// Only blocked -> blocker is refused.
	if err := e.send("alice", "bob"); err != nil {
		t.Errorf("blocker's message: %v", err)
	}
	// Group and system messages are not affected.
	if _, err := e.msgs.Send(ctx, messaging.SendRequest{AppID: "A", ToUserID: "alice", System: true,
		ClientMsgID: "sys1", Type: "text", Content: "hi"}); err != nil {
		t.Errorf("system message to the blocker: %v", err)
	}
	// Unblocking takes effect at once on this node.
	if err := e.svc.Unblock(ctx, "A", "alice", "bob"); err != nil {
		t.Fatal(err)
	}
	if err := e.send("bob", "alice"); err != nil {
		t.Errorf("message after unblock: %v", err)
	}
	// The refused message was not stored.
	ms, err := e.st.App("A").ListMessages(ctx, messaging.P2PConvID("alice", "bob"), store.Range{From: 1, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 3 {
		t.Errorf("stored %d messages, want 3 (the refused one not stored)", len(ms))
	}
}

func TestGateOnlyFriends(t *testing.T) {
	e, ctx := newEnv(t, 0), context.Background()
	e.onlyFriends.Store(true)
	wantCode(t, e.send("alice", "bob"), messaging.CodeNotFriends, "message between strangers")
	if _, err := e.svc.SendRequest(ctx, "A", "alice", "bob", ""); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Accept(ctx, "A", "bob", "alice"); err != nil {
		t.Fatal(err)
	}
	// Befriending takes effect at once (the verdict was cached).
	if err := e.send("alice", "bob"); err != nil {
		t.Errorf("message between new friends: %v", err)
	}
	if err := e.svc.RemoveFriend(ctx, "A", "alice", "bob"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.send("bob", "alice"), messaging.CodeNotFriends, "message after unfriending")
	// Blocked wins over friends.
	if _, err := e.svc.AddFriend(ctx, "A", "alice", "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Block(ctx, "A", "bob", "alice"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.send("alice", "bob"), messaging.CodeBlocked, "blocked friend's message")
	// The app setting is cached until ForgetApp.
	e.onlyFriends.Store(false)
	wantCode(t, e.send("carol", "dave"), messaging.CodeNotFriends, "cached setting")
	e.svc.ForgetApp("A")
	if err := e.send("carol", "dave"); err != nil {
		t.Errorf("message after the setting was turned off: %v", err)
	}
}

func TestEventsReportBothUsers(t *testing.T) {
	e, ctx := newEnv(t, 0), context.Background()
	if _, err := e.svc.Block(ctx, "A", "alice", "bob"); err != nil {
		t.Fatal(err)
	}
	e.ev.mu.Lock()
	got := slices.Clone(e.ev.got)
	e.ev.mu.Unlock()
	if !slices.Equal(got, []string{"A/alice", "A/bob"}) {
		t.Errorf("ContactsChanged = %q", got)
	}
}
