package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/magpie-im/magpie/internal/store"
)

var groupTests = []test{
	{"CreateGet", testGroupCreateGet},
	{"Update", testGroupUpdate},
	{"AddMembers", testGroupAddMembers},
	{"AddMembersLimit", testGroupAddMembersLimit},
	{"HistoryVisible", testGroupHistoryVisible},
	{"RemoveMembers", testGroupRemoveMembers},
	{"UpdateMember", testGroupUpdateMember},
	{"ListMembers", testGroupListMembers},
	{"ListAdmins", testGroupListAdmins},
	{"Dismiss", testGroupDismiss},
	{"Messages", testGroupMessages},
	{"Readers", testGroupReaders},
	{"Mentions", testGroupMentions},
	{"JoinRequests", testGroupJoinRequests},
	{"DeleteUser", testGroupDeleteUser},
	{"AddConcurrent", testGroupAddConcurrent},
}

func newGroup(id, owner string) store.Group {
	return store.Group{ID: id, Name: "group " + id, OwnerID: owner, Policy: store.JoinInvite,
		Metadata: map[string]string{"topic": id}, CreatedAt: at(1), UpdatedAt: at(1), Version: 1}
}

func member(id string, role store.GroupRole, sec int64) store.GroupMember {
	return store.GroupMember{UserID: id, Role: role, JoinedAt: at(sec)}
}

func normGroup(x store.Group) store.Group {
	x.CreatedAt, x.UpdatedAt, x.DismissedAt = normTime(x.CreatedAt), normTime(x.UpdatedAt), normTime(x.DismissedAt)
	if len(x.Metadata) == 0 {
		x.Metadata = nil
	}
	return x
}

func normGroupMember(x store.GroupMember) store.GroupMember {
	x.MutedUntil, x.JoinedAt = normTime(x.MutedUntil), normTime(x.JoinedAt)
	return x
}

func memberIDs(ms []store.GroupMember) []string {
	return ids(ms, func(m store.GroupMember) string { return m.UserID })
}

// groupSetup creates, in app A, group g1 owned by "owner" with members m1
// and m2.
func groupSetup(t *testing.T, s store.Store) (store.AppStore, store.Group) {
	t.Helper()
	a := s.App("A")
	g := newGroup("g1", "owner")
	must(t, a.CreateGroup(t.Context(), g, []store.GroupMember{
		member("owner", store.GroupRoleOwner, 1), member("m1", store.GroupRoleMember, 1), member("m2", store.GroupRoleAdmin, 1),
	}), "CreateGroup")
	g.MemberCount = 3
	return a, g
}

// gdraft is a draft in group g1's conversation.
func gdraft(sender, clientID string, sec int64) store.Draft {
	return store.Draft{ConvID: store.GroupConvID("g1"), SenderID: sender, ClientMsgID: clientID,
		Type: "text", Body: []byte("body of " + clientID), CreatedAt: at(sec)}
}

func checkGroupMembers(t *testing.T, a store.AppStore, group string, want ...string) {
	t.Helper()
	got, err := a.ListGroupMembers(t.Context(), group, "", 1000)
	slices.Sort(want)
	if err != nil || !slices.Equal(memberIDs(got), want) {
		t.Errorf("ListGroupMembers(%s) = %q, %v, want %q", group, memberIDs(got), err, want)
	}
	g, err := a.GetGroup(t.Context(), group)
	if err == nil && g.MemberCount != len(want) {
		t.Errorf("GetGroup(%s).MemberCount = %d, want %d", group, g.MemberCount, len(want))
	}
}

