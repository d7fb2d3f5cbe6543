package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/magpie-im/magpie/internal/store"
)

var roomTests = []test{
	{"CreateGet", testRoomCreateGet},
	{"List", testRoomList},
	{"Mute", testRoomMute},
	{"ConcurrentMutes", testRoomConcurrentMutes},
	{"Delete", testRoomDelete},
	{"Update", testRoomUpdate},
	{"ConcurrentUpdates", testRoomConcurrentUpdates},
	{"Bans", testRoomBans},
	{"BansGoWithRoom", testRoomBansGoWithRoom},
	{"BansGoWithUser", testRoomBansGoWithUser},
}

func newRoom(id string) store.Room {
	return store.Room{ID: id, Name: "room " + id, OwnerID: "owner", HistorySize: 20, RateLimit: 2.5, MaxMembers: 1000,
		CreatedAt: at(1), UpdatedAt: at(1)}
}

func normRoom(x store.Room) store.Room {
	x.CreatedAt, x.UpdatedAt = normTime(x.CreatedAt), normTime(x.UpdatedAt)
	x.Muted = nilIfEmpty(x.Muted)
	return x
}

func testRoomCreateGet(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	r := newRoom("r1")
	r.Muted = []string{"u2", "u1"}
	must(t, a.CreateRoom(ctx, r), "CreateRoom")
	got, err := a.GetRoom(ctx, "r1")
	want := r
	want.Muted = []string{"u1", "u2"}
	if err != nil || !same(got, want, normRoom) {
		t.Errorf("GetRoom = %+v, %v, want %+v", got, err, want)
	}
	wantErr(t, a.CreateRoom(ctx, newRoom("r1")), store.ErrConflict, "CreateRoom(r1) again")
	_, err = a.GetRoom(ctx, "r2")
	wantErr(t, err, store.ErrNotFound, "GetRoom(r2)")
	// Zero settings and no owner are stored as they are.
	must(t, a.CreateRoom(ctx, store.Room{ID: "r0", CreatedAt: at(2), UpdatedAt: at(2)}), "CreateRoom(r0)")
	got, err = a.GetRoom(ctx, "r0")
	if err != nil || !same(got, store.Room{ID: "r0", CreatedAt: at(2), UpdatedAt: at(2)}, normRoom) {
		t.Errorf("GetRoom(r0) = %+v, %v", got, err)
	}
}

func testRoomList(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	want := []string{"a", "b", "c", "d", "e"}
	for _, id := range []string{"c", "a", "e", "b", "d"} {
		must(t, a.CreateRoom(ctx, newRoom(id)), "CreateRoom(%s)", id)
	}
	checkPaging(t, "ListRooms", want, func(after string, limit int) ([]string, error) {
		rs, err := a.ListRooms(ctx, after, limit)
		return ids(rs, func(r store.Room) string { return r.ID }), err
	})
}

func testRoomMute(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	must(t, a.CreateRoom(ctx, newRoom("r1")), "CreateRoom")
	for _, step := range []struct {
		user  string
		muted bool
		want  []string
	}{
		{"u2", true, []string{"u2"}},
		{"u1", true, []string{"u1", "u2"}},
		{"u1", true, []string{"u1", "u2"}},
		{"u3", false, []string{"u1", "u2"}},
		{"u2", false, []string{"u1"}},
		{"u1", false, nil},
	} {
		got, err := a.SetRoomMuted(ctx, "r1", step.user, step.muted, at(5))
		if err != nil || !same(got.Muted, step.want, nilIfEmpty) || !got.UpdatedAt.Equal(at(5)) || got.Name != "room r1" {
			t.Errorf("SetRoomMuted(%s, %v) = %+v, %v, want muted %q", step.user, step.muted, got, err, step.want)
		}
		if r, err := a.GetRoom(ctx, "r1"); err != nil || !same(r.Muted, step.want, nilIfEmpty) {
			t.Errorf("GetRoom after SetRoomMuted(%s, %v) = %+v, %v", step.user, step.muted, r, err)
		}
	}
	_, err := a.SetRoomMuted(ctx, "nope", "u1", true, at(6))
	wantErr(t, err, store.ErrNotFound, "SetRoomMuted(nope)")
}

// testRoomConcurrentMutes mutes users of one room from several goroutines:
// no mute is lost.
func testRoomConcurrentMutes(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	must(t, a.CreateRoom(ctx, newRoom("r1")), "CreateRoom")
	users := []string{"u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7"}
	var wg sync.WaitGroup
	errs := make([]error, len(users))
	for i, u := range users {
		wg.Go(func() { _, errs[i] = a.SetRoomMuted(ctx, "r1", u, true, at(3)) })
	}
	wg.Wait()
	for i, err := range errs {
		must(t, err, "SetRoomMuted(%s)", users[i])
	}
	got, err := a.GetRoom(ctx, "r1")
	if err != nil || !same(got.Muted, users, nilIfEmpty) {
		t.Errorf("GetRoom after concurrent mutes = %q, %v, want %q", got.Muted, err, users)
	}
}

