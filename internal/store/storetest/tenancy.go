package storetest

import (
	"testing"

	"github.com/magpie-im/magpie/internal/store"
)

// The tenancy tests write through s.App("A") and prove that s.App("B") can
// neither see nor change that data, even under the same ids, and that the
// same ids in B name independent records.
var tenancyTests = []test{
	{"Users", testTenancyUsers},
	{"Idempotency", testTenancyIdempotency},
	{"Messages", testTenancyMessages},
	{"Conversations", testTenancyConversations},
	{"Cursors", testTenancyCursors},
	{"Outbox", testTenancyOutbox},
	{"Push", testTenancyPush},
	{"Webhooks", testTenancyWebhooks},
	{"Support", testTenancySupport},
	{"Groups", testTenancyGroups},
	{"Contacts", testTenancyContacts},
	{"Usage", testTenancyUsage},
	{"Rooms", testTenancyRooms},
	{"Files", testTenancyFiles},
}

func testTenancyUsers(t *testing.T, s store.Store) {
	a, b, ctx := s.App("A"), s.App("B"), t.Context()
	ua := newUser("u1")
	ua.Metadata = map[string]string{"app": "A"}
	must(t, a.CreateUser(ctx, ua), "A.CreateUser")

	_, err := b.GetUser(ctx, "u1")
	wantErr(t, err, store.ErrNotFound, "B.GetUser(u1)")
	wantErr(t, b.UpdateUser(ctx, newUser("u1")), store.ErrNotFound, "B.UpdateUser(u1)")
	wantErr(t, b.SetUserBlocked(ctx, "u1", true, at(1)), store.ErrNotFound, "B.SetUserBlocked(u1)")
	wantErr(t, b.RevokeTokens(ctx, "u1", at(1)), store.ErrNotFound, "B.RevokeTokens(u1)")
	wantErr(t, b.DeleteUser(ctx, "u1", store.UserDeletion{At: at(5)}), store.ErrNotFound, "B.DeleteUser(u1)")
	if us, err := b.ListUsers(ctx, "", 10); err != nil || len(us) != 0 {
		t.Errorf("B.ListUsers = %+v, %v, want none", us, err)
	}

	// The same id in B is a separate user.
	ub := newUser("u1")
	ub.Name = "B's u1"
	errs, err := b.CreateUsers(ctx, []store.User{ub})
	if err != nil || len(errs) != 1 || errs[0] != nil {
		t.Fatalf("B.CreateUsers(u1) = %v, %v, want [nil]", errs, err)
	}
	must(t, b.SetUserBlocked(ctx, "u1", true, at(2)), "B.SetUserBlocked")
	must(t, b.RevokeTokens(ctx, "u1", at(3)), "B.RevokeTokens")
	must(t, b.DeleteUser(ctx, "u1", store.UserDeletion{At: at(5)}), "B.DeleteUser")

	got, err := a.GetUser(ctx, "u1")
	if err != nil || !same(got, ua, normUser) {
		t.Errorf("A.GetUser(u1) after B's changes = %+v, %v, want %+v", got, err, ua)
	}
}

func testTenancyIdempotency(t *testing.T, s store.Store) {
	a, b, ctx := s.App("A"), s.App("B"), t.Context()
	ra := store.Idempotency{Key: "k1", RequestHash: "aa", Status: 201, Body: []byte("A"), CreatedAt: at(1)}
	rb := store.Idempotency{Key: "k1", RequestHash: "bb", Status: 202, Body: []byte("B"), CreatedAt: at(2)}
	_, _, err := a.PutIdempotency(ctx, ra)
	must(t, err, "A.PutIdempotency")

	_, err = b.GetIdempotency(ctx, "k1")
	wantErr(t, err, store.ErrNotFound, "B.GetIdempotency(k1)")
	got, created, err := b.PutIdempotency(ctx, rb)
	if err != nil || !created || !same(got, rb, normIdempotency) {
		t.Errorf("B.PutIdempotency(k1) = %+v, %v, %v, want %+v, true", got, created, err, rb)
	}
	got, err = a.GetIdempotency(ctx, "k1")
	if err != nil || !same(got, ra, normIdempotency) {
		t.Errorf("A.GetIdempotency(k1) = %+v, %v, want %+v", got, err, ra)
	}
}

func testTenancyMessages(t *testing.T, s store.Store) {
	a, b, ctx := s.App("A"), s.App("B"), t.Context()
	msgs := fill(t, a, "c1", 3)

	_, err := b.GetMessage(ctx, "c1", 1)
	wantErr(t, err, store.ErrNotFound, "B.GetMessage(c1, 1)")
	if got, err := b.ListMessages(ctx, "c1", store.Range{Limit: 10}); err != nil || len(got) != 0 {
		t.Errorf("B.ListMessages(c1) = %v, %v, want none", seqsOfMessages(got), err)
	}
	_, err = b.RecallMessage(ctx, "c1", 1, at(9))
	wantErr(t, err, store.ErrNotFound, "B.RecallMessage(c1, 1)")

	// Same conversation id, sender and client id in B: not a duplicate of
	// A's message, and B's seqs start at 1.
	d := draft("c1", "alice", "c1-1", 20)
	d.Body = []byte("B's message")
	res := appendAll(t, b, d)
	checkAppended(t, res, []store.Message{stored(d, 1)}, []bool{false})
	// Repeated in B, it is a duplicate of B's message, not A's.
	res = appendAll(t, b, d)
	checkAppended(t, res, []store.Message{stored(d, 1)}, []bool{true})
	if _, err := b.RecallMessage(ctx, "c1", 1, at(21)); err != nil {
		t.Errorf("B.RecallMessage(c1, 1) = %v, want nil", err)
	}

	got, err := a.ListMessages(ctx, "c1", store.Range{Limit: 10})
	if err != nil || !sameAll(got, msgs, normMessage) {
		t.Errorf("A.ListMessages(c1) after B's writes = %+v, %v, want %+v", got, err, msgs)
	}
	checkMaxSeq(t, a, "c1", 3)
}

