package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
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
		Role: store.RoleAdmin, PasswordHash: "$2a$10$hash" + id, CreatedAt: at(10), Version: 1,
	}
}

var memberTests = []test{
	{"CreateGet", testMemberCreateGet},
	{"LastOwner", testLastOwner},
	{"DuplicateEmail", testMemberDuplicateEmail},
	{"DuplicateID", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		must(t, s.CreateMember(ctx, newMember("m1", "t1", "ann@example.com")), "CreateMember")
		err := s.CreateMember(ctx, newMember("m1", "t1", "bob@example.com"))
		wantErr(t, err, store.ErrConflict, "CreateMember(m1 again)")
		err = s.CreateMember(ctx, newMember("m1", "t2", "bob@example.com"))
		wantErr(t, err, store.ErrConflict, "CreateMember(m1 again, in t2)")
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
	{"ListByEmail", testMemberListByEmail},
	{"Update", testMemberUpdate},
	{"Delete", testMemberDelete},
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
		list, err := s.ListMembersByEmail(ctx, want.Email, 10)
		if err != nil || !sameAll(list, []store.Member{want}, normMember) {
			t.Errorf("ListMembersByEmail(%q) = %+v, %v, want [%+v]", want.Email, list, err, want)
		}
	}
	_, err := s.GetMember(ctx, "nobody")
	wantErr(t, err, store.ErrNotFound, "GetMember(%q)", "nobody")
	list, err := s.ListMembersByEmail(ctx, "nobody@example.com", 10)
	if err != nil || len(list) != 0 {
		t.Errorf("ListMembersByEmail(%q) = %+v, %v, want none", "nobody@example.com", list, err)
	}
}

// testMemberDuplicateEmail checks that emails are unique per tenant (the
// operators counting as one), and only there.
func testMemberDuplicateEmail(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := newMember("m1", "t1", "ann@example.com")
	must(t, s.CreateMember(ctx, first), "CreateMember(m1)")
	op := func(id string) store.Member {
		m := newMember(id, "", "ann@example.com")
		m.Role = store.RoleOperator
		return m
	}
	tests := []struct {
		m    store.Member
		want error
	}{
		{newMember("m2", "t1", "ann@example.com"), store.ErrConflict},
		{newMember("m3", "t2", "ann@example.com"), nil}, // another tenant
		{op("op1"), nil}, // the operators
		{op("op2"), store.ErrConflict},
		{newMember("m4", "t2", "ann@example.com"), store.ErrConflict},
	}
	for _, tc := range tests {
		err := s.CreateMember(ctx, tc.m)
		if tc.want == nil {
			must(t, err, "CreateMember(%s in %q)", tc.m.ID, tc.m.TenantID)
			continue
		}
		wantErr(t, err, tc.want, "CreateMember(%s in %q with a taken email)", tc.m.ID, tc.m.TenantID)
		_, err = s.GetMember(ctx, tc.m.ID)
		wantErr(t, err, store.ErrNotFound, "GetMember(%q) after conflict", tc.m.ID)
	}
	got, err := s.GetMember(ctx, "m1")
	if err != nil || !same(got, first, normMember) {
		t.Errorf("GetMember(m1) = %+v, %v, want %+v", got, err, first)
	}
}

func testMemberListByEmail(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, m := range []store.Member{
		newMember("m3", "t3", "ann@example.com"),
		newMember("m1", "t1", "ann@example.com"),
		newMember("m2", "t2", "ann@example.com"),
		newMember("m9", "t1", "bob@example.com"),
		newMember("m0", "", "ann@example.com"),
	} {
		must(t, s.CreateMember(ctx, m), "CreateMember(%s)", m.ID)
	}
	tests := []struct {
		email string
		limit int
		want  []string
	}{
		{"ann@example.com", 10, []string{"m0", "m1", "m2", "m3"}},
		{"ann@example.com", 2, []string{"m0", "m1"}},
		{"bob@example.com", 10, []string{"m9"}},
		{"eve@example.com", 10, nil},
	}
	for _, tc := range tests {
		ms, err := s.ListMembersByEmail(ctx, tc.email, tc.limit)
		got := ids(ms, func(m store.Member) string { return m.ID })
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ListMembersByEmail(%q, %d) = %q, %v, want %q", tc.email, tc.limit, got, err, tc.want)
		}
	}
}

func testMemberUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	orig := newMember("m1", "t1", "ann@example.com")
	must(t, s.CreateMember(ctx, orig), "CreateMember")
	must(t, s.CreateMember(ctx, newMember("m2", "t1", "bob@example.com")), "CreateMember")
	upd := orig
	upd.Name, upd.Role, upd.PasswordHash = "Ann B.", store.RoleViewer, "$2a$10$newhash"
	// The immutable fields are ignored.
	upd.TenantID, upd.Email, upd.CreatedAt = "t2", "eve@example.com", at(99)
	must(t, s.UpdateMember(ctx, upd), "UpdateMember(m1)")
	want := orig
	want.Name, want.Role, want.PasswordHash, want.Version = upd.Name, upd.Role, upd.PasswordHash, 2
	got, err := s.GetMember(ctx, "m1")
	if err != nil || !same(got, want, normMember) {
		t.Errorf("GetMember(m1) after update = %+v, %v, want %+v", got, err, want)
	}
	// An update from the version read before is a lost update: refused.
	stale := upd
	stale.PasswordHash = "$2a$10$stale"
	wantErr(t, s.UpdateMember(ctx, stale), store.ErrConflict, "UpdateMember(m1 at version 1 after version 2)")
	other, err := s.GetMember(ctx, "m2")
	if err != nil || other.Name != "Name m2" || other.Role != store.RoleAdmin {
		t.Errorf("GetMember(m2) after updating m1 = %+v, %v, want it unchanged", other, err)
	}
	missing := newMember("m9", "t1", "x@example.com")
	wantErr(t, s.UpdateMember(ctx, missing), store.ErrNotFound, "UpdateMember(m9)")
	_, err = s.GetMember(ctx, "m9")
	wantErr(t, err, store.ErrNotFound, "GetMember(m9) after updating it")
}

func testMemberDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateMember(ctx, newMember("m1", "t1", "ann@example.com")), "CreateMember")
	must(t, s.CreateMember(ctx, newMember("m2", "t1", "bob@example.com")), "CreateMember")
	for h, m := range map[string]string{"h1": "m1", "h2": "m1", "h3": "m2"} {
		se := store.Session{TokenHash: h, MemberID: m, CreatedAt: at(0), ExpiresAt: at(3600)}
		must(t, s.CreateSession(ctx, se), "CreateSession(%s)", h)
	}
	must(t, s.DeleteMember(ctx, "m1"), "DeleteMember(m1)")
	_, err := s.GetMember(ctx, "m1")
	wantErr(t, err, store.ErrNotFound, "GetMember(m1) after delete")
	for _, h := range []string{"h1", "h2"} {
		_, err := s.GetSession(ctx, h, at(1))
		wantErr(t, err, store.ErrNotFound, "GetSession(%s) of a deleted member", h)
	}
	if _, err := s.GetSession(ctx, "h3", at(1)); err != nil {
		t.Errorf("GetSession(h3) of another member = %v, want nil", err)
	}
	if list, err := s.ListMembersByEmail(ctx, "ann@example.com", 10); err != nil || len(list) != 0 {
		t.Errorf("ListMembersByEmail(ann) after delete = %+v, %v, want none", list, err)
	}
	wantErr(t, s.DeleteMember(ctx, "m1"), store.ErrNotFound, "DeleteMember(m1 again)")
	// The email is free again in its tenant.
	must(t, s.CreateMember(ctx, newMember("m3", "t1", "ann@example.com")), "CreateMember(m3 with m1's email)")
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
	{"DeleteOfMember", testDeleteMemberSessions},
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

