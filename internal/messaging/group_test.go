package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
)

func groupText(from, group, id string) messaging.SendRequest {
	return messaging.SendRequest{AppID: "A", SenderID: from, Session: from + "-dev", ToGroupID: group,
		ClientMsgID: id, Type: "text", Content: "hello " + group, MaxBytes: 1024}
}

func createGroup(t *testing.T, st store.Store, app, id, owner string, members ...string) {
	t.Helper()
	ms := []store.GroupMember{{UserID: owner, Role: store.GroupRoleOwner, JoinedAt: time.UnixMilli(1)}}
	for _, m := range members {
		ms = append(ms, store.GroupMember{UserID: m, Role: store.GroupRoleMember, JoinedAt: time.UnixMilli(1)})
	}
	g := store.Group{ID: id, OwnerID: owner, Policy: store.JoinInvite, CreatedAt: time.UnixMilli(1), UpdatedAt: time.UnixMilli(1)}
	if err := st.App(app).CreateGroup(context.Background(), g, ms); err != nil {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var e *messaging.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Errorf("error = %v, want %s", err, code)
	}
}

// TestGroupSend: a group message is stored once with the group's seq,
// delivered to every member's online devices (not the sending session),
// and the sender gets no STORED receipt per offline member; offline
// members are notified.
func TestGroupSend(t *testing.T) {
	s, r, off, st := newService(t, "alice", "bob")
	createGroup(t, st, "A", "g1", "alice", "bob", "carol")
	ctx := context.Background()
	a, err := s.Send(ctx, groupText("bob", "g1", "c1"))
	if err != nil || a.ConvID != "g:g1" || a.Seq != 1 {
		t.Fatalf("Send = %+v, %v", a, err)
	}
	b, err := s.Send(ctx, groupText("alice", "g1", "c1"))
	if err != nil || b.Seq != 2 {
		t.Fatalf("second Send = %+v, %v", b, err)
	}
	msgs, receipts := r.take()
	if fmt.Sprint(msgs) != "[alice:g:g1:1 bob:g:g1:2]" || len(receipts) != 0 {
		t.Fatalf("pushes = %v, receipts %v", msgs, receipts)
	}
	if users := off.wait(t, 2); fmt.Sprint(users) != "[carol carol]" {
		t.Fatalf("offline notices = %v", users)
	}
	n, err := st.App("A").ListMessages(ctx, "g:g1", store.Range{Limit: 10})
	if err != nil || len(n) != 2 {
		t.Fatalf("stored %d messages, %v; want 2", len(n), err)
	}
	// Acks and reads in a group tell the other members nothing.
	if err := s.AckDelivered(ctx, "A", "bob", "bob-dev", []messaging.Cursor{{ConvID: "g:g1", Seq: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkRead(ctx, "A", "bob", "bob-dev", "g:g1", 2); err != nil {
		t.Fatal(err)
	}
	if _, receipts := r.take(); len(receipts) != 0 {
		t.Fatalf("receipts after a group ack and read = %v, want none", receipts)
	}
}

func TestGroupSendPermissions(t *testing.T) {
	s, _, _, st := newService(t, "alice", "bob")
	createGroup(t, st, "A", "g1", "alice", "bob")
	ctx := context.Background()
	as := st.App("A")

	_, err := s.Send(ctx, groupText("carol", "g1", "c1"))
	wantCode(t, err, "forbidden")
	_, err = s.Send(ctx, groupText("bob", "nope", "c1"))
	wantCode(t, err, "group_not_found")
	_, err = s.Send(ctx, groupText("bob", "bad:id", "c1"))
	wantCode(t, err, "invalid_argument")
	both := groupText("bob", "g1", "c1")
	both.ToUserID = "alice"
	_, err = s.Send(ctx, both)
	wantCode(t, err, "invalid_argument")
	dm := text("bob", "alice", "c1", "hi")
	dm.Mentions = []string{"alice"}
	_, err = s.Send(ctx, dm)
	wantCode(t, err, "invalid_argument")
	// Another app's group of the same id is invisible.
	other := groupText("bob", "g1", "c1")
	other.AppID = "B"
	_, err = s.Send(ctx, other)
	wantCode(t, err, "group_not_found")

	// @all is for the owner and admins.
	all := groupText("bob", "g1", "c2")
	all.MentionAll = true
	_, err = s.Send(ctx, all)
	wantCode(t, err, "forbidden")
	all.SenderID = "alice"
	if _, err := s.Send(ctx, all); err != nil {
		t.Fatalf("owner's @all: %v", err)
	}

	// A muted member; then everyone muted but the owner.
	if err := as.UpdateGroupMember(ctx, "g1", store.GroupMember{UserID: "bob", Role: store.GroupRoleMember, MutedUntil: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	s.GroupChanged("A", "g1")
	_, err = s.Send(ctx, groupText("bob", "g1", "c3"))
	wantCode(t, err, "member_muted")
	if err := as.UpdateGroupMember(ctx, "g1", store.GroupMember{UserID: "bob", Role: store.GroupRoleMember}); err != nil {
		t.Fatal(err)
	}
	g, _ := as.GetGroup(ctx, "g1")
	g.MuteAll = true
	if err := as.UpdateGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	s.GroupChanged("A", "g1")
	_, err = s.Send(ctx, groupText("bob", "g1", "c4"))
	wantCode(t, err, "group_muted")
	if _, err := s.Send(ctx, groupText("alice", "g1", "c5")); err != nil {
		t.Fatalf("owner in a muted group: %v", err)
	}

	// A removed member can neither send nor read.
	if _, err := as.RemoveGroupMembers(ctx, "g1", []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	s.GroupChanged("A", "g1")
	_, err = s.Send(ctx, groupText("bob", "g1", "c6"))
	wantCode(t, err, "forbidden")
	_, _, err = s.Messages(ctx, "A", "bob", messaging.MessageQuery{ConvID: "g:g1"})
	wantCode(t, err, "forbidden")
	err = s.MarkRead(ctx, "A", "bob", "", "g:g1", 1)
	wantCode(t, err, "forbidden")

	// A dismissed group takes no messages.
	if err := as.DismissGroup(ctx, "g1", time.Now()); err != nil {
		t.Fatal(err)
	}
	s.GroupChanged("A", "g1")
	_, err = s.Send(ctx, groupText("alice", "g1", "c7"))
	wantCode(t, err, "group_not_found")
}

// TestGroupJoinerReadsFromJoin: a member who joins sees messages from its
// join on, not before.
func TestGroupJoinerReadsFromJoin(t *testing.T) {
	s, _, _, st := newService(t, "alice")
	createGroup(t, st, "A", "g1", "alice")
	ctx := context.Background()
	for i := range 3 {
		if _, err := s.Send(ctx, groupText("alice", "g1", fmt.Sprint("c", i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.App("A").AddGroupMembers(ctx, "g1", []store.GroupMember{{UserID: "bob", Role: store.GroupRoleMember}}, 0); err != nil {
		t.Fatal(err)
	}
	s.GroupChanged("A", "g1")
	if _, err := s.Send(ctx, groupText("alice", "g1", "c3")); err != nil {
		t.Fatal(err)
	}
	msgs, _, err := s.Messages(ctx, "A", "bob", messaging.MessageQuery{ConvID: "g:g1"})
	if err != nil || len(msgs) != 1 || msgs[0].Seq != 4 {
		t.Fatalf("bob's history = %d messages (%v), want only seq 4", len(msgs), err)
	}
}

// TestLargeGroup: a message to a 10,000-member group is stored once,
// delivered to each of the 1,000 online members' devices (the sending
// session excepted), notified offline only to the offline member it
// mentions (the group is past GroupPushLimit), and read by an offline
// member through sync, by seq.
func TestLargeGroup(t *testing.T) {
	const members, online = 10000, 1000
	ids := make([]string, members)
	for i := range ids {
		ids[i] = fmt.Sprintf("m%05d", i)
	}
	s, r, off, st := newService(t, ids[:online]...)
	createGroup(t, st, "A", "big", ids[0], ids[1:]...)
	ctx := context.Background()
	req := groupText(ids[0], "big", "c1")
	req.Mentions = []string{ids[5000], ids[7]}
	a, err := s.Send(ctx, req)
	if err != nil || a.Seq != 1 {
		t.Fatalf("Send = %+v, %v", a, err)
	}
	msgs, receipts := r.take()
	if len(msgs) != online-1 || len(receipts) != 0 {
		t.Fatalf("%d deliveries and receipts %v, want %d deliveries and no receipt", len(msgs), receipts, online-1)
	}
	seen := map[string]bool{}
	for _, m := range msgs {
		if seen[m] || m == ids[0]+":g:big:1" {
			t.Fatalf("delivery %s twice, or to the sending session", m)
		}
		seen[m] = true
	}
	if got := off.wait(t, 1); fmt.Sprint(got) != "["+ids[5000]+"]" {
		t.Fatalf("offline notifications = %v, want only the mentioned offline member", got)
	}
	stored, err := st.App("A").ListMessages(ctx, "g:big", store.Range{Limit: 10})
	if err != nil || len(stored) != 1 {
		t.Fatalf("stored %d copies, %v; want one", len(stored), err)
	}
	got, _, err := s.Messages(ctx, "A", ids[members-1], messaging.MessageQuery{ConvID: "g:big", From: 1})
	if err != nil || len(got) != 1 || got[0].Seq != 1 {
		t.Fatalf("an offline member's sync = %+v, %v", got, err)
	}
	uc, err := st.App("A").GetUserConversation(ctx, ids[7], "g:big")
	if err != nil || uc.MentionSeq != 1 {
		t.Fatalf("mentioned member's conversation = %+v, %v", uc, err)
	}
}

// TestTyping: a typing signal reaches the other members' devices (not the
// typer's), is never stored, is refused to non-members, and is not relayed
// in a group past MaxTypingGroup.
func TestTyping(t *testing.T) {
	s, r, _, st := newService(t, "alice", "bob", "carol")
	createGroup(t, st, "A", "g1", "alice", "bob")
	ctx := context.Background()
	if err := s.Typing(ctx, "A", "alice", "g:g1", true); err != nil {
		t.Fatal(err)
	}
	if err := s.Typing(ctx, "A", "alice", "g:g1", false); err != nil {
		t.Fatal(err)
	}
	_, receipts := r.take()
	want := fmt.Sprintf("[bob:%d:g:g1:0:alice bob:%d:g:g1:0:alice]", messaging.ReceiptTyping, messaging.ReceiptTypingStopped)
	if fmt.Sprint(receipts) != want {
		t.Fatalf("signals = %v, want %s", receipts, want)
	}
	wantCode(t, s.Typing(ctx, "A", "carol", "g:g1", true), "forbidden")
	wantCode(t, s.Typing(ctx, "B", "alice", "g:g1", true), "forbidden")
	if n, _ := st.App("A").ListMessages(ctx, "g:g1", store.Range{Limit: 10}); len(n) != 0 {
		t.Fatalf("typing stored %d messages", len(n))
	}
	var many []string
	for i := range messaging.MaxTypingGroup + 1 {
		many = append(many, fmt.Sprintf("u%03d", i))
	}
	createGroup(t, st, "A", "big", "alice", append(many, "bob")...)
	if err := s.Typing(ctx, "A", "alice", "g:big", true); err != nil {
		t.Fatal(err)
	}
	if _, receipts := r.take(); len(receipts) != 0 {
		t.Fatalf("typing in a group of %d members relayed %v", len(many)+2, receipts)
	}
}
