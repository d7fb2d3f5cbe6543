package storetest

import (
	"sync"
	"testing"

	"github.com/magpie-im/magpie/internal/store"
)

var contactTests = []test{
	{"Requests", testContactRequests},
	{"RequestPaging", testContactRequestPaging},
	{"Friendship", testContactFriendship},
	{"FriendLimit", testContactFriendLimit},
	{"Blocks", testContactBlocks},
	{"Relation", testContactRelation},
	{"DeleteUser", testContactDeleteUser},
}

func friendIDs(fs []store.Friend) []string {
	return ids(fs, func(f store.Friend) string { return f.FriendID })
}

func testContactRequests(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	r := store.FriendRequest{FromID: "u1", ToID: "u2", Message: "hi", CreatedAt: at(1)}
	must(t, a.PutFriendRequest(ctx, r), "PutFriendRequest")
	got, err := a.GetFriendRequest(ctx, "u1", "u2")
	if err != nil || got.Message != "hi" || !got.CreatedAt.Equal(at(1)) || got.FromID != "u1" || got.ToID != "u2" {
		t.Errorf("GetFriendRequest = %+v, %v", got, err)
	}
	_, err = a.GetFriendRequest(ctx, "u2", "u1")
	wantErr(t, err, store.ErrNotFound, "GetFriendRequest(reverse)")

	// Sending again replaces it.
	r.Message, r.CreatedAt = "again", at(2)
	must(t, a.PutFriendRequest(ctx, r), "PutFriendRequest again")
	got, err = a.GetFriendRequest(ctx, "u1", "u2")
	if err != nil || got.Message != "again" || !got.CreatedAt.Equal(at(2)) {
		t.Errorf("GetFriendRequest after replace = %+v, %v", got, err)
	}
	in, err := a.ListFriendRequests(ctx, "u2", true, "", 10)
	if err != nil || len(in) != 1 || in[0].FromID != "u1" || in[0].Message != "again" {
		t.Errorf("ListFriendRequests(u2 incoming) = %+v, %v", in, err)
	}
	out, err := a.ListFriendRequests(ctx, "u1", false, "", 10)
	if err != nil || len(out) != 1 || out[0].ToID != "u2" {
		t.Errorf("ListFriendRequests(u1 outgoing) = %+v, %v", out, err)
	}
	if none, err := a.ListFriendRequests(ctx, "u1", true, "", 10); err != nil || len(none) != 0 {
		t.Errorf("ListFriendRequests(u1 incoming) = %+v, %v, want none", none, err)
	}
	must(t, a.DeleteFriendRequest(ctx, "u1", "u2"), "DeleteFriendRequest")
	wantErr(t, a.DeleteFriendRequest(ctx, "u1", "u2"), store.ErrNotFound, "DeleteFriendRequest again")
	_, err = a.GetFriendRequest(ctx, "u1", "u2")
	wantErr(t, err, store.ErrNotFound, "GetFriendRequest after delete")
}

func testContactRequestPaging(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	others := []string{"a1", "b2", "c3", "d4", "e5"}
	for i, o := range others {
		must(t, a.PutFriendRequest(ctx, store.FriendRequest{FromID: o, ToID: "me", CreatedAt: at(int64(i))}), "Put %s -> me", o)
		must(t, a.PutFriendRequest(ctx, store.FriendRequest{FromID: "me", ToID: o, CreatedAt: at(int64(i))}), "Put me -> %s", o)
	}
	// Noise: requests among others.
	must(t, a.PutFriendRequest(ctx, store.FriendRequest{FromID: "a1", ToID: "b2", CreatedAt: at(9)}), "Put a1 -> b2")
	checkPaging(t, "incoming", others, func(after string, limit int) ([]string, error) {
		rs, err := a.ListFriendRequests(ctx, "me", true, after, limit)
		return ids(rs, func(r store.FriendRequest) string { return r.FromID }), err
	})
	checkPaging(t, "outgoing", others, func(after string, limit int) ([]string, error) {
		rs, err := a.ListFriendRequests(ctx, "me", false, after, limit)
		return ids(rs, func(r store.FriendRequest) string { return r.ToID }), err
	})
}