func testGroupCreateGet(t *testing.T, s store.Store) {
	a, g := groupSetup(t, s)
	ctx := t.Context()
	got, err := a.GetGroup(ctx, "g1")
	if err != nil || !same(got, g, normGroup) {
		t.Errorf("GetGroup = %+v, %v, want %+v", got, err, g)
	}
	_, err = a.GetGroup(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "GetGroup(nope)")
	wantErr(t, a.CreateGroup(ctx, newGroup("g1", "m1"), []store.GroupMember{member("m1", store.GroupRoleOwner, 2)}),
		store.ErrConflict, "CreateGroup(g1) again")
	// Repeated ids count once.
	must(t, a.CreateGroup(ctx, newGroup("g2", "x"), []store.GroupMember{member("x", store.GroupRoleOwner, 1), member("x", store.GroupRoleOwner, 1)}), "CreateGroup(g2)")
	checkGroupMembers(t, a, "g2", "x")

	c, err := a.GetConversation(ctx, store.GroupConvID("g1"))
	if err != nil || c.MaxSeq != 0 || len(c.Members) != 0 {
		t.Errorf("GetConversation(g:g1) = %+v, %v, want max seq 0 and no member list", c, err)
	}
	uc, err := a.GetUserConversation(ctx, "m1", store.GroupConvID("g1"))
	if err != nil || uc.FirstSeq != 1 || uc.ReadSeq != 0 || uc.MaxSeq != 0 {
		t.Errorf("GetUserConversation(m1, g:g1) = %+v, %v, want first seq 1", uc, err)
	}
	ucs, err := a.ListUserConversations(ctx, "m2", "", 10)
	if err != nil || len(ucs) != 1 || ucs[0].ConvID != "g:g1" {
		t.Errorf("ListUserConversations(m2) = %+v, %v, want g:g1", ucs, err)
	}
	m, err := a.GetGroupMember(ctx, "g1", "m2")
	want := store.GroupMember{UserID: "m2", Role: store.GroupRoleAdmin, JoinedAt: at(1), FirstSeq: 1}
	if err != nil || !same(m, want, normGroupMember) {
		t.Errorf("GetGroupMember(m2) = %+v, %v, want %+v", m, err, want)
	}
	_, err = a.GetGroupMember(ctx, "g1", "stranger")
	wantErr(t, err, store.ErrNotFound, "GetGroupMember(stranger)")
	_, err = a.GetGroupMember(ctx, "nope", "m1")
	wantErr(t, err, store.ErrNotFound, "GetGroupMember(nope, m1)")
}

func testGroupUpdate(t *testing.T, s store.Store) {
	a, g := groupSetup(t, s)
	ctx := t.Context()
	g.Name, g.Notice, g.AvatarURL, g.OwnerID = "renamed", "read the rules", "https://x/y.png", "m2"
	g.Policy, g.MuteAll, g.HistoryVisible, g.UpdatedAt = store.JoinOpen, true, true, at(9)
	g.Metadata = map[string]string{"k": "v"}
	must(t, a.UpdateGroup(ctx, g), "UpdateGroup")
	stale := g
	g.Version = 2
	got, err := a.GetGroup(ctx, "g1")
	if err != nil || !same(got, g, normGroup) {
		t.Errorf("GetGroup after update = %+v, %v, want %+v", got, err, g)
	}
	wantErr(t, a.UpdateGroup(ctx, stale), store.ErrConflict, "UpdateGroup(stale version)")
	wantErr(t, a.UpdateGroup(ctx, newGroup("nope", "x")), store.ErrNotFound, "UpdateGroup(nope)")
	must(t, a.DismissGroup(ctx, "g1", at(10)), "DismissGroup")
	wantErr(t, a.UpdateGroup(ctx, g), store.ErrNotFound, "UpdateGroup(dismissed)")
}

func testGroupAddMembers(t *testing.T, s store.Store) {
	a, _ := groupSetup(t, s)
	ctx := t.Context()
	appendAll(t, a, gdraft("owner", "c1", 2), gdraft("m1", "c2", 3))
	must(t, a.PutJoinRequest(ctx, store.JoinRequest{GroupID: "g1", UserID: "n2", Message: "hi", CreatedAt: at(3)}), "PutJoinRequest")
	added, err := a.AddGroupMembers(ctx, "g1", []store.GroupMember{
		member("n1", store.GroupRoleMember, 4), member("m1", store.GroupRoleMember, 4),
		member("n2", store.GroupRoleMember, 4), member("n1", store.GroupRoleMember, 4),
	}, 0)
	want := []store.GroupMember{
		{UserID: "n1", Role: store.GroupRoleMember, JoinedAt: at(4), FirstSeq: 3, ReadSeq: 2},
		{UserID: "n2", Role: store.GroupRoleMember, JoinedAt: at(4), FirstSeq: 3, ReadSeq: 2},
	}
	if err != nil || !sameAll(added, want, normGroupMember) {
		t.Errorf("AddGroupMembers = %+v, %v, want %+v", added, err, want)
	}
	checkGroupMembers(t, a, "g1", "owner", "m1", "m2", "n1", "n2")
	uc, err := a.GetUserConversation(ctx, "n1", store.GroupConvID("g1"))
	if err != nil || uc.FirstSeq != 3 || uc.ReadSeq != 2 || uc.DeliveredSeq != 2 || uc.MaxSeq != 2 || uc.Unread() != 0 {
		t.Errorf("GetUserConversation(n1) = %+v, %v, want first seq 3, cursors at 2", uc, err)
	}
	_, err = a.GetJoinRequest(ctx, "g1", "n2")
	wantErr(t, err, store.ErrNotFound, "GetJoinRequest of an added user")
	// The existing member kept its entry.
	m, err := a.GetGroupMember(ctx, "g1", "m1")
	if err != nil || m.FirstSeq != 1 || !m.JoinedAt.Equal(at(1)) {
		t.Errorf("GetGroupMember(m1) = %+v, %v, want the original entry", m, err)
	}
	_, err = a.AddGroupMembers(ctx, "nope", []store.GroupMember{member("x", store.GroupRoleMember, 4)}, 0)
	wantErr(t, err, store.ErrNotFound, "AddGroupMembers(nope)")
	// Only existing members: nothing added, no error.
	added, err = a.AddGroupMembers(ctx, "g1", []store.GroupMember{member("n1", store.GroupRoleMember, 5)}, 5)
	if err != nil || len(added) != 0 {
		t.Errorf("AddGroupMembers(existing, at the limit) = %+v, %v, want none added", added, err)
	}
}

