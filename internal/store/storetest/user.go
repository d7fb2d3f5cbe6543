package storetest

import (
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

func newUser(id string) store.User {
	return store.User{ID: id, Name: "User " + id, CreatedAt: at(30), UpdatedAt: at(30)}
}

var userTests = []test{
	{"CreateGet", testUserCreateGet},
	{"CreateDuplicate", func(t *testing.T, s store.Store) {
		a, ctx := s.App("A"), t.Context()
		must(t, a.CreateUser(ctx, newUser("u1")), "CreateUser")
		dup := newUser("u1")
		dup.Name = "Impostor"
		wantErr(t, a.CreateUser(ctx, dup), store.ErrConflict, "CreateUser(u1 again)")
		got, err := a.GetUser(ctx, "u1")
		if err != nil || got.Name != "User u1" {
			t.Errorf("GetUser(%q) = %+v, %v, want the first user", "u1", got, err)
		}
	}},
	{"CreateBatch", testCreateUsers},
	{"Update", testUserUpdate},
	{"Delete", func(t *testing.T, s store.Store) {
		a, ctx := s.App("A"), t.Context()
		must(t, a.CreateUser(ctx, newUser("u1")), "CreateUser(u1)")
		must(t, a.CreateUser(ctx, newUser("u2")), "CreateUser(u2)")
		must(t, a.DeleteUser(ctx, "u1", store.UserDeletion{At: at(5)}), "DeleteUser(u1)")
		_, err := a.GetUser(ctx, "u1")
		wantErr(t, err, store.ErrNotFound, "GetUser(%q) after delete", "u1")
		wantErr(t, a.DeleteUser(ctx, "u1", store.UserDeletion{At: at(5)}), store.ErrNotFound, "DeleteUser(%q) twice", "u1")
		wantErr(t, a.DeleteUser(ctx, "u9", store.UserDeletion{At: at(5)}), store.ErrNotFound, "DeleteUser(%q)", "u9")
		if _, err := a.GetUser(ctx, "u2"); err != nil {
			t.Errorf("GetUser(%q) after deleting u1 = %v, want nil", "u2", err)
		}
	}},
	{"ListPages", func(t *testing.T, s store.Store) {
		a, ctx := s.App("A"), t.Context()
		want := []string{"u1", "u2", "u3", "u4", "u5", "u6"}
		for _, id := range []string{"u4", "u2", "u6", "u1", "u5", "u3"} {
			must(t, a.CreateUser(ctx, newUser(id)), "CreateUser(%s)", id)
		}
		checkPaging(t, "ListUsers", want, func(after string, limit int) ([]string, error) {
			us, err := a.ListUsers(ctx, after, limit)
			return ids(us, func(u store.User) string { return u.ID }), err
		})
	}},
	{"Block", testUserBlock},
	{"LastSeen", testUserLastSeen},
	{"RevokeTokens", testRevokeTokens},
}

func testUserCreateGet(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	full := store.User{
		ID: "u2", Name: "Ann", AvatarURL: "https://cdn.example/ann.png",
		Metadata: map[string]string{"plan": "pro", "lang": "fr"},
		Blocked:  true, TokensValidAfter: at(7), CreatedAt: at(1), UpdatedAt: at(2),
	}
	tests := []store.User{
		newUser("u1"), // nil metadata
		full,
	}
	for _, want := range tests {
		must(t, a.CreateUser(ctx, want), "CreateUser(%s)", want.ID)
		got, err := a.GetUser(ctx, want.ID)
		if err != nil || !same(got, want, normUser) {
			t.Errorf("GetUser(%q) = %+v, %v, want %+v", want.ID, got, err, want)
		}
		if want.Metadata == nil && len(got.Metadata) != 0 {
			t.Errorf("GetUser(%q).Metadata = %v, want empty", want.ID, got.Metadata)
		}
	}
	_, err := a.GetUser(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "GetUser(%q)", "nope")
}

func testCreateUsers(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	orig := newUser("u1")
	orig.Metadata = map[string]string{"keep": "me"}
	must(t, a.CreateUser(ctx, orig), "CreateUser(u1)")

	clash := newUser("u1")
	clash.Name, clash.Metadata = "Overwritten", nil
	u2, u3 := newUser("u2"), newUser("u3")
	u2again := newUser("u2")
	u2again.Name = "Second u2"
	errs, err := a.CreateUsers(ctx, []store.User{u2, clash, u3, u2again})
	must(t, err, "CreateUsers")
	want := []error{nil, store.ErrConflict, nil, store.ErrConflict}
	if len(errs) != len(want) {
		t.Fatalf("CreateUsers returned %d results, want %d", len(errs), len(want))
	}
	for i := range want {
		wantErr(t, errs[i], want[i], "CreateUsers result %d", i)
	}
	for _, u := range []store.User{orig, u2, u3} {
		got, err := a.GetUser(ctx, u.ID)
		if err != nil || !same(got, u, normUser) {
			t.Errorf("GetUser(%q) = %+v, %v, want %+v", u.ID, got, err, u)
		}
	}
	errs, err = a.CreateUsers(ctx, nil)
	if err != nil || len(errs) != 0 {
		t.Errorf("CreateUsers(nil) = %v, %v, want no results", errs, err)
	}
}

func testUserUpdate(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	orig := newUser("u1")
	orig.Blocked, orig.TokensValidAfter = true, at(40)
	must(t, a.CreateUser(ctx, orig), "CreateUser")

	steps := []struct {
		name     string
		metadata map[string]string
	}{
		{"set metadata", map[string]string{"a": "1", "b": "2"}},
		{"clear metadata", nil},
	}
	for i, step := range steps {
		upd := store.User{
			ID: "u1", Name: "Renamed " + step.name, AvatarURL: "https://x/" + step.name,
			Metadata: step.metadata, UpdatedAt: at(int64(50 + i)),
			// Fields UpdateUser must not touch:
			Blocked: false, TokensValidAfter: at(1), CreatedAt: at(2),
		}
		must(t, a.UpdateUser(ctx, upd), "UpdateUser(%s)", step.name)
		want := orig
		want.Name, want.AvatarURL, want.Metadata, want.UpdatedAt = upd.Name, upd.AvatarURL, upd.Metadata, upd.UpdatedAt
		got, err := a.GetUser(ctx, "u1")
		if err != nil || !same(got, want, normUser) {
			t.Errorf("GetUser(%q) after %s = %+v, %v, want %+v", "u1", step.name, got, err, want)
		}
	}
	err := a.UpdateUser(ctx, newUser("nope"))
	wantErr(t, err, store.ErrNotFound, "UpdateUser(%q)", "nope")
	_, err = a.GetUser(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "GetUser(%q) after failed update", "nope")
}

func testUserBlock(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	must(t, a.CreateUser(ctx, newUser("u1")), "CreateUser")
	for i, blocked := range []bool{true, true, false} {
		must(t, a.SetUserBlocked(ctx, "u1", blocked, at(int64(60+i))), "SetUserBlocked(%v)", blocked)
		got, err := a.GetUser(ctx, "u1")
		if err != nil || got.Blocked != blocked {
			t.Errorf("GetUser(%q).Blocked after SetUserBlocked(%v) = %v, %v", "u1", blocked, got.Blocked, err)
		}
	}
	err := a.SetUserBlocked(ctx, "nope", true, at(70))
	wantErr(t, err, store.ErrNotFound, "SetUserBlocked(%q)", "nope")
}

func testUserLastSeen(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	must(t, a.CreateUser(ctx, newUser("u1")), "CreateUser")
	if got, err := a.GetUser(ctx, "u1"); err != nil || !got.LastSeenAt.IsZero() {
		t.Errorf("GetUser(u1).LastSeenAt of a new user = %v, %v, want zero", got.LastSeenAt, err)
	}
	// It only moves forward.
	for _, step := range []struct{ set, want int64 }{{50, 50}, {40, 50}, {70, 70}} {
		must(t, a.SetLastSeen(ctx, "u1", at(step.set)), "SetLastSeen(%d)", step.set)
		got, err := a.GetUser(ctx, "u1")
		if err != nil || !got.LastSeenAt.Equal(at(step.want)) {
			t.Errorf("GetUser(u1).LastSeenAt after SetLastSeen(%d) = %v, %v, want %v", step.set, got.LastSeenAt, err, at(step.want))
		}
	}
	// A profile update keeps it.
	must(t, a.UpdateUser(ctx, newUser("u1")), "UpdateUser")
	if got, err := a.GetUser(ctx, "u1"); err != nil || !got.LastSeenAt.Equal(at(70)) {
		t.Errorf("GetUser(u1).LastSeenAt after UpdateUser = %v, %v, want %v", got.LastSeenAt, err, at(70))
	}
	wantErr(t, a.SetLastSeen(ctx, "nope", at(80)), store.ErrNotFound, "SetLastSeen(nope)")
	// Another app's user of the same id is another user.
	b := s.App("B")
	wantErr(t, b.SetLastSeen(ctx, "u1", at(90)), store.ErrNotFound, "B.SetLastSeen(u1)")
	if got, err := a.GetUser(ctx, "u1"); err != nil || !got.LastSeenAt.Equal(at(70)) {
		t.Errorf("GetUser(u1).LastSeenAt after B.SetLastSeen = %v, %v, want %v", got.LastSeenAt, err, at(70))
	}
}

func testRevokeTokens(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	must(t, a.CreateUser(ctx, newUser("u1")), "CreateUser")
	steps := []struct {
		before, want time.Time
	}{
		{at(100), at(100)},
		{at(50), at(100)}, // never moves back
		{at(100), at(100)},
		{at(200), at(200)},
	}
	for _, step := range steps {
		must(t, a.RevokeTokens(ctx, "u1", step.before), "RevokeTokens(%v)", step.before)
		got, err := a.GetUser(ctx, "u1")
		if err != nil || !normTime(got.TokensValidAfter).Equal(step.want) {
			t.Errorf("TokensValidAfter after RevokeTokens(%v) = %v, %v, want %v",
				step.before, got.TokensValidAfter, err, step.want)
		}
	}
	wantErr(t, a.RevokeTokens(ctx, "nope", at(1)), store.ErrNotFound, "RevokeTokens(%q)", "nope")
}

var idempotencyTests = []test{
	{"PutGet", func(t *testing.T, s store.Store) {
		a, ctx := s.App("A"), t.Context()
		_, err := a.GetIdempotency(ctx, "k1")
		wantErr(t, err, store.ErrNotFound, "GetIdempotency(%q)", "k1")

		first := store.Idempotency{Key: "k1", RequestHash: "aa", Status: 201, Body: []byte(`{"id":1}`), CreatedAt: at(1)}
		got, created, err := a.PutIdempotency(ctx, first)
		if err != nil || !created || !same(got, first, normIdempotency) {
			t.Errorf("PutIdempotency(first) = %+v, %v, %v, want %+v, true", got, created, err, first)
		}
		second := store.Idempotency{Key: "k1", RequestHash: "bb", Status: 409, Body: []byte(`{"id":2}`), CreatedAt: at(2)}
		got, created, err = a.PutIdempotency(ctx, second)
		if err != nil || created || !same(got, first, normIdempotency) {
			t.Errorf("PutIdempotency(second) = %+v, %v, %v, want %+v, false", got, created, err, first)
		}
		got, err = a.GetIdempotency(ctx, "k1")
		if err != nil || !same(got, first, normIdempotency) {
			t.Errorf("GetIdempotency(%q) = %+v, %v, want %+v", "k1", got, err, first)
		}
	}},
	{"IndependentKeys", func(t *testing.T, s store.Store) {
		a, ctx := s.App("A"), t.Context()
		for _, k := range []string{"k1", "k2"} {
			r := store.Idempotency{Key: k, RequestHash: "h" + k, Status: 200, Body: []byte(k), CreatedAt: at(1)}
			if _, created, err := a.PutIdempotency(ctx, r); err != nil || !created {
				t.Errorf("PutIdempotency(%q) = %v, %v, want created", k, created, err)
			}
		}
	}},
}