func testContactFriendship(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	must(t, a.PutFriendRequest(ctx, store.FriendRequest{FromID: "u1", ToID: "u2", CreatedAt: at(1)}), "Put u1 -> u2")
	must(t, a.PutFriendRequest(ctx, store.FriendRequest{FromID: "u2", ToID: "u1", CreatedAt: at(1)}), "Put u2 -> u1")
	must(t, a.PutFriendRequest(ctx, store.FriendRequest{FromID: "u3", ToID: "u1", CreatedAt: at(1)}), "Put u3 -> u1")
	must(t, a.AddFriendship(ctx, "u1", "u2", at(2), 0), "AddFriendship")
	for _, p := range [][2]string{{"u1", "u2"}, {"u2", "u1"}} {
		f, err := a.GetFriend(ctx, p[0], p[1])
		if err != nil || f.UserID != p[0] || f.FriendID != p[1] || f.Remark != "" || !f.CreatedAt.Equal(at(2)) {
			t.Errorf("GetFriend(%s, %s) = %+v, %v", p[0], p[1], f, err)
		}
		_, err = a.GetFriendRequest(ctx, p[0], p[1])
		wantErr(t, err, store.ErrNotFound, "GetFriendRequest(%s, %s) after befriending", p[0], p[1])
	}
	if _, err := a.GetFriendRequest(ctx, "u3", "u1"); err != nil {
		t.Errorf("another user's request went: %v", err)
	}
	// A remark is one side's.
	must(t, a.SetFriendRemark(ctx, "u1", "u2", "Bobby"), "SetFriendRemark")
	if f, err := a.GetFriend(ctx, "u1", "u2"); err != nil || f.Remark != "Bobby" {
		t.Errorf("GetFriend(u1, u2) = %+v, %v, want remark Bobby", f, err)
	}
	if f, err := a.GetFriend(ctx, "u2", "u1"); err != nil || f.Remark != "" {
		t.Errorf("GetFriend(u2, u1) = %+v, %v, want no remark", f, err)
	}
	wantErr(t, a.SetFriendRemark(ctx, "u1", "u3", "x"), store.ErrNotFound, "SetFriendRemark(not a friend)")
	// Adding again keeps the sides as they are.
	must(t, a.AddFriendship(ctx, "u2", "u1", at(5), 0), "AddFriendship again")
	if f, err := a.GetFriend(ctx, "u1", "u2"); err != nil || f.Remark != "Bobby" || !f.CreatedAt.Equal(at(2)) {
		t.Errorf("GetFriend(u1, u2) after adding again = %+v, %v", f, err)
	}
	must(t, a.AddFriendship(ctx, "u1", "u4", at(3), 0), "AddFriendship(u1, u4)")
	must(t, a.AddFriendship(ctx, "u1", "u0", at(3), 0), "AddFriendship(u1, u0)")
	checkPaging(t, "ListFriends(u1)", []string{"u0", "u2", "u4"}, func(after string, limit int) ([]string, error) {
		fs, err := a.ListFriends(ctx, "u1", after, limit)
		return friendIDs(fs), err
	})
	must(t, a.RemoveFriendship(ctx, "u2", "u1"), "RemoveFriendship")
	wantErr(t, a.RemoveFriendship(ctx, "u1", "u2"), store.ErrNotFound, "RemoveFriendship again")
	for _, p := range [][2]string{{"u1", "u2"}, {"u2", "u1"}} {
		_, err := a.GetFriend(ctx, p[0], p[1])
		wantErr(t, err, store.ErrNotFound, "GetFriend(%s, %s) after removal", p[0], p[1])
	}
	if fs, err := a.ListFriends(ctx, "u2", "", 10); err != nil || len(fs) != 0 {
		t.Errorf("ListFriends(u2) = %+v, %v, want none", fs, err)
	}
}

func testContactFriendLimit(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	must(t, a.AddFriendship(ctx, "u1", "f1", at(1), 2), "AddFriendship(f1)")
	must(t, a.AddFriendship(ctx, "u1", "f2", at(1), 2), "AddFriendship(f2)")
	must(t, a.PutFriendRequest(ctx, store.FriendRequest{FromID: "f3", ToID: "u1", CreatedAt: at(1)}), "Put f3 -> u1")
	wantErr(t, a.AddFriendship(ctx, "f3", "u1", at(1), 2), store.ErrLimit, "AddFriendship(f3) over the limit")
	if _, err := a.GetFriend(ctx, "f3", "u1"); err == nil {
		t.Error("a refused friendship left a side")
	}
	if _, err := a.GetFriendRequest(ctx, "f3", "u1"); err != nil {
		t.Errorf("a refused friendship removed the request: %v", err)
	}
	// Existing friends are no new friends; no limit is no limit.
	must(t, a.AddFriendship(ctx, "u1", "f1", at(1), 2), "AddFriendship(f1) again at the limit")
	must(t, a.AddFriendship(ctx, "u1", "f3", at(1), 0), "AddFriendship(f3) without limit")
}

