package groups_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/magpie-im/magpie/groups"
	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/store/sqlite"
)

// nobody is a router with no online device.
type nobody struct{}

func (nobody) Deliver(ds []messaging.Delivery) []int                     { return make([]int, len(ds)) }
func (nobody) PushReceipt(string, string, string, messaging.Receipt) int { return 0 }

// changes records GroupChanged events.
type changes struct {
	mu  sync.Mutex
	got []string
}

func (c *changes) GroupChanged(_ context.Context, app, group string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, app+"/"+group)
	return nil
}

type env struct {
	svc  *groups.Service
	msgs *messaging.Service
	st   store.Store
	ev   *changes
}

func newEnv(t *testing.T, maxSize int) env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, app := range []string{"A", "B"} {
		for _, u := range []string{"owner", "admin", "bob", "carol", "dave", "erin"} {
			if err := st.App(app).CreateUser(ctx, store.User{ID: u, CreatedAt: time.UnixMilli(1)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	msgs := messaging.New(st, nobody{}, messaging.Config{})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = msgs.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	ev := &changes{}
	svc := groups.New(st, msgs, groups.Config{
		MaxGroupSize:  func(context.Context, string) (int, error) { return maxSize, nil },
		MaxReaderList: 4,
		Events:        ev,
	})
	return env{svc: svc, msgs: msgs, st: st, ev: ev}
}

// team creates group "team" in app A: owner, admin (an admin), bob and
// carol (members), with the given policy.
func (e env) team(t *testing.T, policy store.JoinPolicy) store.Group {
	t.Helper()
	ctx := context.Background()
	g, err := e.svc.Create(ctx, "A", groups.User("owner"), groups.Input{ID: "team", Name: "Team", Policy: policy,
		MemberIDs: []string{"admin", "bob", "carol"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetRole(ctx, "A", groups.User("owner"), "team", "admin", store.GroupRoleAdmin); err != nil {
		t.Fatal(err)
	}
	return g
}

func code(err error) string {
	var e *groups.Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return ""
}

func wantCode(t *testing.T, what string, err error, want string) {
	t.Helper()
	if got := code(err); got != want {
		t.Errorf("%s: error %v, want code %q", what, err, want)
	}
}

// notices returns the events of the notices posted into the group.
func (e env) notices(t *testing.T, app, group string) []string {
	t.Helper()
	ms, err := e.st.App(app).ListMessages(context.Background(), messaging.GroupConvID(group), store.Range{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		if m.Type != messaging.TypeNotice {
			continue
		}
		var n groups.Notice
		if err := json.Unmarshal(m.Body, &n); err != nil {
			t.Fatalf("notice %d: %v", m.Seq, err)
		}
		out = append(out, n.Event)
	}
	return out
}

func TestCreate(t *testing.T) {
	e := newEnv(t, 5)
	ctx := context.Background()
	g := e.team(t, store.JoinInvite)
	if g.OwnerID != "owner" || g.MemberCount != 4 || g.Policy != store.JoinInvite {
		t.Fatalf("created %+v", g)
	}
	ms, next, err := e.svc.Members(ctx, "A", groups.User("bob"), "team", "", 10)
	if err != nil || next != "" || len(ms) != 4 {
		t.Fatalf("Members = %+v, %q, %v", ms, next, err)
	}
	roles := map[string]store.GroupRole{}
	for _, m := range ms {
		roles[m.UserID] = m.Role
	}
	if roles["owner"] != store.GroupRoleOwner || roles["admin"] != store.GroupRoleAdmin || roles["bob"] != store.GroupRoleMember {
		t.Errorf("roles = %v", roles)
	}
	if got := e.notices(t, "A", "team"); !slices.Equal(got, []string{groups.NoticeCreated, groups.NoticeRole}) {
		t.Errorf("notices = %q", got)
	}
	// A generated id; the backend names the owner.
	g2, err := e.svc.Create(ctx, "A", groups.Backend, groups.Input{OwnerID: "dave", Name: "x"})
	if err != nil || len(g2.ID) != 24 || g2.OwnerID != "dave" {
		t.Errorf("backend Create = %+v, %v", g2, err)
	}

	for _, c := range []struct {
		name string
		in   groups.Input
		a    groups.Actor
		code string
	}{
		{"taken id", groups.Input{ID: "team"}, groups.User("bob"), groups.CodeGroupExists},
		{"bad id", groups.Input{ID: "a:b"}, groups.User("bob"), groups.CodeInvalidArgument},
		{"bad policy", groups.Input{Policy: "maybe"}, groups.User("bob"), groups.CodeInvalidArgument},
		{"bad avatar", groups.Input{AvatarURL: "javascript:alert(1)"}, groups.User("bob"), groups.CodeInvalidArgument},
		{"bad member id", groups.Input{MemberIDs: []string{"ok", "not ok"}}, groups.User("bob"), groups.CodeInvalidArgument},
		{"unknown member", groups.Input{MemberIDs: []string{"zed"}}, groups.User("bob"), groups.CodeUserNotFound},
		{"too many", groups.Input{MemberIDs: []string{"admin", "carol", "dave", "erin", "owner"}}, groups.User("bob"), groups.CodeGroupFull},
		{"backend without owner", groups.Input{}, groups.Backend, groups.CodeInvalidArgument},
	} {
		_, err := e.svc.Create(ctx, "A", c.a, c.in)
		wantCode(t, c.name, err, c.code)
	}
}

// TestPermissions: who may do what, per role.
func TestPermissions(t *testing.T) {
	e := newEnv(t, 10)
	ctx := context.Background()
	e.team(t, store.JoinInvite)
	name := "renamed"
	mute := true
	u := func(id string) groups.Actor { return groups.User(id) }

	// Members may not manage; strangers may not even read the members.
	_, err := e.svc.Update(ctx, "A", u("bob"), "team", groups.Update{Name: &name})
	wantCode(t, "member renames", err, groups.CodeForbidden)
	_, err = e.svc.AddMembers(ctx, "A", u("bob"), "team", []string{"dave"})
	wantCode(t, "member adds under invite", err, groups.CodeForbidden)
	_, err = e.svc.RemoveMembers(ctx, "A", u("bob"), "team", []string{"carol"})
	wantCode(t, "member kicks", err, groups.CodeForbidden)
	_, err = e.svc.Mute(ctx, "A", u("bob"), "team", "carol", time.Hour)
	wantCode(t, "member mutes", err, groups.CodeForbidden)
	_, err = e.svc.SetRole(ctx, "A", u("admin"), "team", "bob", store.GroupRoleAdmin)
	wantCode(t, "admin promotes", err, groups.CodeForbidden)
	_, err = e.svc.Transfer(ctx, "A", u("admin"), "team", "bob")
	wantCode(t, "admin transfers", err, groups.CodeForbidden)
	wantCode(t, "admin dismisses", e.svc.Dismiss(ctx, "A", u("admin"), "team"), groups.CodeForbidden)
	_, _, err = e.svc.Members(ctx, "A", u("dave"), "team", "", 10)
	wantCode(t, "stranger lists members", err, groups.CodeForbidden)
	_, err = e.svc.Join(ctx, "A", u("dave"), "team", "")
	wantCode(t, "stranger joins an invite-only group", err, groups.CodeForbidden)
	_, err = e.svc.RemoveMembers(ctx, "A", u("admin"), "team", []string{"owner"})
	wantCode(t, "admin kicks the owner", err, groups.CodeForbidden)
	wantCode(t, "owner leaves", e.svc.Leave(ctx, "A", u("owner"), "team"), groups.CodeForbidden)
	_, err = e.svc.Mute(ctx, "A", u("admin"), "team", "owner", time.Hour)
	wantCode(t, "admin mutes the owner", err, groups.CodeForbidden)

	// Admins manage members; a second admin is out of an admin's reach.
	if _, err := e.svc.Update(ctx, "A", u("admin"), "team", groups.Update{Name: &name, MuteAll: &mute}); err != nil {
		t.Fatalf("admin update: %v", err)
	}
	if _, err := e.svc.AddMembers(ctx, "A", u("admin"), "team", []string{"dave", "erin"}); err != nil {
		t.Fatalf("admin adds: %v", err)
	}
	if _, err := e.svc.SetRole(ctx, "A", u("owner"), "team", "dave", store.GroupRoleAdmin); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.RemoveMembers(ctx, "A", u("admin"), "team", []string{"dave"})
	wantCode(t, "admin kicks an admin", err, groups.CodeForbidden)
	_, err = e.svc.Mute(ctx, "A", u("admin"), "team", "dave", time.Hour)
	wantCode(t, "admin mutes an admin", err, groups.CodeForbidden)
	m, err := e.svc.Mute(ctx, "A", u("admin"), "team", "erin", time.Hour)
	if err != nil || m.MutedUntil.IsZero() {
		t.Fatalf("admin mutes a member: %+v, %v", m, err)
	}
	removed, err := e.svc.RemoveMembers(ctx, "A", u("admin"), "team", []string{"erin", "zed"})
	if err != nil || !slices.Equal(removed, []string{"erin"}) {
		t.Fatalf("admin kicks = %q, %v", removed, err)
	}
	if err := e.svc.Leave(ctx, "A", u("carol"), "team"); err != nil {
		t.Fatalf("carol leaves: %v", err)
	}
	wantCode(t, "carol leaves again", e.svc.Leave(ctx, "A", u("carol"), "team"), groups.CodeForbidden)

	// Transfer: the former owner stays as an admin and may then leave.
	g, err := e.svc.Transfer(ctx, "A", u("owner"), "team", "bob")
	if err != nil || g.OwnerID != "bob" {
		t.Fatalf("transfer = %+v, %v", g, err)
	}
	if m, err := e.svc.Member(ctx, "A", u("bob"), "team", "owner"); err != nil || m.Role != store.GroupRoleAdmin {
		t.Fatalf("former owner = %+v, %v", m, err)
	}
	if err := e.svc.Leave(ctx, "A", u("owner"), "team"); err != nil {
		t.Fatalf("former owner leaves: %v", err)
	}
	wantCode(t, "former owner dismisses", e.svc.Dismiss(ctx, "A", u("owner"), "team"), groups.CodeForbidden)
	if err := e.svc.Dismiss(ctx, "A", u("bob"), "team"); err != nil {
		t.Fatalf("new owner dismisses: %v", err)
	}
	_, err = e.svc.Get(ctx, "A", u("bob"), "team")
	wantCode(t, "get a dismissed group", err, groups.CodeGroupNotFound)

	// Every change reached the other nodes.
	if len(e.ev.got) < 10 {
		t.Errorf("GroupChanged events = %d, want one per change", len(e.ev.got))
	}
}

// TestCrossApp: app B's actors, even its backend, see nothing of app A's
// group of the same id.
func TestCrossApp(t *testing.T) {
	e := newEnv(t, 10)
	ctx := context.Background()
	e.team(t, store.JoinOpen)
	for name, err := range map[string]error{
		"get":      second(e.svc.Get(ctx, "B", groups.Backend, "team")),
		"members":  third(e.svc.Members(ctx, "B", groups.Backend, "team", "", 10)),
		"add":      second(e.svc.AddMembers(ctx, "B", groups.Backend, "team", []string{"dave"})),
		"join":     second(e.svc.Join(ctx, "B", groups.User("dave"), "team", "")),
		"remove":   second(e.svc.RemoveMembers(ctx, "B", groups.Backend, "team", []string{"bob"})),
		"dismiss":  e.svc.Dismiss(ctx, "B", groups.Backend, "team"),
		"transfer": second(e.svc.Transfer(ctx, "B", groups.Backend, "team", "bob")),
		"mute":     second(e.svc.Mute(ctx, "B", groups.Backend, "team", "bob", time.Minute)),
		"reads":    second(e.svc.ReadCounts(ctx, "B", groups.Backend, "team", []int64{1})),
	} {
		wantCode(t, "B "+name, err, groups.CodeGroupNotFound)
	}
	if ms, _, err := e.svc.Members(ctx, "A", groups.Backend, "team", "", 10); err != nil || len(ms) != 4 {
		t.Errorf("A's group after B's attempts: %d members, %v", len(ms), err)
	}
}

func second[T any](_ T, err error) error        { return err }
func third[T, U any](_ T, _ U, err error) error { return err }

func TestJoinPolicies(t *testing.T) {
	e := newEnv(t, 10)
	ctx := context.Background()
	e.team(t, store.JoinOpen)
	r, err := e.svc.Join(ctx, "A", groups.User("dave"), "team", "")
	if err != nil || len(r.Added) != 1 || r.Added[0].UserID != "dave" {
		t.Fatalf("join an open group = %+v, %v", r, err)
	}
	// Members of an open group invite directly.
	if r, err := e.svc.AddMembers(ctx, "A", groups.User("bob"), "team", []string{"erin"}); err != nil || len(r.Added) != 1 {
		t.Fatalf("member invites in an open group = %+v, %v", r, err)
	}

	approval := store.JoinApproval
	if _, err := e.svc.Update(ctx, "A", groups.User("owner"), "team", groups.Update{Policy: &approval}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.RemoveMembers(ctx, "A", groups.User("owner"), "team", []string{"dave", "erin"}); err != nil {
		t.Fatal(err)
	}
	r, err = e.svc.Join(ctx, "A", groups.User("dave"), "team", "let me in")
	if err != nil || !slices.Equal(r.Pending, []string{"dave"}) || len(r.Added) != 0 {
		t.Fatalf("join under approval = %+v, %v", r, err)
	}
	r, err = e.svc.AddMembers(ctx, "A", groups.User("bob"), "team", []string{"erin"})
	if err != nil || !slices.Equal(r.Pending, []string{"erin"}) {
		t.Fatalf("member invites under approval = %+v, %v", r, err)
	}
	_, _, err = e.svc.JoinRequests(ctx, "A", groups.User("bob"), "team", "", 10)
	wantCode(t, "member lists requests", err, groups.CodeForbidden)
	rs, _, err := e.svc.JoinRequests(ctx, "A", groups.User("admin"), "team", "", 10)
	if err != nil || len(rs) != 2 || rs[0].Message != "let me in" || rs[1].InviterID != "bob" {
		t.Fatalf("JoinRequests = %+v, %v", rs, err)
	}
	_, err = e.svc.Resolve(ctx, "A", groups.User("bob"), "team", "dave", true)
	wantCode(t, "member approves", err, groups.CodeForbidden)
	if r, err := e.svc.Resolve(ctx, "A", groups.User("admin"), "team", "dave", true); err != nil || len(r.Added) != 1 {
		t.Fatalf("approve = %+v, %v", r, err)
	}
	if _, err := e.svc.Resolve(ctx, "A", groups.User("admin"), "team", "erin", false); err != nil {
		t.Fatalf("decline: %v", err)
	}
	_, err = e.svc.Resolve(ctx, "A", groups.User("admin"), "team", "erin", true)
	wantCode(t, "approve a declined request", err, groups.CodeNotFound)
	if _, err := e.svc.Member(ctx, "A", groups.User("dave"), "team", "erin"); code(err) != groups.CodeNotFound {
		t.Errorf("erin after the decline: %v, want not a member", err)
	}
}

func TestGroupFull(t *testing.T) {
	e := newEnv(t, 5)
	ctx := context.Background()
	e.team(t, store.JoinOpen)
	_, err := e.svc.AddMembers(ctx, "A", groups.User("owner"), "team", []string{"dave", "erin"})
	wantCode(t, "add past the limit", err, groups.CodeGroupFull)
	if _, err := e.svc.Join(ctx, "A", groups.User("dave"), "team", ""); err != nil {
		t.Fatalf("join up to the limit: %v", err)
	}
	_, err = e.svc.Join(ctx, "A", groups.User("erin"), "team", "")
	wantCode(t, "join past the limit", err, groups.CodeGroupFull)
}

func TestReadCounts(t *testing.T) {
	e := newEnv(t, 10)
	ctx := context.Background()
	e.team(t, store.JoinInvite)
	sent, err := e.msgs.Send(ctx, messaging.SendRequest{AppID: "A", SenderID: "bob", ToGroupID: "team", ClientMsgID: "m1", Type: "text", Content: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.msgs.MarkRead(ctx, "A", "carol", "", "g:team", sent.Seq); err != nil {
		t.Fatal(err)
	}
	reads, err := e.svc.ReadCounts(ctx, "A", groups.User("bob"), "team", []int64{sent.Seq})
	if err != nil || len(reads) != 1 || reads[0].Read != 2 || reads[0].Of != 4 {
		t.Fatalf("ReadCounts = %+v, %v; want bob and carol of 4", reads, err)
	}
	readers, _, err := e.svc.Readers(ctx, "A", groups.User("admin"), "team", sent.Seq, true, "", 10)
	if err != nil || !slices.Equal(readers, []string{"bob", "carol"}) {
		t.Fatalf("Readers = %q, %v", readers, err)
	}
	unread, _, err := e.svc.Readers(ctx, "A", groups.User("admin"), "team", sent.Seq, false, "", 10)
	if err != nil || !slices.Equal(unread, []string{"admin", "owner"}) {
		t.Fatalf("unread = %q, %v", unread, err)
	}
	_, err = e.svc.ReadCounts(ctx, "A", groups.User("dave"), "team", []int64{1})
	wantCode(t, "stranger counts", err, groups.CodeForbidden)
	// Past MaxReaderList (4), counts only.
	if _, err := e.svc.AddMembers(ctx, "A", groups.User("owner"), "team", []string{"dave"}); err != nil {
		t.Fatal(err)
	}
	_, _, err = e.svc.Readers(ctx, "A", groups.User("admin"), "team", sent.Seq, true, "", 10)
	wantCode(t, "readers of a large group", err, groups.CodeForbidden)
}

// systemNotices returns the notices in a user's system conversation.
func (e env) systemNotices(t *testing.T, app, user string) []groups.Notice {
	t.Helper()
	ms, err := e.st.App(app).ListMessages(context.Background(), messaging.SystemConvID(user), store.Range{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	var out []groups.Notice
	for _, m := range ms {
		var n groups.Notice
		if err := json.Unmarshal(m.Body, &n); err != nil {
			t.Fatalf("notice %d: %v", m.Seq, err)
		}
		out = append(out, n)
	}
	return out
}

func TestJoinRequestNotifiesAdmins(t *testing.T) {
	e := newEnv(t, 10)
	ctx := context.Background()
	e.team(t, store.JoinApproval)
	// The same group id in app B, whose admins must hear nothing of A's.
	if _, err := e.svc.Create(ctx, "B", groups.User("owner"), groups.Input{ID: "team", Name: "Team", Policy: store.JoinApproval,
		MemberIDs: []string{"admin"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetRole(ctx, "B", groups.User("owner"), "team", "admin", store.GroupRoleAdmin); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Join(ctx, "A", groups.User("dave"), "team", "let me in"); err != nil {
		t.Fatal(err)
	}
	// Asking again while the request waits notifies no one again.
	if _, err := e.svc.Join(ctx, "A", groups.User("dave"), "team", "please"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AddMembers(ctx, "A", groups.User("bob"), "team", []string{"erin", "dave"}); err != nil {
		t.Fatal(err)
	}
	want := []groups.Notice{
		{Event: groups.NoticeJoinRequested, By: "dave", UserIDs: []string{"dave"}, Message: "let me in"},
		{Event: groups.NoticeJoinRequested, By: "bob", UserIDs: []string{"erin"}},
	}
	for _, u := range []string{"owner", "admin"} {
		if got := e.systemNotices(t, "A", u); !reflect.DeepEqual(got, want) {
			t.Errorf("%s's system notices = %+v, want %+v", u, got, want)
		}
	}
	for _, u := range []string{"bob", "carol", "dave", "erin"} {
		if got := e.systemNotices(t, "A", u); len(got) != 0 {
			t.Errorf("%s's system notices = %+v, want none (not an admin)", u, got)
		}
	}
	for _, u := range []string{"owner", "admin"} {
		if got := e.systemNotices(t, "B", u); len(got) != 0 {
			t.Errorf("app B %s's system notices = %+v, want none", u, got)
		}
	}
	// Under the open policy nobody is asked.
	open := store.JoinOpen
	if _, err := e.svc.Update(ctx, "A", groups.User("owner"), "team", groups.Update{Policy: &open}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Join(ctx, "A", groups.User("carol"), "team", ""); err != nil {
		t.Fatal(err)
	}
	if got := e.systemNotices(t, "A", "owner"); len(got) != len(want) {
		t.Errorf("owner's system notices after an open join = %+v, want %d", got, len(want))
	}
}