func testGroupAddMembersLimit(t *testing.T, s store.Store) {
	a, _ := groupSetup(t, s)
	ctx := t.Context()
	_, err := a.AddGroupMembers(ctx, "g1", []store.GroupMember{
		member("n1", store.GroupRoleMember, 4), member("n2", store.GroupRoleMember, 4),
	}, 4)
	wantErr(t, err, store.ErrLimit, "AddGroupMembers(over the limit)")
	checkGroupMembers(t, a, "g1", "owner", "m1", "m2")
	added, err := a.AddGroupMembers(ctx, "g1", []store.GroupMember{
		member("n1", store.GroupRoleMember, 4), member("m1", store.GroupRoleMember, 4),
	}, 4)
	if err != nil || len(added) != 1 {
		t.Errorf("AddGroupMembers(up to the limit) = %+v, %v, want n1 added", added, err)
	}
	checkGroupMembers(t, a, "g1", "owner", "m1", "m2", "n1")
}

func testGroupHistoryVisible(t *testing.T, s store.Store) {
	a, g := groupSetup(t, s)
	ctx := t.Context()
	appendAll(t, a, gdraft("owner", "c1", 2))
	g.HistoryVisible = true
	must(t, a.UpdateGroup(ctx, g), "UpdateGroup")
	added, err := a.AddGroupMembers(ctx, "g1", []store.GroupMember{member("n1", store.GroupRoleMember, 4)}, 0)
	if err != nil || len(added) != 1 || added[0].FirstSeq != 1 || added[0].ReadSeq != 0 {
		t.Errorf("AddGroupMembers(history visible) = %+v, %v, want first seq 1", added, err)
	}
	uc, err := a.GetUserConversation(ctx, "n1", store.GroupConvID("g1"))
	if err != nil || uc.FirstSeq != 1 || uc.Unread() != 1 {
		t.Errorf("GetUserConversation(n1) = %+v, %v, want first seq 1 and one unread", uc, err)
	}
}

func testGroupRemoveMembers(t *testing.T, s store.Store) {
	a, _ := groupSetup(t, s)
	ctx := t.Context()
	appendAll(t, a, gdraft("owner", "c1", 2))
	_, err := a.AckDelivered(ctx, []store.DeliveryAck{{UserID: "m1", DeviceID: "d1", ConvID: "g:g1", Seq: 1}})
	must(t, err, "AckDelivered")
	removed, err := a.RemoveGroupMembers(ctx, "g1", []string{"stranger", "m1", "m1"})
	if err != nil || !slices.Equal(removed, []string{"m1"}) {
		t.Errorf("RemoveGroupMembers = %q, %v, want [m1]", removed, err)
	}
	checkGroupMembers(t, a, "g1", "owner", "m2")
	_, err = a.GetUserConversation(ctx, "m1", "g:g1")
	wantErr(t, err, store.ErrNotFound, "GetUserConversation(removed member)")
	cur, err := a.GetDeviceCursors(ctx, "m1", "d1")
	if err != nil || len(cur) != 0 {
		t.Errorf("GetDeviceCursors(removed member) = %v, %v, want none", cur, err)
	}
	// A removed member may be added again, from the next message.
	appendAll(t, a, gdraft("owner", "c2", 3))
	added, err := a.AddGroupMembers(ctx, "g1", []store.GroupMember{member("m1", store.GroupRoleMember, 5)}, 0)
	if err != nil || len(added) != 1 || added[0].FirstSeq != 3 {
		t.Errorf("AddGroupMembers(m1 again) = %+v, %v, want first seq 3", added, err)
	}
	_, err = a.RemoveGroupMembers(ctx, "nope", []string{"m1"})
	wantErr(t, err, store.ErrNotFound, "RemoveGroupMembers(nope)")
}