func testContactBlocks(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	for i, o := range []string{"c", "a", "b"} {
		must(t, a.PutBlock(ctx, store.Block{UserID: "u1", TargetID: o, CreatedAt: at(int64(i + 1))}), "PutBlock(%s)", o)
	}
	must(t, a.PutBlock(ctx, store.Block{UserID: "u1", TargetID: "c", CreatedAt: at(9)}), "PutBlock(c) again")
	must(t, a.PutBlock(ctx, store.Block{UserID: "u2", TargetID: "u1", CreatedAt: at(9)}), "PutBlock(u2 blocks u1)")
	checkPaging(t, "ListBlocks(u1)", []string{"a", "b", "c"}, func(after string, limit int) ([]string, error) {
		bs, err := a.ListBlocks(ctx, "u1", after, limit)
		return ids(bs, func(b store.Block) string { return b.TargetID }), err
	})
	bs, err := a.ListBlocks(ctx, "u1", "b", 1)
	if err != nil || len(bs) != 1 || bs[0].UserID != "u1" || !bs[0].CreatedAt.Equal(at(1)) {
		t.Errorf("ListBlocks(u1 after b) = %+v, %v, want c blocked at %v", bs, err, at(1))
	}
	must(t, a.DeleteBlock(ctx, "u1", "a"), "DeleteBlock")
	wantErr(t, a.DeleteBlock(ctx, "u1", "a"), store.ErrNotFound, "DeleteBlock again")
	wantErr(t, a.DeleteBlock(ctx, "a", "u1"), store.ErrNotFound, "DeleteBlock(reverse)")
}

func testContactRelation(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	rel := func(from, to string, want store.Relation) {
		t.Helper()
		got, err := a.GetRelation(ctx, from, to)
		if err != nil || got != want {
			t.Errorf("GetRelation(%s, %s) = %+v, %v, want %+v", from, to, got, err, want)
		}
	}
	rel("u1", "u2", store.Relation{})
	must(t, a.AddFriendship(ctx, "u1", "u2", at(1), 0), "AddFriendship")
	rel("u1", "u2", store.Relation{Friends: true})
	must(t, a.PutBlock(ctx, store.Block{UserID: "u2", TargetID: "u1", CreatedAt: at(2)}), "PutBlock")
	rel("u1", "u2", store.Relation{Friends: true, Blocked: true})
	rel("u2", "u1", store.Relation{Friends: true, Blocking: true})
	must(t, a.PutBlock(ctx, store.Block{UserID: "u1", TargetID: "u2", CreatedAt: at(2)}), "PutBlock back")
	rel("u1", "u2", store.Relation{Friends: true, Blocked: true, Blocking: true})
	rel("u1", "u3", store.Relation{})
}

func testContactDeleteUser(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	for _, id := range []string{"u1", "u2", "u3"} {
		must(t, a.CreateUser(ctx, newUser(id)), "CreateUser(%s)", id)
	}
	must(t, a.AddFriendship(ctx, "u1", "u2", at(1), 0), "AddFriendship(u1, u2)")
	must(t, a.AddFriendship(ctx, "u2", "u3", at(1), 0), "AddFriendship(u2, u3)")
	must(t, a.PutFriendRequest(ctx, store.FriendRequest{FromID: "u1", ToID: "u3", CreatedAt: at(1)}), "Put u1 -> u3")
	must(t, a.PutFriendRequest(ctx, store.FriendRequest{FromID: "u3", ToID: "u1", CreatedAt: at(1)}), "Put u3 -> u1")
	must(t, a.PutBlock(ctx, store.Block{UserID: "u1", TargetID: "u3", CreatedAt: at(1)}), "PutBlock(u1, u3)")
	must(t, a.PutBlock(ctx, store.Block{UserID: "u3", TargetID: "u1", CreatedAt: at(1)}), "PutBlock(u3, u1)")
	must(t, a.DeleteUser(ctx, "u1", store.UserDeletion{At: at(2)}), "DeleteUser(u1)")

	if fs, err := a.ListFriends(ctx, "u2", "", 10); err != nil || len(fs) != 1 || fs[0].FriendID != "u3" {
		t.Errorf("ListFriends(u2) after deleting u1 = %+v, %v, want u3", fs, err)
	}
	if fs, err := a.ListFriends(ctx, "u1", "", 10); err != nil || len(fs) != 0 {
		t.Errorf("ListFriends(u1) after deleting u1 = %+v, %v, want none", fs, err)
	}
	for _, in := range []bool{true, false} {
		if rs, err := a.ListFriendRequests(ctx, "u3", in, "", 10); err != nil || len(rs) != 0 {
			t.Errorf("ListFriendRequests(u3, incoming %v) = %+v, %v, want none", in, rs, err)
		}
	}
	if bs, err := a.ListBlocks(ctx, "u3", "", 10); err != nil || len(bs) != 0 {
		t.Errorf("ListBlocks(u3) = %+v, %v, want none", bs, err)
	}
	if r, err := a.GetRelation(ctx, "u1", "u3"); err != nil || r != (store.Relation{}) {
		t.Errorf("GetRelation(u1, u3) = %+v, %v, want none", r, err)
	}
}

