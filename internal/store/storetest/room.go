package storetest

import (
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
	if rs, err := b.ListRooms(ctx, "", 10); err != nil || len(rs) != 0 {
		t.Errorf("B.ListRooms = %+v, %v, want none", rs, err)
	}
	// B's same id is B's own.
	rb := newRoom("r1")
	rb.Name = "B's"
	must(t, b.CreateRoom(ctx, rb), "B.CreateRoom")
	_, err = b.SetRoomMuted(ctx, "r1", "u1", true, at(3))
	must(t, err, "B.SetRoomMuted")
	must(t, b.DeleteRoom(ctx, "r1"), "B.DeleteRoom")
	got, err := a.GetRoom(ctx, "r1")
	if err != nil || !same(got, ra, normRoom) {
		t.Errorf("A.GetRoom after B's changes = %+v, %v, want %+v", got, err, ra)
	}
}