// testDeleteMemberSessions checks ending a member's sessions, all of them or
// all but the current one.
func testDeleteMemberSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateMember(ctx, newMember("m1", "t1", "ann@example.com")), "CreateMember")
	must(t, s.CreateMember(ctx, newMember("m2", "t1", "bob@example.com")), "CreateMember")
	for h, m := range map[string]string{"a1": "m1", "a2": "m1", "a3": "m1", "b1": "m2"} {
		se := store.Session{TokenHash: h, MemberID: m, CreatedAt: at(0), ExpiresAt: at(3600)}
		must(t, s.CreateSession(ctx, se), "CreateSession(%s)", h)
	}
	alive := func(h string) bool {
		_, err := s.GetSession(ctx, h, at(1))
		return err == nil
	}
	n, err := s.DeleteMemberSessions(ctx, "m1", "a2")
	if err != nil || n != 2 {
		t.Fatalf("DeleteMemberSessions(m1, except a2) = %d, %v, want 2, nil", n, err)
	}
	for h, want := range map[string]bool{"a1": false, "a2": true, "a3": false, "b1": true} {
		if got := alive(h); got != want {
			t.Errorf("session %s alive = %v after ending m1's other sessions, want %v", h, got, want)
		}
	}
	n, err = s.DeleteMemberSessions(ctx, "m1", "")
	if err != nil || n != 1 || alive("a2") || !alive("b1") {
		t.Errorf("DeleteMemberSessions(m1, except none) = %d, %v (a2 alive %v, b1 alive %v), want 1, nil, false, true",
			n, err, alive("a2"), alive("b1"))
	}
	for _, m := range []string{"m1", "nobody"} {
		if n, err := s.DeleteMemberSessions(ctx, m, ""); err != nil || n != 0 {
			t.Errorf("DeleteMemberSessions(%s) with none left = %d, %v, want 0, nil", m, n, err)
		}
	}
}

// testLastOwner: a tenant keeps an owner, even when demotions and
// deletions of its owners race.
func testLastOwner(t *testing.T, s store.Store) {
	ctx := t.Context()
	owner := func(id, tenant string) store.Member {
		m := newMember(id, tenant, id+"@example.com")
		m.Role = store.RoleOwner
		return m
	}
	for _, m := range []store.Member{owner("o1", "t1"), owner("o2", "t1"), owner("o3", "t1"), owner("x1", "t2")} {
		must(t, s.CreateMember(ctx, m), "CreateMember(%s)", m.ID)
	}
	// The other tenant's only owner stays.
	x := owner("x1", "t2")
	x.Role = store.RoleAdmin
	wantErr(t, s.UpdateMember(ctx, x), store.ErrLimit, "UpdateMember(demote t2's last owner)")
	wantErr(t, s.DeleteMember(ctx, "x1"), store.ErrLimit, "DeleteMember(t2's last owner)")
	// Three owners of t1: one demoted and two deleted at once; two of the
	// three changes may happen, never the third.
	var wg sync.WaitGroup
	var done, limited atomic.Int32
	count := func(err error, what string) {
		switch {
		case err == nil:
			done.Add(1)
		case errors.Is(err, store.ErrLimit):
			limited.Add(1)
		default:
			t.Errorf("%s: %v", what, err)
		}
	}
	wg.Go(func() {
		m := owner("o1", "t1")
		m.Role = store.RoleViewer
		count(s.UpdateMember(ctx, m), "UpdateMember(o1)")
	})
	wg.Go(func() { count(s.DeleteMember(ctx, "o2"), "DeleteMember(o2)") })
	wg.Go(func() { count(s.DeleteMember(ctx, "o3"), "DeleteMember(o3)") })
	wg.Wait()
	if done.Load() != 2 || limited.Load() != 1 {
		t.Fatalf("racing changes to t1's three owners: %d done, %d refused; want 2 and 1", done.Load(), limited.Load())
	}
	ms, err := s.ListMembers(ctx, "t1")
	must(t, err, "ListMembers(t1)")
	owners := 0
	for _, m := range ms {
		if m.Role == store.RoleOwner {
			owners++
		}
	}
	if owners != 1 {
		t.Fatalf("t1 has %d owners after the race, want 1", owners)
	}
	// Promoting another member makes room again.
	admin := newMember("a1", "t1", "a1@example.com")
	must(t, s.CreateMember(ctx, admin), "CreateMember(a1)")
	admin.Role = store.RoleOwner
	must(t, s.UpdateMember(ctx, admin), "UpdateMember(promote a1)")
	for _, m := range ms {
		if m.Role == store.RoleOwner {
			must(t, s.DeleteMember(ctx, m.ID), "DeleteMember(%s, with a1 an owner)", m.ID)
		}
	}
}