func testRoomDelete(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	must(t, a.CreateRoom(ctx, newRoom("r1")), "CreateRoom")
	must(t, a.DeleteRoom(ctx, "r1"), "DeleteRoom")
	wantErr(t, a.DeleteRoom(ctx, "r1"), store.ErrNotFound, "DeleteRoom again")
	_, err := a.GetRoom(ctx, "r1")
	wantErr(t, err, store.ErrNotFound, "GetRoom after delete")
	// The id can be taken again.
	must(t, a.CreateRoom(ctx, newRoom("r1")), "CreateRoom again")
}

func ptr[T any](v T) *T { return &v }

func testRoomUpdate(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	r := newRoom("r1")
	r.Muted = []string{"u1"}
	must(t, a.CreateRoom(ctx, r), "CreateRoom")
	// Nothing set: only UpdatedAt moves.
	got, err := a.UpdateRoom(ctx, "r1", store.RoomUpdate{}, at(4))
	want := r
	want.UpdatedAt = at(4)
	if err != nil || !same(got, want, normRoom) {
		t.Errorf("UpdateRoom(nothing) = %+v, %v, want %+v", got, err, want)
	}
	// Some fields: the others, and the mutes, stay.
	got, err = a.UpdateRoom(ctx, "r1", store.RoomUpdate{Name: ptr("renamed"), RateLimit: ptr(0.5)}, at(5))
	want.Name, want.RateLimit, want.UpdatedAt = "renamed", 0.5, at(5)
	if err != nil || !same(got, want, normRoom) {
		t.Errorf("UpdateRoom(name, rate) = %+v, %v, want %+v", got, err, want)
	}
	// Every field, to zero values (the defaults, no owner).
	got, err = a.UpdateRoom(ctx, "r1", store.RoomUpdate{Name: ptr(""), OwnerID: ptr(""), HistorySize: ptr(0),
		RateLimit: ptr(0.0), MaxMembers: ptr(0)}, at(6))
	want = store.Room{ID: "r1", Muted: []string{"u1"}, CreatedAt: at(1), UpdatedAt: at(6)}
	if err != nil || !same(got, want, normRoom) {
		t.Errorf("UpdateRoom(zeros) = %+v, %v, want %+v", got, err, want)
	}
	if stored, err := a.GetRoom(ctx, "r1"); err != nil || !same(stored, want, normRoom) {
		t.Errorf("GetRoom after UpdateRoom = %+v, %v, want %+v", stored, err, want)
	}
	got, err = a.UpdateRoom(ctx, "r1", store.RoomUpdate{OwnerID: ptr("u9"), HistorySize: ptr(7), MaxMembers: ptr(3)}, at(7))
	if err != nil || got.OwnerID != "u9" || got.HistorySize != 7 || got.MaxMembers != 3 || got.Name != "" {
		t.Errorf("UpdateRoom(owner, history, max) = %+v, %v", got, err)
	}
	_, err = a.UpdateRoom(ctx, "nope", store.RoomUpdate{Name: ptr("x")}, at(8))
	wantErr(t, err, store.ErrNotFound, "UpdateRoom(nope)")
	if _, err := a.GetRoom(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateRoom(nope) created a room: GetRoom = %v", err)
	}
}

// testRoomConcurrentUpdates changes different fields of one room and
// mutes its users from several goroutines: no change is lost.
func testRoomConcurrentUpdates(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	must(t, a.CreateRoom(ctx, newRoom("r1")), "CreateRoom")
	updates := []store.RoomUpdate{{Name: ptr("n")}, {OwnerID: ptr("o")}, {HistorySize: ptr(9)}, {RateLimit: ptr(7.0)}, {MaxMembers: ptr(5)}}
	var wg sync.WaitGroup
	errs := make([]error, 2*len(updates))
	for i, u := range updates {
		wg.Go(func() { _, errs[i] = a.UpdateRoom(ctx, "r1", u, at(3)) })
		wg.Go(func() { _, errs[len(updates)+i] = a.SetRoomMuted(ctx, "r1", fmt.Sprint("u", i), true, at(3)) })
	}
	wg.Wait()
	for i, err := range errs {
		must(t, err, "change %d", i)
	}
	got, err := a.GetRoom(ctx, "r1")
	want := store.Room{ID: "r1", Name: "n", OwnerID: "o", HistorySize: 9, RateLimit: 7, MaxMembers: 5,
		Muted: []string{"u0", "u1", "u2", "u3", "u4"}, CreatedAt: at(1), UpdatedAt: at(3)}
	if err != nil || !same(got, want, normRoom) {
		t.Errorf("GetRoom after concurrent changes = %+v, %v, want %+v", got, err, want)
	}
}

