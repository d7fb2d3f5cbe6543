package storetest

import (
	"testing"

	"github.com/magpie-im/magpie/internal/store"
)

func newApp(id, tenantID, key string) store.App {
	return store.App{
		ID: id, TenantID: tenantID, Name: "App " + id, Key: key,
		CreatedAt: at(20), UpdatedAt: at(20),
	}
}

// fullApp returns an app with every field set.
func fullApp() store.App {
	a := newApp("a1", "t1", "pk_a1")
	a.Disabled = true
	a.Limits = store.Limits{
		MaxMessageBytes: 4096, APIRate: 12.5, APIBurst: 30, ConnRate: 2.5,
		SendRate: 5, SendBurst: 10, MaxGroupSize: 200, MaxDevicesPerUser: 3,
	}
	a.Settings = store.Settings{
		DevicePolicy:   "refuse",
		AllowedOrigins: []string{"https://a.example", "https://b.example"},
	}
	return a
}

var appTests = []test{
	{"CreateGet", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		plain, full := newApp("a0", "t1", "pk_a0"), fullApp()
		for _, want := range []store.App{plain, full} {
			must(t, s.CreateApp(ctx, want), "CreateApp(%s)", want.ID)
		}
		for _, want := range []store.App{plain, full} {
			got, err := s.GetApp(ctx, want.ID)
			if err != nil || !same(got, want, normApp) {
				t.Errorf("GetApp(%q) = %+v, %v, want %+v", want.ID, got, err, want)
			}
			got, err = s.GetAppByKey(ctx, want.Key)
			if err != nil || !same(got, want, normApp) {
				t.Errorf("GetAppByKey(%q) = %+v, %v, want %+v", want.Key, got, err, want)
			}
		}
		_, err := s.GetApp(ctx, "nope")
		wantErr(t, err, store.ErrNotFound, "GetApp(%q)", "nope")
		_, err = s.GetAppByKey(ctx, "pk_nope")
		wantErr(t, err, store.ErrNotFound, "GetAppByKey(%q)", "pk_nope")
	}},
	{"Duplicate", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		must(t, s.CreateApp(ctx, newApp("a1", "t1", "pk_1")), "CreateApp")
		err := s.CreateApp(ctx, newApp("a1", "t1", "pk_2"))
		wantErr(t, err, store.ErrConflict, "CreateApp(same id, new key)")
		err = s.CreateApp(ctx, newApp("a2", "t2", "pk_1"))
		wantErr(t, err, store.ErrConflict, "CreateApp(new id, same key)")
		_, err = s.GetApp(ctx, "a2")
		wantErr(t, err, store.ErrNotFound, "GetApp(%q) after conflict", "a2")
		_, err = s.GetAppByKey(ctx, "pk_2")
		wantErr(t, err, store.ErrNotFound, "GetAppByKey(%q) after conflict", "pk_2")
	}},
	{"Update", testAppUpdate},
	{"ListPages", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		want := []string{"a1", "a2", "a3", "a4", "a5"}
		for _, id := range []string{"a3", "a5", "a1", "a4", "a2"} {
			must(t, s.CreateApp(ctx, newApp(id, "t1", "pk_"+id)), "CreateApp(%s)", id)
		}
		for _, id := range []string{"a0", "a9", "b1"} { // another tenant's
			must(t, s.CreateApp(ctx, newApp(id, "t2", "pk_"+id)), "CreateApp(%s)", id)
		}
		checkPaging(t, "ListApps(t1)", want, func(after string, limit int) ([]string, error) {
			as, err := s.ListApps(ctx, "t1", after, limit)
			return ids(as, func(a store.App) string { return a.ID }), err
		})
		got, err := s.ListApps(ctx, "t3", "", 10)
		if err != nil || len(got) != 0 {
			t.Errorf("ListApps(t3) = %+v, %v, want none", got, err)
		}
	}},
}

func testAppUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	orig := newApp("a1", "t1", "pk_a1")
	must(t, s.CreateApp(ctx, orig), "CreateApp")

	upd := fullApp()
	upd.Name = "Renamed"
	upd.UpdatedAt = at(99)
	// Immutable fields: UpdateApp must leave them alone.
	upd.TenantID, upd.Key, upd.CreatedAt = "t9", "pk_changed", at(50)
	must(t, s.UpdateApp(ctx, upd), "UpdateApp")

	want := upd
	want.TenantID, want.Key, want.CreatedAt = orig.TenantID, orig.Key, orig.CreatedAt
	got, err := s.GetApp(ctx, "a1")
	if err != nil || !same(got, want, normApp) {
		t.Errorf("GetApp(%q) after update = %+v, %v, want %+v", "a1", got, err, want)
	}
	if _, err := s.GetAppByKey(ctx, "pk_a1"); err != nil {
		t.Errorf("GetAppByKey(%q) after update = %v, want the app", "pk_a1", err)
	}

	missing := newApp("nope", "t1", "pk_nope")
	wantErr(t, s.UpdateApp(ctx, missing), store.ErrNotFound, "UpdateApp(%q)", "nope")
	_, err = s.GetApp(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "GetApp(%q) after failed update", "nope")
}

var secretTests = []test{
	{"AddListRevoke", testSecrets},
	{"RevokeMissing", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		for _, a := range []store.App{newApp("a1", "t1", "pk_1"), newApp("a2", "t1", "pk_2")} {
			must(t, s.CreateApp(ctx, a), "CreateApp(%s)", a.ID)
		}
		sec := store.Secret{ID: "s1", AppID: "a1", Sealed: []byte{1}, Hint: "abcd", CreatedAt: at(1)}
		must(t, s.AddSecret(ctx, sec), "AddSecret")
		wantErr(t, s.RevokeSecret(ctx, "a1", "s9", at(2)), store.ErrNotFound, "RevokeSecret(a1, s9)")
		// The secret belongs to a1: a2 cannot revoke it.
		wantErr(t, s.RevokeSecret(ctx, "a2", "s1", at(2)), store.ErrNotFound, "RevokeSecret(a2, s1)")
		got, err := s.ListSecrets(ctx, "a1")
		if err != nil || len(got) != 1 || !got[0].Active() {
			t.Errorf("ListSecrets(a1) = %+v, %v, want s1 active", got, err)
		}
		got, err = s.ListSecrets(ctx, "a2")
		if err != nil || len(got) != 0 {
			t.Errorf("ListSecrets(a2) = %+v, %v, want none", got, err)
		}
	}},
}

func testSecrets(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateApp(ctx, newApp("a1", "t1", "pk_1")), "CreateApp")
	s1 := store.Secret{ID: "s1", AppID: "a1", Sealed: []byte("sealed-1"), Hint: "1111", CreatedAt: at(5)}
	s2 := store.Secret{ID: "s2", AppID: "a1", Sealed: []byte("sealed-2"), Hint: "2222", CreatedAt: at(3)}
	s3 := store.Secret{ID: "s3", AppID: "a1", Sealed: []byte("sealed-3"), Hint: "3333", CreatedAt: at(8)}
	for _, sec := range []store.Secret{s1, s2, s3} { // not in age order
		must(t, s.AddSecret(ctx, sec), "AddSecret(%s)", sec.ID)
	}
	must(t, s.RevokeSecret(ctx, "a1", "s2", at(9)), "RevokeSecret(s2)")

	s2.RevokedAt = at(9)
	want := []store.Secret{s2, s1, s3} // oldest first, revoked included
	got, err := s.ListSecrets(ctx, "a1")
	if err != nil || !sameAll(got, want, normSecret) {
		t.Errorf("ListSecrets(a1) = %+v, %v, want %+v", got, err, want)
	}
	for _, sec := range got {
		if wantActive := sec.ID != "s2"; sec.Active() != wantActive {
			t.Errorf("secret %s Active() = %v, want %v", sec.ID, sec.Active(), wantActive)
		}
	}
}