func testGroupUpdateMember(t *testing.T, s store.Store) {
	a, _ := groupSetup(t, s)
	ctx := t.Context()
	m := store.GroupMember{UserID: "m1", Role: store.GroupRoleAdmin, MutedUntil: at(100)}
	must(t, a.UpdateGroupMember(ctx, "g1", m), "UpdateGroupMember")
	got, err := a.GetGroupMember(ctx, "g1", "m1")
	want := store.GroupMember{UserID: "m1", Role: store.GroupRoleAdmin, MutedUntil: at(100), JoinedAt: at(1), FirstSeq: 1}
	if err != nil || !same(got, want, normGroupMember) {
		t.Errorf("GetGroupMember after update = %+v, %v, want %+v", got, err, want)
	}
	wantErr(t, a.UpdateGroupMember(ctx, "g1", store.GroupMember{UserID: "stranger", Role: store.GroupRoleAdmin}),
		store.ErrNotFound, "UpdateGroupMember(stranger)")
	wantErr(t, a.UpdateGroupMember(ctx, "nope", m), store.ErrNotFound, "UpdateGroupMember(nope)")
}

func testGroupListMembers(t *testing.T, s store.Store) {
	a := s.App("A")
	ctx := t.Context()
	var ms []store.GroupMember
	var want []string
	for i := range 7 {
		id := fmt.Sprintf("u%02d", 6-i)
		ms = append(ms, member(id, store.GroupRoleMember, 1))
		want = append(want, id)
	}
	slices.Sort(want)
	must(t, a.CreateGroup(ctx, newGroup("g1", "u00"), ms), "CreateGroup")
	must(t, a.CreateGroup(ctx, newGroup("g0", "x"), []store.GroupMember{member("x", store.GroupRoleOwner, 1)}), "CreateGroup(g0)")
	checkPaging(t, "ListGroupMembers", want, func(after string, limit int) ([]string, error) {
		ms, err := a.ListGroupMembers(ctx, "g1", after, limit)
		return memberIDs(ms), err
	})
	got, err := a.ListGroupMembers(ctx, "nope", "", 10)
	if err != nil || len(got) != 0 {
		t.Errorf("ListGroupMembers(nope) = %+v, %v, want none", got, err)
	}
}

func testGroupListAdmins(t *testing.T, s store.Store) {
	a := s.App("A")
	ctx := t.Context()
	ms := []store.GroupMember{member("u00", store.GroupRoleOwner, 1)}
	want := []string{"u00"}
	for i := 1; i < 40; i++ {
		id := fmt.Sprintf("u%02d", i)
		role := store.GroupRoleMember
		if i%7 == 0 {
			role = store.GroupRoleAdmin
			want = append(want, id)
		}
		ms = append(ms, member(id, role, 1))
	}
	must(t, a.CreateGroup(ctx, newGroup("g1", "u00"), ms), "CreateGroup")
	must(t, a.CreateGroup(ctx, newGroup("g0", "x"), []store.GroupMember{
		member("x", store.GroupRoleOwner, 1), member("y", store.GroupRoleAdmin, 1)}), "CreateGroup(g0)")
	checkPaging(t, "ListGroupAdmins", want, func(after string, limit int) ([]string, error) {
		ms, err := a.ListGroupAdmins(ctx, "g1", after, limit)
		return memberIDs(ms), err
	})
	got, err := a.ListGroupAdmins(ctx, "g1", "", 1)
	if err != nil || len(got) != 1 || got[0].Role != store.GroupRoleOwner {
		t.Errorf("ListGroupAdmins(g1, limit 1) = %+v, %v, want the owner", got, err)
	}
	// A role change moves a member in and out of the admins.
	must(t, a.UpdateGroupMember(ctx, "g1", store.GroupMember{UserID: "u01", Role: store.GroupRoleAdmin}), "UpdateGroupMember(u01 admin)")
	must(t, a.UpdateGroupMember(ctx, "g1", store.GroupMember{UserID: "u07", Role: store.GroupRoleMember}), "UpdateGroupMember(u07 member)")
	got, err = a.ListGroupAdmins(ctx, "g1", "", 100)
	wantIDs := append([]string{"u00", "u01"}, want[2:]...)
	if err != nil || !slices.Equal(memberIDs(got), wantIDs) {
		t.Errorf("ListGroupAdmins(g1) after role changes = %q, %v, want %q", memberIDs(got), err, wantIDs)
	}
	// A removed admin is no longer one.
	_, err = a.RemoveGroupMembers(ctx, "g1", []string{"u14"})
	must(t, err, "RemoveGroupMembers(u14)")
	got, err = a.ListGroupAdmins(ctx, "g1", "", 100)
	if err != nil || slices.Contains(memberIDs(got), "u14") {
		t.Errorf("ListGroupAdmins(g1) after removing u14 = %q, %v, want it gone", memberIDs(got), err)
	}
	if got, err := a.ListGroupAdmins(ctx, "nope", "", 10); err != nil || len(got) != 0 {
		t.Errorf("ListGroupAdmins(nope) = %+v, %v, want none", got, err)
	}
}

