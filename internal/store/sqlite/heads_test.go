package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// The head and cursor caches must never hand a batch a stale value: another
// Store on the same file, a removal from a group and a deleted user all
// change what they hold.

func cacheUsers(t *testing.T, a store.AppStore, ids ...string) {
	t.Helper()
	at := time.UnixMilli(1_700_000_000_000)
	users := make([]store.User, len(ids))
	for i, id := range ids {
		users[i] = store.User{ID: id, CreatedAt: at, UpdatedAt: at}
	}
	if _, err := a.CreateUsers(t.Context(), users); err != nil {
		t.Fatal(err)
	}
}

func appendOne(t *testing.T, a store.AppStore, conv, from, to, id string) int64 {
	t.Helper()
	return appendIn(t, a, conv, from, to, id, 1_700_000_000_000)
}

// appendIn appends one message from from to to in conv at ms.
func appendIn(t *testing.T, a store.AppStore, conv, from, to, id string, ms int64) int64 {
	t.Helper()
	out, err := a.AppendMessages(t.Context(), []store.Draft{{
		ConvID: conv, Members: []string{to}, SenderID: from, ClientMsgID: id,
		Type: "text", Body: []byte(`{"text":"x"}`), CreatedAt: time.UnixMilli(ms),
	}})
	if err != nil {
		t.Fatal(err)
	}
	return out[0].Seq
}

func ackOne(t *testing.T, a store.AppStore, user, conv string, seq int64) store.AckResult {
	t.Helper()
	return ackDevice(t, a, user, "d1", conv, seq)
}

// ackDevice acknowledges seq in conv for user's device.
func ackDevice(t *testing.T, a store.AppStore, user, device, conv string, seq int64) store.AckResult {
	t.Helper()
	out, err := a.AckDelivered(t.Context(), []store.DeliveryAck{{UserID: user, DeviceID: device, ConvID: conv, Seq: seq}})
	if err != nil {
		t.Fatal(err)
	}
	return out[0]
}

func TestCachesFollowAnotherStore(t *testing.T) {
	s1 := openTemp(t)
	s2 := openAgain(t, s1)
	a1, a2 := s1.App("app"), s2.App("app")
	cacheUsers(t, a1, "u1", "u2")
	const conv = "p:u1:u2"
	if seq := appendOne(t, a1, conv, "u1", "u2", "m1"); seq != 1 {
		t.Fatalf("first seq %d", seq)
	}
	ackOne(t, a1, "u2", conv, 1) // s1 caches seq 1 and the cursors at 1
	if seq := appendOne(t, a2, conv, "u1", "u2", "m2"); seq != 2 {
		t.Fatalf("second seq through the other store %d", seq)
	}
	if seq := appendOne(t, a2, conv, "u1", "u2", "m3"); seq != 3 {
		t.Fatalf("third seq through the other store %d", seq)
	}
	ackOne(t, a2, "u2", conv, 3)
	// s1's caches say seq 1 and cursor 1: it must read the new state.
	if seq := appendOne(t, a1, conv, "u1", "u2", "m4"); seq != 4 {
		t.Fatalf("seq after the other store's appends = %d, want 4", seq)
	}
	r := ackOne(t, a1, "u2", conv, 2)
	if r.DeviceSeq != 3 || r.UserSeq != 3 {
		t.Fatalf("an older ack after the other store's moved the cursor back: %+v", r)
	}
	got, err := a1.GetDeviceCursors(t.Context(), "u2", "d1")
	if err != nil || got[conv] != 3 {
		t.Fatalf("stored cursor %v, %v; want 3", got, err)
	}
}

func TestCursorCacheForgetsRemovedMember(t *testing.T) {
	s := openTemp(t)
	a := s.App("app")
	ctx := t.Context()
	cacheUsers(t, a, "owner", "m")
	at := time.UnixMilli(1_700_000_000_000)
	g := store.Group{ID: "g1", Name: "g", OwnerID: "owner", Policy: store.JoinOpen, CreatedAt: at, UpdatedAt: at}
	err := a.CreateGroup(ctx, g, []store.GroupMember{{UserID: "owner", Role: store.GroupRoleOwner, JoinedAt: at}, {UserID: "m", Role: store.GroupRoleMember, JoinedAt: at}})
	if err != nil {
		t.Fatal(err)
	}
	conv := store.GroupConvID("g1")
	seq := appendOne(t, a, conv, "owner", "m", "x1")
	if r := ackOne(t, a, "m", conv, seq); r.DeviceSeq != seq {
		t.Fatalf("member's ack %+v", r)
	}
	if _, err := a.RemoveGroupMembers(ctx, "g1", []string{"m"}); err != nil {
		t.Fatal(err)
	}
	seq = appendOne(t, a, conv, "owner", "", "x2")
	if r := ackOne(t, a, "m", conv, seq); r != (store.AckResult{}) {
		t.Fatalf("a removed member's ack moved a cursor: %+v", r)
	}
}

