package storetest

import (
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

var lifecycleTests = []test{
	{"DeleteUserTakesItsData", testDeleteUserTakesItsData},
	{"RecreatedUserStartsEmpty", testRecreatedUserStartsEmpty},
	{"DeleteUserErasesMessages", testDeleteUserErasesMessages},
	{"TombstonesExpire", testTombstonesExpire},
}

// lifecycleSetup creates alice and bob in app A, a conversation c1 with
// three messages (alice, bob, alice), a system message to alice, and
// delivery cursors of alice's device.
func lifecycleSetup(t *testing.T, s store.Store) store.AppStore {
	t.Helper()
	a, ctx := s.App("A"), t.Context()
	for _, id := range dm {
		must(t, a.CreateUser(ctx, newUser(id)), "CreateUser(%s)", id)
	}
	appendAll(t, a, draft("c1", "alice", "m1", 1), draft("c1", "bob", "m2", 2), draft("c1", "alice", "m3", 3))
	appendAll(t, a, store.Draft{ConvID: "s:alice", Members: []string{"alice"}, ClientMsgID: "sys1",
		Type: "text", Body: []byte("notice"), CreatedAt: at(4)})
	_, err := a.AckDelivered(ctx, []store.DeliveryAck{{UserID: "alice", DeviceID: "d1", ConvID: "c1", Seq: 3}})
	must(t, err, "AckDelivered")
	return a
}

func testDeleteUserTakesItsData(t *testing.T, s store.Store) {
	a, ctx := lifecycleSetup(t, s), t.Context()
	must(t, a.DeleteUser(ctx, "alice", store.UserDeletion{At: at(10)}), "DeleteUser(alice)")
	_, err := a.GetUser(ctx, "alice")
	wantErr(t, err, store.ErrNotFound, "GetUser(alice) after delete")
	_, err = a.GetUserConversation(ctx, "alice", "c1")
	wantErr(t, err, store.ErrNotFound, "GetUserConversation(alice, c1) after delete")
	if ucs, err := a.ListUserConversations(ctx, "alice", "", 10); err != nil || len(ucs) != 0 {
		t.Errorf("ListUserConversations(alice) after delete = %+v, %v, want none", ucs, err)
	}
	if cur, err := a.GetDeviceCursors(ctx, "alice", "d1"); err != nil || len(cur) != 0 {
		t.Errorf("GetDeviceCursors(alice, d1) after delete = %v, %v, want none", cur, err)
	}
	_, err = a.GetConversation(ctx, "s:alice")
	wantErr(t, err, store.ErrNotFound, "GetConversation(s:alice) after delete")
	if msgs, err := a.ListMessages(ctx, "s:alice", store.Range{From: 1, Limit: 10}); err != nil || len(msgs) != 0 {
		t.Errorf("ListMessages(s:alice) after delete = %+v, %v, want none", msgs, err)
	}
	// bob keeps his entry and the whole history; alice's messages keep
	// their content but lose their client ids.
	if uc, err := a.GetUserConversation(ctx, "bob", "c1"); err != nil || uc.MaxSeq != 3 {
		t.Errorf("GetUserConversation(bob, c1) after delete = %+v, %v, want max seq 3", uc, err)
	}
	msgs, err := a.ListMessages(ctx, "c1", store.Range{From: 1, Limit: 10})
	must(t, err, "ListMessages(c1)")
	if len(msgs) != 3 {
		t.Fatalf("ListMessages(c1) after delete = %d messages, want 3", len(msgs))
	}
	for _, m := range msgs {
		if string(m.Body) == "" || !m.RecalledAt.IsZero() {
			t.Errorf("message %d after a delete without erasure = %q recalled %v, want it intact", m.Seq, m.Body, m.RecalledAt)
		}
		if wantID := m.SenderID != "alice"; (m.ClientMsgID != "") != wantID {
			t.Errorf("message %d from %s keeps client id %q", m.Seq, m.SenderID, m.ClientMsgID)
		}
	}
	wantErr(t, a.DeleteUser(ctx, "alice", store.UserDeletion{At: at(11)}), store.ErrNotFound, "DeleteUser(alice) twice")
}

func testRecreatedUserStartsEmpty(t *testing.T, s store.Store) {
	a, ctx := lifecycleSetup(t, s), t.Context()
	must(t, a.DeleteUser(ctx, "alice", store.UserDeletion{At: at(10)}), "DeleteUser(alice)")
	again := newUser("alice")
	again.CreatedAt = at(20).Add(500 * time.Millisecond)
	must(t, a.CreateUser(ctx, again), "CreateUser(alice again)")
	u, err := a.GetUser(ctx, "alice")
	must(t, err, "GetUser(alice)")
	if !u.TokensValidAfter.Equal(at(20)) {
		t.Errorf("TokensValidAfter of the new alice = %v, want %v (her creation, to the second)", u.TokensValidAfter, at(20))
	}
	_, err = a.GetUserConversation(ctx, "alice", "c1")
	wantErr(t, err, store.ErrNotFound, "GetUserConversation(new alice, c1) before any message")

	// The new alice reuses an old client id: it is a new message.
	res := appendAll(t, a, draft("c1", "alice", "m1", 21))
	if res[0].Duplicate || res[0].Seq != 4 {
		t.Fatalf("new alice's m1 = %+v, want a new message at seq 4", res[0])
	}
	uc, err := a.GetUserConversation(ctx, "alice", "c1")
	must(t, err, "GetUserConversation(new alice, c1)")
	if uc.FirstSeq != 4 || uc.ReadSeq != 4 || uc.DeliveredSeq != 3 {
		t.Errorf("new alice's entry = %+v, want first seq 4, read 4, delivered 3", uc)
	}
	// A message from bob reaches her entry too; bob's entry is untouched.
	appendAll(t, a, draft("c1", "bob", "m5", 22))
	uc, err = a.GetUserConversation(ctx, "alice", "c1")
	if err != nil || uc.FirstSeq != 4 || uc.MaxSeq != 5 || uc.Unread() != 1 {
		t.Errorf("new alice's entry after bob's message = %+v, %v, want first seq 4, max 5, one unread", uc, err)
	}
	if uc, err := a.GetUserConversation(ctx, "bob", "c1"); err != nil || uc.FirstSeq != 1 {
		t.Errorf("bob's entry = %+v, %v, want first seq 1", uc, err)
	}
	// A new system conversation starts from seq 1.
	res = appendAll(t, a, store.Draft{ConvID: "s:alice", Members: []string{"alice"}, ClientMsgID: "sys1",
		Type: "text", Body: []byte("welcome"), CreatedAt: at(23)})
	if res[0].Duplicate || res[0].Seq != 1 {
		t.Errorf("new alice's system message = %+v, want seq 1", res[0])
	}
}

func testDeleteUserErasesMessages(t *testing.T, s store.Store) {
	a, ctx := lifecycleSetup(t, s), t.Context()
	must(t, a.DeleteUser(ctx, "bob", store.UserDeletion{At: at(10), EraseMessages: true}), "DeleteUser(bob, erase)")
	msgs, err := a.ListMessages(ctx, "c1", store.Range{From: 1, Limit: 10})
	must(t, err, "ListMessages(c1)")
	for _, m := range msgs {
		erased := len(m.Body) == 0 && m.RecalledAt.Equal(at(10))
		if erased != (m.SenderID == "bob") {
			t.Errorf("message %d from %s after erasing bob: body %q recalled %v", m.Seq, m.SenderID, m.Body, m.RecalledAt)
		}
	}
	// A message to a conversation whose member was deleted does not bring
	// the deleted user back.
	appendAll(t, a, draft("c1", "alice", "m4", 11))
	_, err = a.GetUserConversation(ctx, "bob", "c1")
	wantErr(t, err, store.ErrNotFound, "GetUserConversation(deleted bob, c1) after a new message")
	if uc, err := a.GetUserConversation(ctx, "alice", "c1"); err != nil || uc.MaxSeq != 4 {
		t.Errorf("alice's entry = %+v, %v, want max seq 4", uc, err)
	}
}

func testTombstonesExpire(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	must(t, a.CreateUser(ctx, newUser("u1")), "CreateUser(u1)")
	must(t, a.DeleteUser(ctx, "u1", store.UserDeletion{At: at(10)}), "DeleteUser(u1)")
	_, err := s.DeleteExpired(ctx, at(10).Add(store.TombstoneRetention).Add(time.Second), at(0))
	must(t, err, "DeleteExpired")
	must(t, a.CreateUser(ctx, newUser("u1")), "CreateUser(u1 again)")
	if u, err := a.GetUser(ctx, "u1"); err != nil || !u.TokensValidAfter.IsZero() {
		t.Errorf("GetUser(u1) after the tombstone expired = %+v, %v, want no token restriction", u, err)
	}
	// Another app's id of the same name was never deleted.
	b := s.App("B")
	must(t, a.DeleteUser(ctx, "u1", store.UserDeletion{At: at(40)}), "DeleteUser(u1) again")
	must(t, b.CreateUser(ctx, newUser("u1")), "B.CreateUser(u1)")
	if u, err := b.GetUser(ctx, "u1"); err != nil || !u.TokensValidAfter.IsZero() {
		t.Errorf("B.GetUser(u1) = %+v, %v, want no token restriction from app A's tombstone", u, err)
	}
}