func normBan(b store.RoomBan) store.RoomBan {
	b.CreatedAt = normTime(b.CreatedAt)
	return b
}

func testRoomBans(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	must(t, a.CreateRoom(ctx, newRoom("r1")), "CreateRoom(r1)")
	must(t, a.CreateRoom(ctx, newRoom("r2")), "CreateRoom(r2)")
	_, err := a.GetRoomBan(ctx, "r1", "u1")
	wantErr(t, err, store.ErrNotFound, "GetRoomBan before any ban")
	b := store.RoomBan{RoomID: "r1", UserID: "u1", Reason: "spam", CreatedAt: at(2)}
	must(t, a.PutRoomBan(ctx, b), "PutRoomBan")
	if got, err := a.GetRoomBan(ctx, "r1", "u1"); err != nil || !same(got, b, normBan) {
		t.Errorf("GetRoomBan = %+v, %v, want %+v", got, err, b)
	}
	// A ban is of one room.
	_, err = a.GetRoomBan(ctx, "r2", "u1")
	wantErr(t, err, store.ErrNotFound, "GetRoomBan of another room")
	// Banning again replaces the ban.
	b2 := store.RoomBan{RoomID: "r1", UserID: "u1", CreatedAt: at(3)}
	must(t, a.PutRoomBan(ctx, b2), "PutRoomBan again")
	if got, err := a.GetRoomBan(ctx, "r1", "u1"); err != nil || !same(got, b2, normBan) {
		t.Errorf("GetRoomBan after a second ban = %+v, %v, want %+v", got, err, b2)
	}
	wantErr(t, a.PutRoomBan(ctx, store.RoomBan{RoomID: "nope", UserID: "u1", CreatedAt: at(3)}), store.ErrNotFound, "PutRoomBan(nope)")
	_, err = a.GetRoomBan(ctx, "nope", "u1")
	wantErr(t, err, store.ErrNotFound, "GetRoomBan(nope) after a refused ban")

	for _, u := range []string{"u4", "u2", "u5", "u3"} {
		must(t, a.PutRoomBan(ctx, store.RoomBan{RoomID: "r1", UserID: u, CreatedAt: at(4)}), "PutRoomBan(%s)", u)
	}
	must(t, a.PutRoomBan(ctx, store.RoomBan{RoomID: "r2", UserID: "u9", CreatedAt: at(4)}), "PutRoomBan(r2, u9)")
	checkPaging(t, "ListRoomBans", []string{"u1", "u2", "u3", "u4", "u5"}, func(after string, limit int) ([]string, error) {
		bs, err := a.ListRoomBans(ctx, "r1", after, limit)
		return ids(bs, func(b store.RoomBan) string { return b.UserID }), err
	})

	must(t, a.DeleteRoomBan(ctx, "r1", "u1"), "DeleteRoomBan")
	_, err = a.GetRoomBan(ctx, "r1", "u1")
	wantErr(t, err, store.ErrNotFound, "GetRoomBan after DeleteRoomBan")
	wantErr(t, a.DeleteRoomBan(ctx, "r1", "u1"), store.ErrNotFound, "DeleteRoomBan again")
	wantErr(t, a.DeleteRoomBan(ctx, "r1", "u9"), store.ErrNotFound, "DeleteRoomBan of another room's ban")
	if _, err := a.GetRoomBan(ctx, "r2", "u9"); err != nil {
		t.Errorf("r2's ban after a refused DeleteRoomBan of r1: %v", err)
	}
	if bs, err := a.ListRoomBans(ctx, "r2", "", 10); err != nil || len(bs) != 1 || bs[0].UserID != "u9" {
		t.Errorf("ListRoomBans(r2) = %+v, %v, want u9's", bs, err)
	}
}

// testRoomBansGoWithRoom: a deleted room's bans go with it; a room created
// again with its id starts without bans.
func testRoomBansGoWithRoom(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	for _, id := range []string{"r1", "r2"} {
		must(t, a.CreateRoom(ctx, newRoom(id)), "CreateRoom(%s)", id)
		must(t, a.PutRoomBan(ctx, store.RoomBan{RoomID: id, UserID: "u1", CreatedAt: at(2)}), "PutRoomBan(%s)", id)
	}
	must(t, a.DeleteRoom(ctx, "r1"), "DeleteRoom")
	must(t, a.CreateRoom(ctx, newRoom("r1")), "CreateRoom(r1) again")
	_, err := a.GetRoomBan(ctx, "r1", "u1")
	wantErr(t, err, store.ErrNotFound, "GetRoomBan of the re-created room")
	if bs, err := a.ListRoomBans(ctx, "r1", "", 10); err != nil || len(bs) != 0 {
		t.Errorf("ListRoomBans of the re-created room = %+v, %v, want none", bs, err)
	}
	if _, err := a.GetRoomBan(ctx, "r2", "u1"); err != nil {
		t.Errorf("r2's ban after r1's deletion: %v", err)
	}
}