func TestHeadCacheForgetsDeletedUser(t *testing.T) {
	s := openTemp(t)
	a := s.App("app")
	ctx := context.WithoutCancel(t.Context())
	cacheUsers(t, a, "u1", "u2")
	const conv = "p:u1:u2"
	appendOne(t, a, conv, "u1", "u2", "m1")
	appendOne(t, a, conv, "u1", "u2", "m2")
	if err := a.DeleteUser(ctx, "u2", store.UserDeletion{At: time.UnixMilli(1_700_000_000_001)}); err != nil {
		t.Fatal(err)
	}
	cacheUsers(t, a, "u2")
	seq := appendOne(t, a, conv, "u1", "u2", "m3")
	if seq != 3 {
		t.Fatalf("seq after the member's deletion %d, want 3", seq)
	}
	// The re-created user has an entry again (the rejoin the cache must
	// not skip), starting at the new message.
	uc, err := a.GetUserConversation(ctx, "u2", conv)
	if err != nil {
		t.Fatalf("re-created member has no entry: %v", err)
	}
	if uc.FirstSeq != 3 {
		t.Fatalf("re-created member's first seq %d, want 3", uc.FirstSeq)
	}
}

func TestReceivedSeqWithWarmCaches(t *testing.T) {
	s := openTemp(t)
	a := s.App("app")
	cacheUsers(t, a, "u1", "u2")
	const conv = "p:u1:u2"
	appendOne(t, a, conv, "u1", "u2", "a1")
	ackOne(t, a, "u2", conv, 1) // warms the caches
	appendOne(t, a, conv, "u1", "u2", "a2")
	appendOne(t, a, conv, "u2", "u1", "b1") // the head is u2's own message
	if r := ackOne(t, a, "u2", conv, 3); r.UserPrev != 1 || r.UserSeq != 3 || r.ReceivedSeq != 2 {
		t.Fatalf("ack up to the user's own message: %+v, want received 2", r)
	}
	appendOne(t, a, conv, "u1", "u2", "a3")
	if r := ackOne(t, a, "u2", conv, 4); r.UserPrev != 3 || r.UserSeq != 4 || r.ReceivedSeq != 4 {
		t.Fatalf("ack up to the partner's message: %+v, want received 4", r)
	}
	appendOne(t, a, conv, "u2", "u1", "b2")
	if r := ackOne(t, a, "u2", conv, 5); r.UserSeq != 5 || r.ReceivedSeq != 0 {
		t.Fatalf("ack over only the user's own message: %+v, want received 0", r)
	}
}

func TestExecRefusesCachedState(t *testing.T) {
	for _, q := range []string{
		`UPDATE conversations SET max_seq = 9 WHERE app_id = ?1`,
		`DELETE FROM user_conversations WHERE app_id = ?1`,
		`UPDATE user_conversations SET delivered_seq = 3 WHERE app_id = ?1`,
		`INSERT INTO device_cursors (app_id) VALUES (?1)`,
	} {
		if !changesCached(q) {
			t.Errorf("changesCached(%q) = false", q)
		}
	}
	for _, q := range []string{
		`UPDATE user_conversations SET muted = ?4 WHERE app_id = ?1`,
		`UPDATE users SET last_seen_at = ?3 WHERE app_id = ?1`,
	} {
		if changesCached(q) {
			t.Errorf("changesCached(%q) = true", q)
		}
	}
	a := openTemp(t).App("app")
	if _, err := a.(*appStore).exec(t.Context(), `UPDATE conversations SET max_seq = 9 WHERE app_id = ?1`); err == nil {
		t.Fatal("exec changed a conversation's max seq outside a transaction")
	}
}
