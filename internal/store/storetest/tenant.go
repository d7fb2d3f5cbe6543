package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

var storeTests = []test{
	{"Ping", func(t *testing.T, s store.Store) {
		must(t, s.Ping(t.Context()), "Ping")
	}},
	{"AppID", func(t *testing.T, s store.Store) {
		for _, id := range []string{"A", "app_2"} {
			if got := s.App(id).AppID(); got != id {
				t.Errorf("App(%q).AppID() = %q, want %q", id, got, id)
			}
		}
	}},
}

var metaTests = []test{
	{"Missing", func(t *testing.T, s store.Store) {
		_, err := s.GetMeta(t.Context(), "bootstrap")
		wantErr(t, err, store.ErrNotFound, "GetMeta(%q)", "bootstrap")
	}},
	{"PutReplaces", testMetaPut},
}

func testMetaPut(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.PutMeta(ctx, "k1", "v1"), "PutMeta")
	must(t, s.PutMeta(ctx, "k2", "other"), "PutMeta")
	must(t, s.PutMeta(ctx, "k1", "v2"), "PutMeta")
	for key, want := range map[string]string{"k1": "v2", "k2": "other"} {
		got, err := s.GetMeta(ctx, key)
		if err != nil || got != want {
			t.Errorf("GetMeta(%q) = %q, %v, want %q", key, got, err, want)
		}
	}
}

var tenantTests = []test{
	{"CreateGet", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		want := store.Tenant{ID: "t1", Name: "Acme", CreatedAt: at(1)}
		must(t, s.CreateTenant(ctx, want), "CreateTenant")
		got, err := s.GetTenant(ctx, "t1")
		if err != nil || !same(got, want, normTenant) {
			t.Errorf("GetTenant(%q) = %+v, %v, want %+v", "t1", got, err, want)
		}
		_, err = s.GetTenant(ctx, "t2")
		wantErr(t, err, store.ErrNotFound, "GetTenant(%q)", "t2")
	}},
	{"Duplicate", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		must(t, s.CreateTenant(ctx, store.Tenant{ID: "t1", Name: "first"}), "CreateTenant")
		err := s.CreateTenant(ctx, store.Tenant{ID: "t1", Name: "second"})
		wantErr(t, err, store.ErrConflict, "CreateTenant(t1 again)")
		got, err := s.GetTenant(ctx, "t1")
		if err != nil || got.Name != "first" {
			t.Errorf("GetTenant(%q) = %+v, %v, want the first tenant", "t1", got, err)
		}
	}},
	{"ListPages", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		want := []string{"t1", "t2", "t3", "t4", "t5", "t6", "t7"}
		for _, i := range []int{4, 0, 6, 2, 5, 1, 3} { // out of id order
			must(t, s.CreateTenant(ctx, store.Tenant{ID: want[i], CreatedAt: at(int64(i))}), "CreateTenant")
		}
		checkPaging(t, "ListTenants", want, func(after string, limit int) ([]string, error) {
			ts, err := s.ListTenants(ctx, after, limit)
			return ids(ts, func(x store.Tenant) string { return x.ID }), err
		})
	}},
}

func newMember(id, tenantID, email string) store.Member {
	return store.Member{
		ID: id, TenantID: tenantID, Email: email, Name: "Name " + id,
		Role: store.RoleAdmin, PasswordHash: "$2a$10$hash" + id, CreatedAt: at(10),
	}
}

var memberTests = []test{
	{"CreateGet", testMemberCreateGet},
	{"DuplicateEmail", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		first := newMember("m1", "t1", "ann@example.com")
		must(t, s.CreateMember(ctx, first), "CreateMember")
		err := s.CreateMember(ctx, newMember("m2", "t2", "ann@example.com"))
		wantErr(t, err, store.ErrConflict, "CreateMember(m2 with the email of m1)")
		_, err = s.GetMember(ctx, "m2")
		wantErr(t, err, store.ErrNotFound, "GetMember(%q) after conflict", "m2")
		got, err := s.GetMemberByEmail(ctx, "ann@example.com")
		if err != nil || !same(got, first, normMember) {
			t.Errorf("GetMemberByEmail = %+v, %v, want %+v", got, err, first)
		}
	}},
	{"DuplicateID", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		must(t, s.CreateMember(ctx, newMember("m1", "t1", "ann@example.com")), "CreateMember")
		err := s.CreateMember(ctx, newMember("m1", "t1", "bob@example.com"))
		wantErr(t, err, store.ErrConflict, "CreateMember(m1 again)")
	}},
	{"ListByTenant", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		for _, m := range []store.Member{
			newMember("m3", "t1", "c@example.com"),
			newMember("m1", "t1", "a@example.com"),
			newMember("m2", "t2", "b@example.com"),
			newMember("m4", "t1", "d@example.com"),
			newMember("op", "", "op@example.com"),
		} {
			must(t, s.CreateMember(ctx, m), "CreateMember(%s)", m.ID)
		}
		for tenant, want := range map[string][]string{
			"t1": {"m1", "m3", "m4"}, "t2": {"m2"}, "": {"op"}, "t9": nil,
		} {
			ms, err := s.ListMembers(ctx, tenant)
			got := ids(ms, func(m store.Member) string { return m.ID })
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("ListMembers(%q) = %q, %v, want %q", tenant, got, err, want)
			}
		}
	}},
}

func testMemberCreateGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	op := newMember("op", "", "root@example.com")
	op.Role = store.RoleOperator
	owner := newMember("m1", "t1", "ann@example.com")
	owner.Role = store.RoleOwner
	for _, m := range []store.Member{op, owner} {
		must(t, s.CreateMember(ctx, m), "CreateMember(%s)", m.ID)
	}
	for _, want := range []store.Member{op, owner} {
		got, err := s.GetMember(ctx, want.ID)
		if err != nil || !same(got, want, normMember) {
			t.Errorf("GetMember(%q) = %+v, %v, want %+v", want.ID, got, err, want)
		}
		got, err = s.GetMemberByEmail(ctx, want.Email)
		if err != nil || !same(got, want, normMember) {
			t.Errorf("GetMemberByEmail(%q) = %+v, %v, want %+v", want.Email, got, err, want)
		}
	}
	_, err := s.GetMember(ctx, "nobody")
	wantErr(t, err, store.ErrNotFound, "GetMember(%q)", "nobody")
	_, err = s.GetMemberByEmail(ctx, "nobody@example.com")
	wantErr(t, err, store.ErrNotFound, "GetMemberByEmail(%q)", "nobody@example.com")
}

var sessionTests = []test{
	{"Expiry", testSessionExpiry},
	{"Delete", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		must(t, s.CreateMember(ctx, newMember("m1", "t1", "ann@example.com")), "CreateMember")
		for _, h := range []string{"h1", "h2"} {
			se := store.Session{TokenHash: h, MemberID: "m1", CreatedAt: at(0), ExpiresAt: at(3600)}
			must(t, s.CreateSession(ctx, se), "CreateSession(%s)", h)
		}
		must(t, s.DeleteSession(ctx, "h1"), "DeleteSession(h1)")
		_, err := s.GetSession(ctx, "h1", at(1))
		wantErr(t, err, store.ErrNotFound, "GetSession(h1) after delete")
		if _, err := s.GetSession(ctx, "h2", at(1)); err != nil {
			t.Errorf("GetSession(h2) after deleting h1 = %v, want nil", err)
		}
	}},
	{"DeleteExpired", testDeleteExpired},
	{"Duplicate", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		must(t, s.CreateMember(ctx, newMember("m1", "t1", "ann@example.com")), "CreateMember")
		se := store.Session{TokenHash: "h1", MemberID: "m1", CreatedAt: at(0), ExpiresAt: at(60)}
		must(t, s.CreateSession(ctx, se), "CreateSession")
		wantErr(t, s.CreateSession(ctx, se), store.ErrConflict, "CreateSession(h1 again)")
	}},
}

func testSessionExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateMember(ctx, newMember("m1", "t1", "ann@example.com")), "CreateMember")
	want := store.Session{TokenHash: "h1", MemberID: "m1", CreatedAt: at(0), ExpiresAt: at(60)}
	must(t, s.CreateSession(ctx, want), "CreateSession")
	tests := []struct {
		now   time.Time
		valid bool
	}{
		{at(0), true},
		{at(60).Add(-time.Millisecond), true},
		{at(60), false}, // a session expires at ExpiresAt
		{at(61), false},
	}
	for _, tc := range tests {
		got, err := s.GetSession(ctx, "h1", tc.now)
		call := fmt.Sprintf("GetSession(%q, %v)", "h1", tc.now)
		if !tc.valid {
			wantErr(t, err, store.ErrNotFound, "%s", call)
			continue
		}
		if err != nil || !same(got, want, normSession) {
			t.Errorf("%s = %+v, %v, want %+v", call, got, err, want)
		}
	}
	_, err := s.GetSession(ctx, "nope", at(0))
	wantErr(t, err, store.ErrNotFound, "GetSession(%q)", "nope")
}

// testDeleteExpired checks the maintenance sweep: expired sessions and old
// idempotency records go, in every app; everything else stays.
func testDeleteExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateMember(ctx, newMember("m1", "t1", "ann@example.com")), "CreateMember")
	for h, exp := range map[string]int64{"old": 60, "edge": 100, "live": 3600} {
		must(t, s.CreateSession(ctx, store.Session{TokenHash: h, MemberID: "m1", CreatedAt: at(0), ExpiresAt: at(exp)}), "CreateSession(%s)", h)
	}
	for _, app := range []string{"A", "B"} {
		for k, created := range map[string]int64{"k-old": 10, "k-new": 500} {
			_, _, err := s.App(app).PutIdempotency(ctx, store.Idempotency{Key: k, RequestHash: "h", Status: 201, Body: []byte("{}"), CreatedAt: at(created)})
			must(t, err, "PutIdempotency(%s, %s)", app, k)
		}
	}
	n, err := s.DeleteExpired(ctx, at(100), at(400))
	if err != nil || n != 4 { // sessions old and edge, k-old in A and B
		t.Fatalf("DeleteExpired = %d, %v, want 4, nil", n, err)
	}
	for h, alive := range map[string]bool{"old": false, "edge": false, "live": true} {
		_, err := s.GetSession(ctx, h, at(0))
		if (err == nil) != alive {
			t.Errorf("session %s after sweep: err %v, want alive %v", h, err, alive)
		}
	}
	for _, app := range []string{"A", "B"} {
		_, err := s.App(app).GetIdempotency(ctx, "k-old")
		wantErr(t, err, store.ErrNotFound, "App(%s).GetIdempotency(k-old) after sweep", app)
		_, err = s.App(app).GetIdempotency(ctx, "k-new")
		must(t, err, "App(%s).GetIdempotency(k-new) after sweep", app)
	}
}