func testGroupDismiss(t *testing.T, s store.Store) {
	a, _ := groupSetup(t, s)
	ctx := t.Context()
	appendAll(t, a, gdraft("owner", "c1", 2))
	must(t, a.PutJoinRequest(ctx, store.JoinRequest{GroupID: "g1", UserID: "n1", CreatedAt: at(2)}), "PutJoinRequest")
	must(t, a.DismissGroup(ctx, "g1", at(5)), "DismissGroup")
	must(t, a.DismissGroup(ctx, "g1", at(6)), "DismissGroup again")
	g, err := a.GetGroup(ctx, "g1")
	if err != nil || !g.DismissedAt.Equal(at(5)) || !g.Dismissed() {
		t.Errorf("GetGroup(dismissed) = %+v, %v, want dismissed at %v", g, err, at(5))
	}
	got, err := a.ListGroupMembers(ctx, "g1", "", 10)
	if err != nil || len(got) != 0 {
		t.Errorf("ListGroupMembers(dismissed) = %q, %v, want none", memberIDs(got), err)
	}
	_, err = a.GetUserConversation(ctx, "m1", "g:g1")
	wantErr(t, err, store.ErrNotFound, "GetUserConversation(dismissed group)")
	_, err = a.GetJoinRequest(ctx, "g1", "n1")
	wantErr(t, err, store.ErrNotFound, "GetJoinRequest(dismissed group)")
	_, err = a.AddGroupMembers(ctx, "g1", []store.GroupMember{member("m1", store.GroupRoleMember, 6)}, 0)
	wantErr(t, err, store.ErrNotFound, "AddGroupMembers(dismissed group)")
	wantErr(t, a.PutJoinRequest(ctx, store.JoinRequest{GroupID: "g1", UserID: "n1", CreatedAt: at(6)}),
		store.ErrNotFound, "PutJoinRequest(dismissed group)")
	if _, err := a.GetMessage(ctx, "g:g1", 1); err != nil {
		t.Errorf("GetMessage after dismissal: %v, want the message kept", err)
	}
	wantErr(t, a.DismissGroup(ctx, "nope", at(5)), store.ErrNotFound, "DismissGroup(nope)")
	wantErr(t, a.CreateGroup(ctx, newGroup("g1", "m1"), []store.GroupMember{member("m1", store.GroupRoleOwner, 7)}),
		store.ErrConflict, "CreateGroup(dismissed id)")
}