// testRoomBansGoWithUser: a deleted user's bans go with it; the others'
// stay.
func testRoomBansGoWithUser(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	createUsers(t, a, "alice", "bob")
	must(t, a.CreateRoom(ctx, newRoom("r1")), "CreateRoom")
	for _, u := range []string{"alice", "bob"} {
		must(t, a.PutRoomBan(ctx, store.RoomBan{RoomID: "r1", UserID: u, CreatedAt: at(2)}), "PutRoomBan(%s)", u)
	}
	must(t, a.DeleteUser(ctx, "bob", store.UserDeletion{At: at(3)}), "DeleteUser(bob)")
	bs, err := a.ListRoomBans(ctx, "r1", "", 10)
	if err != nil || len(bs) != 1 || bs[0].UserID != "alice" {
		t.Errorf("bans after bob's deletion = %+v, %v, want alice's only", bs, err)
	}
}

func testTenancyRooms(t *testing.T, s store.Store) {
	a, b, ctx := s.App("A"), s.App("B"), t.Context()
	ra := newRoom("r1")
	ra.Name = "A's"
	must(t, a.CreateRoom(ctx, ra), "A.CreateRoom")
	_, err := b.GetRoom(ctx, "r1")
	wantErr(t, err, store.ErrNotFound, "B.GetRoom")
	_, err = b.SetRoomMuted(ctx, "r1", "u1", true, at(2))
	wantErr(t, err, store.ErrNotFound, "B.SetRoomMuted")
	wantErr(t, b.DeleteRoom(ctx, "r1"), store.ErrNotFound, "B.DeleteRoom")
	_, err = b.UpdateRoom(ctx, "r1", store.RoomUpdate{Name: ptr("B's name")}, at(2))
	wantErr(t, err, store.ErrNotFound, "B.UpdateRoom")
	must(t, a.PutRoomBan(ctx, store.RoomBan{RoomID: "r1", UserID: "u1", CreatedAt: at(2)}), "A.PutRoomBan")
	wantErr(t, b.PutRoomBan(ctx, store.RoomBan{RoomID: "r1", UserID: "u2", CreatedAt: at(2)}), store.ErrNotFound, "B.PutRoomBan")
	_, err = b.GetRoomBan(ctx, "r1", "u1")
	wantErr(t, err, store.ErrNotFound, "B.GetRoomBan")
	wantErr(t, b.DeleteRoomBan(ctx, "r1", "u1"), store.ErrNotFound, "B.DeleteRoomBan")
	if bs, err := b.ListRoomBans(ctx, "r1", "", 10); err != nil || len(bs) != 0 {
		t.Errorf("B.ListRoomBans = %+v, %v, want none", bs, err)
	}
	if rs, err := b.ListRooms(ctx, "", 10); err != nil || len(rs) != 0 {
		t.Errorf("B.ListRooms = %+v, %v, want none", rs, err)
	}
	// B's same id is B's own.
	rb := newRoom("r1")
	rb.Name = "B's"
	must(t, b.CreateRoom(ctx, rb), "B.CreateRoom")
	_, err = b.SetRoomMuted(ctx, "r1", "u1", true, at(3))
	must(t, err, "B.SetRoomMuted")
	_, err = b.UpdateRoom(ctx, "r1", store.RoomUpdate{Name: ptr("B's new name")}, at(3))
	must(t, err, "B.UpdateRoom")
	must(t, b.PutRoomBan(ctx, store.RoomBan{RoomID: "r1", UserID: "u2", CreatedAt: at(3)}), "B.PutRoomBan")
	must(t, b.DeleteRoomBan(ctx, "r1", "u2"), "B.DeleteRoomBan")
	must(t, b.PutRoomBan(ctx, store.RoomBan{RoomID: "r1", UserID: "u3", CreatedAt: at(3)}), "B.PutRoomBan(u3)")
	must(t, b.DeleteRoom(ctx, "r1"), "B.DeleteRoom")
	createUsers(t, b, "u1")
	must(t, b.DeleteUser(ctx, "u1", store.UserDeletion{At: at(4)}), "B.DeleteUser(u1)")
	got, err := a.GetRoom(ctx, "r1")
	if err != nil || !same(got, ra, normRoom) {
		t.Errorf("A.GetRoom after B's changes = %+v, %v, want %+v", got, err, ra)
	}
	if bs, err := a.ListRoomBans(ctx, "r1", "", 10); err != nil || len(bs) != 1 || bs[0].UserID != "u1" {
		t.Errorf("A.ListRoomBans after B's changes = %+v, %v, want u1's only", bs, err)
	}
}
