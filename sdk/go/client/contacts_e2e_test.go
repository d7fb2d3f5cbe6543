package client_test

import (
	"context"
	"strings"
	"testing"

	"github.com/magpie-im/magpie/sdk/go/client"
	"github.com/magpie-im/magpie/sdk/go/wire"
)

// TestContacts: a friend request reaches its recipient live as a notice;
// accepted, the two are friends with a remark of their own; a blocked
// user's messages are refused with "blocked" and go through again once
// unblocked; declined and cancelled requests are gone.
func TestContacts(t *testing.T) {
	e := startEnv(t, "ann", "bob", "cat")
	ctx := context.Background()
	ann, bob, cat := e.newClient("ann", "ann-phone", "", nil), e.newClient("bob", "bob-phone", "", nil), e.newClient("cat", "cat-phone", "", nil)
	for _, c := range []*client.Client{ann, bob, cat} {
		run(t, c)
		next[client.Connected](t, c)
	}

	status, err := ann.SendFriendRequest(ctx, "bob", "hi bob")
	if err != nil || status != client.FriendRequested {
		t.Fatalf("SendFriendRequest = %q, %v", status, err)
	}
	m := next[client.Message](t, bob)
	if m.Type != "notice" || m.ConvID != "s:bob" || !strings.Contains(m.Content, `"friend.requested"`) || !strings.Contains(m.Content, `"ann"`) {
		t.Errorf("bob's notice = %+v", m)
	}
	reqs, nextCursor, err := bob.FriendRequests(ctx, false, "", 0)
	if err != nil || len(reqs) != 1 || reqs[0].FromID != "ann" || reqs[0].Message != "hi bob" || nextCursor != "" {
		t.Fatalf("bob's requests = %+v, %q, %v", reqs, nextCursor, err)
	}
	if err := bob.AcceptFriendRequest(ctx, "ann"); err != nil {
		t.Fatal(err)
	}
	if m := next[client.Message](t, ann); !strings.Contains(m.Content, `"friend.accepted"`) {
		t.Errorf("ann's notice = %+v", m)
	}
	f, err := ann.SetFriendRemark(ctx, "bob", "Bobby")
	if err != nil || f.UserID != "bob" || f.Remark != "Bobby" {
		t.Fatalf("SetFriendRemark = %+v, %v", f, err)
	}
	if fs, _, err := bob.Friends(ctx, "", 0); err != nil || len(fs) != 1 || fs[0].UserID != "ann" || fs[0].Remark != "" {
		t.Errorf("bob's friends = %+v, %v", fs, err)
	}

	// A crossing request befriends at once.
	if _, err := cat.SendFriendRequest(ctx, "ann", ""); err != nil {
		t.Fatal(err)
	}
	if status, err := ann.SendFriendRequest(ctx, "cat", ""); err != nil || status != client.FriendsNow {
		t.Errorf("crossing request = %q, %v", status, err)
	}
	fs, cur, err := ann.Friends(ctx, "", 1)
	if err != nil || len(fs) != 1 || fs[0].UserID != "bob" || cur == "" {
		t.Fatalf("ann's friends page 1 = %+v, %q, %v", fs, cur, err)
	}
	if fs, _, err := ann.Friends(ctx, cur, 1); err != nil || len(fs) != 1 || fs[0].UserID != "cat" {
		t.Errorf("ann's friends page 2 = %+v, %v", fs, err)
	}

	// Blocks.
	if err := ann.Block(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	_, err = bob.Send(ctx, "ann", "text", "hello?")
	wantErrCode(t, err, wire.CodeBlocked)
	if _, err := ann.Send(ctx, "bob", "text", "I can still write"); err != nil {
		t.Errorf("blocker's send: %v", err)
	}
	if bs, _, err := ann.Blocked(ctx, "", 0); err != nil || len(bs) != 1 || bs[0].UserID != "bob" {
		t.Errorf("Blocked = %+v, %v", bs, err)
	}
	_, err = bob.SendFriendRequest(ctx, "ann", "")
	wantErrCode(t, err, "forbidden")
	if err := ann.Unblock(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Send(ctx, "ann", "text", "hello again"); err != nil {
		t.Errorf("send after unblock: %v", err)
	}

	// Remove, decline, cancel.
	if err := bob.RemoveFriend(ctx, "ann"); err != nil {
		t.Fatal(err)
	}
	wantErrCode(t, bob.RemoveFriend(ctx, "ann"), "not_found")
	if _, err := bob.SendFriendRequest(ctx, "cat", ""); err != nil {
		t.Fatal(err)
	}
	if err := cat.DeclineFriendRequest(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.SendFriendRequest(ctx, "cat", ""); err != nil {
		t.Fatal(err)
	}
	if err := bob.CancelFriendRequest(ctx, "cat"); err != nil {
		t.Fatal(err)
	}
	if rs, _, err := bob.FriendRequests(ctx, true, "", 0); err != nil || len(rs) != 0 {
		t.Errorf("bob's outgoing after decline and cancel = %+v, %v", rs, err)
	}
	_, err = ann.SendFriendRequest(ctx, "nobody", "")
	wantErrCode(t, err, "user_not_found")
}