// testGroupMessages: a group message is stored once and every member sees
// it through its entry.
func testGroupMessages(t *testing.T, s store.Store) {
	a, _ := groupSetup(t, s)
	ctx := t.Context()
	res := appendAll(t, a, gdraft("m1", "c1", 2), gdraft("m2", "c2", 3), gdraft("m1", "c1", 4))
	if !slices.Equal(seqsOf(res), []int64{1, 2, 1}) || !res[2].Duplicate {
		t.Errorf("AppendMessages seqs = %v (third duplicate %v), want [1 2 1] with a duplicate", seqsOf(res), res[2].Duplicate)
	}
	for _, u := range []string{"owner", "m1", "m2"} {
		uc, err := a.GetUserConversation(ctx, u, "g:g1")
		if err != nil || uc.MaxSeq != 2 {
			t.Errorf("GetUserConversation(%s) = %+v, %v, want max seq 2", u, uc, err)
		}
	}
	uc, _ := a.GetUserConversation(ctx, "m1", "g:g1")
	if uc.ReadSeq != 1 {
		t.Errorf("sender m1's read cursor = %d, want 1", uc.ReadSeq)
	}
	c, err := a.GetConversation(ctx, "g:g1")
	if err != nil || len(c.Members) != 0 || c.MaxSeq != 2 {
		t.Errorf("GetConversation(g:g1) = %+v, %v, want max seq 2 and no member list", c, err)
	}
	// Messages appended before a member joined are not its to read: the
	// entry says from where (FirstSeq); the history is one copy.
	msgs, err := a.ListMessages(ctx, "g:g1", store.Range{Limit: 10})
	if err != nil || len(msgs) != 2 {
		t.Errorf("ListMessages(g:g1) = %d messages, %v, want 2", len(msgs), err)
	}
}

func testGroupReaders(t *testing.T, s store.Store) {
	a, _ := groupSetup(t, s)
	ctx := t.Context()
	appendAll(t, a, gdraft("owner", "c1", 2), gdraft("owner", "c2", 3), gdraft("owner", "c3", 4))
	if _, _, err := a.MarkRead(ctx, "m1", "g:g1", 2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.MarkRead(ctx, "m2", "g:g1", 3); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddGroupMembers(ctx, "g1", []store.GroupMember{member("late", store.GroupRoleMember, 5)}, 0); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		seq      int64
		read, of int
		readers  []string
		unread   []string
	}{
		{1, 3, 3, []string{"m1", "m2", "owner"}, nil},
		{3, 2, 3, []string{"m2", "owner"}, []string{"m1"}},
		{4, 0, 4, nil, []string{"late", "m1", "m2", "owner"}},
	} {
		read, of, err := a.CountGroupReaders(ctx, "g1", c.seq)
		if err != nil || read != c.read || of != c.of {
			t.Errorf("CountGroupReaders(%d) = %d of %d, %v, want %d of %d", c.seq, read, of, err, c.read, c.of)
		}
		for _, r := range []bool{true, false} {
			want := c.readers
			if !r {
				want = c.unread
			}
			checkPaging(t, fmt.Sprintf("ListGroupReaders(%d, %v)", c.seq, r), want, func(after string, limit int) ([]string, error) {
				ms, err := a.ListGroupReaders(ctx, "g1", c.seq, r, after, limit)
				return memberIDs(ms), err
			})
		}
	}
}

func testGroupMentions(t *testing.T, s store.Store) {
	a, _ := groupSetup(t, s)
	ctx := t.Context()
	d := gdraft("owner", "c1", 2)
	d.Mentions = []string{"m1", "stranger"}
	res := appendAll(t, a, d, gdraft("owner", "c2", 3))
	if got := res[0].Mentions; !slices.Equal(got, []string{"m1", "stranger"}) {
		t.Errorf("appended Mentions = %q, want the draft's", got)
	}
	m, err := a.GetMessage(ctx, "g:g1", 1)
	if err != nil || !slices.Equal(m.Mentions, []string{"m1", "stranger"}) || m.MentionAll {
		t.Errorf("GetMessage(1) mentions = %q (all %v), %v, want the draft's", m.Mentions, m.MentionAll, err)
	}
	mention := func(u string) int64 {
		t.Helper()
		uc, err := a.GetUserConversation(ctx, u, "g:g1")
		if err != nil {
			t.Fatalf("GetUserConversation(%s): %v", u, err)
		}
		return uc.MentionSeq
	}
	if mention("m1") != 1 || mention("m2") != 0 || mention("owner") != 0 {
		t.Errorf("MentionSeq m1, m2, owner = %d, %d, %d, want 1, 0, 0", mention("m1"), mention("m2"), mention("owner"))
	}
	all := gdraft("m2", "c3", 4)
	all.MentionAll = true
	appendAll(t, a, all)
	if mention("m1") != 3 || mention("owner") != 3 {
		t.Errorf("after @all MentionSeq m1, owner = %d, %d, want 3, 3", mention("m1"), mention("owner"))
	}
	if m, _ := a.GetMessage(ctx, "g:g1", 3); !m.MentionAll {
		t.Errorf("GetMessage(3).MentionAll = false, want true")
	}
	// A member who joins after the @all was not mentioned by it.
	if _, err := a.AddGroupMembers(ctx, "g1", []store.GroupMember{member("late", store.GroupRoleMember, 5)}, 0); err != nil {
		t.Fatal(err)
	}
	if mention("late") != 0 {
		t.Errorf("MentionSeq of a member who joined after @all = %d, want 0", mention("late"))
	}
	ucs, err := a.ListUserConversations(ctx, "m1", "", 10)
	if err != nil || len(ucs) != 1 || ucs[0].MentionSeq != 3 {
		t.Errorf("ListUserConversations(m1) = %+v, %v, want mention seq 3", ucs, err)
	}
}