func testTenancyContacts(t *testing.T, s store.Store) {
	a, b, ctx := s.App("A"), s.App("B"), t.Context()
	must(t, a.AddFriendship(ctx, "u1", "u2", at(1), 0), "A.AddFriendship")
	must(t, a.SetFriendRemark(ctx, "u1", "u2", "A's"), "A.SetFriendRemark")
	must(t, a.PutFriendRequest(ctx, store.FriendRequest{FromID: "u1", ToID: "u3", Message: "A", CreatedAt: at(1)}), "A.PutFriendRequest")
	must(t, a.PutBlock(ctx, store.Block{UserID: "u1", TargetID: "u4", CreatedAt: at(1)}), "A.PutBlock")

	_, err := b.GetFriend(ctx, "u1", "u2")
	wantErr(t, err, store.ErrNotFound, "B.GetFriend")
	wantErr(t, b.SetFriendRemark(ctx, "u1", "u2", "B's"), store.ErrNotFound, "B.SetFriendRemark")
	wantErr(t, b.RemoveFriendship(ctx, "u1", "u2"), store.ErrNotFound, "B.RemoveFriendship")
	_, err = b.GetFriendRequest(ctx, "u1", "u3")
	wantErr(t, err, store.ErrNotFound, "B.GetFriendRequest")
	wantErr(t, b.DeleteFriendRequest(ctx, "u1", "u3"), store.ErrNotFound, "B.DeleteFriendRequest")
	wantErr(t, b.DeleteBlock(ctx, "u1", "u4"), store.ErrNotFound, "B.DeleteBlock")
	if fs, err := b.ListFriends(ctx, "u1", "", 10); err != nil || len(fs) != 0 {
		t.Errorf("B.ListFriends = %+v, %v", fs, err)
	}
	if rs, err := b.ListFriendRequests(ctx, "u3", true, "", 10); err != nil || len(rs) != 0 {
		t.Errorf("B.ListFriendRequests = %+v, %v", rs, err)
	}
	if bs, err := b.ListBlocks(ctx, "u1", "", 10); err != nil || len(bs) != 0 {
		t.Errorf("B.ListBlocks = %+v, %v", bs, err)
	}
	if r, err := b.GetRelation(ctx, "u1", "u2"); err != nil || r != (store.Relation{}) {
		t.Errorf("B.GetRelation = %+v, %v", r, err)
	}
	// B's same ids are B's own; its changes leave A's alone.
	must(t, b.AddFriendship(ctx, "u1", "u2", at(2), 1), "B.AddFriendship")
	must(t, b.RemoveFriendship(ctx, "u1", "u2"), "B.RemoveFriendship")
	must(t, b.PutBlock(ctx, store.Block{UserID: "u1", TargetID: "u4", CreatedAt: at(2)}), "B.PutBlock")
	must(t, b.DeleteBlock(ctx, "u1", "u4"), "B.DeleteBlock")
	if f, err := a.GetFriend(ctx, "u1", "u2"); err != nil || f.Remark != "A's" {
		t.Errorf("A.GetFriend after B's changes = %+v, %v", f, err)
	}
	if r, err := a.GetRelation(ctx, "u1", "u4"); err != nil || !r.Blocking {
		t.Errorf("A.GetRelation(u1, u4) after B's changes = %+v, %v", r, err)
	}
}

// testTwoHandlesFriendship has both handles befriend and unfriend the same
// pairs at once: every pair ends with both sides or neither.
func testTwoHandlesFriendship(t *testing.T, s1, s2 store.Store) {
	ctx := t.Context()
	handles := []store.AppStore{s1.App("A"), s2.App("A")}
	var wg sync.WaitGroup
	for h, a := range handles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				f := string(rune('a' + i))
				if err := a.AddFriendship(ctx, "u", f, at(int64(h)), 0); err != nil {
					t.Errorf("AddFriendship(u, %s): %v", f, err)
				}
			}
		}()
	}
	wg.Wait()
	fs, err := handles[0].ListFriends(ctx, "u", "", 100)
	if err != nil || len(fs) != 10 {
		t.Fatalf("ListFriends(u) = %d friends, %v, want 10", len(fs), err)
	}
	for _, f := range fs {
		if _, err := handles[1].GetFriend(ctx, f.FriendID, "u"); err != nil {
			t.Errorf("GetFriend(%s, u): %v", f.FriendID, err)
		}
	}
}