func testTenancyConversations(t *testing.T, s store.Store) {
	a, b, ctx := s.App("A"), s.App("B"), t.Context()
	fill(t, a, "c1", 2)

	_, err := b.GetConversation(ctx, "c1")
	wantErr(t, err, store.ErrNotFound, "B.GetConversation(c1)")
	for _, user := range dm {
		if ucs, err := b.ListUserConversations(ctx, user, "", 10); err != nil || len(ucs) != 0 {
			t.Errorf("B.ListUserConversations(%q) = %+v, %v, want none", user, ucs, err)
		}
	}
	_, _, err = b.MarkRead(ctx, "bob", "c1", 2)
	wantErr(t, err, store.ErrNotFound, "B.MarkRead(bob, c1)")

	// B's own c1, with other members.
	d := draft("c1", "carol", "x", 30)
	d.Members = []string{"carol", "dave"}
	appendAll(t, b, d)
	if _, _, err := b.MarkRead(ctx, "dave", "c1", 1); err != nil {
		t.Errorf("B.MarkRead(dave, c1) = %v, want nil", err)
	}

	want := store.Conversation{ID: "c1", Members: dm, MaxSeq: 2, CreatedAt: at(1), UpdatedAt: at(2)}
	got, err := a.GetConversation(ctx, "c1")
	if err != nil || !same(got, want, normConversation) {
		t.Errorf("A.GetConversation(c1) = %+v, %v, want %+v", got, err, want)
	}
	if uc := userConv(t, a, "bob", "c1"); uc.ReadSeq != 0 || uc.MaxSeq != 2 {
		t.Errorf("A: bob's c1 ReadSeq %d, MaxSeq %d, want 0, 2", uc.ReadSeq, uc.MaxSeq)
	}
	if ucs, err := a.ListUserConversations(ctx, "dave", "", 10); err != nil || len(ucs) != 0 {
		t.Errorf("A.ListUserConversations(dave) = %+v, %v, want none", ucs, err)
	}
}

func testTenancyCursors(t *testing.T, s store.Store) {
	a, b, ctx := s.App("A"), s.App("B"), t.Context()
	fill(t, a, "c1", 3)
	_, err := a.AckDelivered(ctx, []store.DeliveryAck{ack("d1", "c1", 1)})
	must(t, err, "A.AckDelivered")

	// B holds no c1: its max seq is 0, so nothing is acknowledged.
	got, err := b.AckDelivered(ctx, []store.DeliveryAck{ack("d1", "c1", 3)})
	if err != nil || len(got) != 1 || got[0] != (store.AckResult{}) {
		t.Errorf("B.AckDelivered(bob d1 c1 3) = %+v, %v, want [{}]", got, err)
	}
	if cur, err := b.GetDeviceCursors(ctx, "bob", "d1"); err != nil || cur["c1"] != 0 {
		t.Errorf("B.GetDeviceCursors(bob, d1) = %v, %v, want no progress in c1", cur, err)
	}
	_, _, err = b.MarkRead(ctx, "bob", "c1", 3)
	wantErr(t, err, store.ErrNotFound, "B.MarkRead(bob, c1)")

	// B's own c1 has cursors of its own, and only B's messages count for
	// ReceivedSeq: bob's own two say nothing new, though A's c1 holds
	// alice's messages at those seqs.
	appendAll(t, b, draft("c1", "bob", "b1", 1), draft("c1", "bob", "b2", 2))
	fill(t, b, "c1", 3)
	ackSteps(t, b, []ackStep{
		{ack("d1", "c1", 2), store.AckResult{DeviceSeq: 2, UserPrev: 0, UserSeq: 2}},
		{ack("d1", "c1", 5), store.AckResult{DeviceSeq: 5, UserPrev: 2, UserSeq: 5, ReceivedSeq: 5}},
	})
	if _, _, err := b.MarkRead(ctx, "bob", "c1", 4); err != nil {
		t.Errorf("B.MarkRead(bob, c1, 4) = %v, want nil", err)
	}

	checkCursors(t, a, "bob", "d1", map[string]int64{"c1": 1})
	checkDelivered(t, a, "bob", "c1", 1)
	if uc := userConv(t, a, "bob", "c1"); uc.ReadSeq != 0 {
		t.Errorf("A: bob's c1 ReadSeq = %d after B.MarkRead, want 0", uc.ReadSeq)
	}
}