func testGroupJoinRequests(t *testing.T, s store.Store) {
	a, _ := groupSetup(t, s)
	ctx := t.Context()
	r1 := store.JoinRequest{GroupID: "g1", UserID: "n1", Message: "let me in", CreatedAt: at(2)}
	r2 := store.JoinRequest{GroupID: "g1", UserID: "n2", InviterID: "m1", CreatedAt: at(3)}
	must(t, a.PutJoinRequest(ctx, r1), "PutJoinRequest(n1)")
	must(t, a.PutJoinRequest(ctx, r2), "PutJoinRequest(n2)")
	r1.Message, r1.CreatedAt = "please", at(4)
	must(t, a.PutJoinRequest(ctx, r1), "PutJoinRequest(n1) again")
	norm := func(x store.JoinRequest) store.JoinRequest { x.CreatedAt = normTime(x.CreatedAt); return x }
	got, err := a.GetJoinRequest(ctx, "g1", "n1")
	if err != nil || !same(got, r1, norm) {
		t.Errorf("GetJoinRequest(n1) = %+v, %v, want %+v", got, err, r1)
	}
	checkPaging(t, "ListJoinRequests", []string{"n1", "n2"}, func(after string, limit int) ([]string, error) {
		rs, err := a.ListJoinRequests(ctx, "g1", after, limit)
		return ids(rs, func(r store.JoinRequest) string { return r.UserID }), err
	})
	must(t, a.DeleteJoinRequest(ctx, "g1", "n1"), "DeleteJoinRequest")
	wantErr(t, a.DeleteJoinRequest(ctx, "g1", "n1"), store.ErrNotFound, "DeleteJoinRequest again")
	_, err = a.GetJoinRequest(ctx, "g1", "n1")
	wantErr(t, err, store.ErrNotFound, "GetJoinRequest(deleted)")
	wantErr(t, a.PutJoinRequest(ctx, store.JoinRequest{GroupID: "nope", UserID: "n1", CreatedAt: at(2)}),
		store.ErrNotFound, "PutJoinRequest(nope)")
}

func testGroupDeleteUser(t *testing.T, s store.Store) {
	a, _ := groupSetup(t, s)
	ctx := t.Context()
	for _, u := range []string{"owner", "m1", "m2", "n1"} {
		must(t, a.CreateUser(ctx, newUser(u)), "CreateUser(%s)", u)
	}
	must(t, a.CreateGroup(ctx, newGroup("g2", "m2"), []store.GroupMember{
		member("m2", store.GroupRoleOwner, 1), member("m1", store.GroupRoleMember, 1),
	}), "CreateGroup(g2)")
	must(t, a.PutJoinRequest(ctx, store.JoinRequest{GroupID: "g1", UserID: "n1", CreatedAt: at(2)}), "PutJoinRequest")
	appendAll(t, a, gdraft("m1", "c1", 2))
	must(t, a.DeleteUser(ctx, "m1", store.UserDeletion{At: at(3)}), "DeleteUser(m1)")
	must(t, a.DeleteUser(ctx, "n1", store.UserDeletion{At: at(3)}), "DeleteUser(n1)")
	checkGroupMembers(t, a, "g1", "owner", "m2")
	checkGroupMembers(t, a, "g2", "m2")
	_, err := a.GetJoinRequest(ctx, "g1", "n1")
	wantErr(t, err, store.ErrNotFound, "GetJoinRequest of a deleted user")
	if _, err := a.GetMessage(ctx, "g:g1", 1); err != nil {
		t.Errorf("GetMessage of a deleted member: %v, want the message kept", err)
	}
}

// testGroupAddConcurrent: concurrent additions never take a group past its
// limit.
func testGroupAddConcurrent(t *testing.T, s store.Store) {
	a := s.App("A")
	ctx := t.Context()
	must(t, a.CreateGroup(ctx, newGroup("g1", "owner"), []store.GroupMember{member("owner", store.GroupRoleOwner, 1)}), "CreateGroup")
	addConcurrently(t, []store.AppStore{a}, 10)
}

// addConcurrently adds 24 users to g1 from goroutines over the handles,
// limit max, and checks that exactly max members are in.
func addConcurrently(t *testing.T, handles []store.AppStore, max int) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	added := 0
	for i := range 24 {
		h := handles[i%len(handles)]
		wg.Go(func() {
			ms, err := h.AddGroupMembers(t.Context(), "g1", []store.GroupMember{member(fmt.Sprintf("u%02d", i), store.GroupRoleMember, 2)}, max)
			if err != nil && !errors.Is(err, store.ErrLimit) {
				t.Errorf("AddGroupMembers(u%02d): %v", i, err)
			}
			mu.Lock()
			added += len(ms)
			mu.Unlock()
		})
	}
	wg.Wait()
	got, err := handles[0].ListGroupMembers(t.Context(), "g1", "", 100)
	if err != nil || len(got) != max || added != max-1 {
		t.Errorf("after concurrent additions: %d members (%v), %d added, want %d members", len(got), err, added, max)
	}
}

func testTwoHandlesGroupLimit(t *testing.T, s1, s2 store.Store) {
	a := s1.App("A")
	must(t, a.CreateGroup(t.Context(), newGroup("g1", "owner"), []store.GroupMember{member("owner", store.GroupRoleOwner, 1)}), "CreateGroup")
	addConcurrently(t, []store.AppStore{a, s2.App("A")}, 10)
}

func testTenancyGroups(t *testing.T, s store.Store) {
	a, _ := groupSetup(t, s)
	b, ctx := s.App("B"), t.Context()
	_, err := b.GetGroup(ctx, "g1")
	wantErr(t, err, store.ErrNotFound, "B.GetGroup(g1)")
	_, err = b.AddGroupMembers(ctx, "g1", []store.GroupMember{member("x", store.GroupRoleMember, 2)}, 0)
	wantErr(t, err, store.ErrNotFound, "B.AddGroupMembers(g1)")
	_, err = b.RemoveGroupMembers(ctx, "g1", []string{"m1"})
	wantErr(t, err, store.ErrNotFound, "B.RemoveGroupMembers(g1)")
	wantErr(t, b.UpdateGroup(ctx, newGroup("g1", "x")), store.ErrNotFound, "B.UpdateGroup(g1)")
	wantErr(t, b.UpdateGroupMember(ctx, "g1", store.GroupMember{UserID: "m1", Role: store.GroupRoleAdmin}), store.ErrNotFound, "B.UpdateGroupMember")
	wantErr(t, b.DismissGroup(ctx, "g1", at(2)), store.ErrNotFound, "B.DismissGroup(g1)")
	wantErr(t, b.PutJoinRequest(ctx, store.JoinRequest{GroupID: "g1", UserID: "x", CreatedAt: at(2)}), store.ErrNotFound, "B.PutJoinRequest")
	if ms, err := b.ListGroupMembers(ctx, "g1", "", 10); err != nil || len(ms) != 0 {
		t.Errorf("B.ListGroupMembers(g1) = %q, %v, want none", memberIDs(ms), err)
	}
	if ms, err := b.ListGroupAdmins(ctx, "g1", "", 10); err != nil || len(ms) != 0 {
		t.Errorf("B.ListGroupAdmins(g1) = %q, %v, want none", memberIDs(ms), err)
	}
	if _, of, err := b.CountGroupReaders(ctx, "g1", 1); err != nil || of != 0 {
		t.Errorf("B.CountGroupReaders(g1) = of %d, %v, want 0", of, err)
	}
	// B may have a group with the same id.
	must(t, b.CreateGroup(ctx, newGroup("g1", "x"), []store.GroupMember{member("x", store.GroupRoleOwner, 1)}), "B.CreateGroup(g1)")
	checkGroupMembers(t, a, "g1", "owner", "m1", "m2")
	checkGroupMembers(t, b, "g1", "x")
}
