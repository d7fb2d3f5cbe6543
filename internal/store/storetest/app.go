package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/magpie-im/magpie/internal/store"
)

func newApp(id, tenantID, key string) store.App {
	return store.App{
		ID: id, TenantID: tenantID, Name: "App " + id, Key: key,
		CreatedAt: at(20), UpdatedAt: at(20), Version: 1,
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
	want.TenantID, want.Key, want.CreatedAt, want.Version = orig.TenantID, orig.Key, orig.CreatedAt, 2
	got, err := s.GetApp(ctx, "a1")
	if err != nil || !same(got, want, normApp) {
		t.Errorf("GetApp(%q) after update = %+v, %v, want %+v", "a1", got, err, want)
	}
	// An update from the version read before is a lost update: refused.
	stale := upd
	stale.Name = "Stale"
	wantErr(t, s.UpdateApp(ctx, stale), store.ErrConflict, "UpdateApp(version 1 after version 2)")
	if got, err := s.GetApp(ctx, "a1"); err != nil || got.Name != "Renamed" || got.Version != 2 {
		t.Errorf("GetApp(%q) after a stale update = %+v, %v, want the update before it", "a1", got, err)
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
	{"Limits", testSecretLimits},
	{"RevokeMissing", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		for _, a := range []store.App{newApp("a1", "t1", "pk_1"), newApp("a2", "t1", "pk_2")} {
			must(t, s.CreateApp(ctx, a), "CreateApp(%s)", a.ID)
		}
		sec := store.Secret{ID: "s1", AppID: "a1", Sealed: []byte{1}, Hint: "abcd", CreatedAt: at(1)}
		must(t, s.AddSecret(ctx, sec, 0), "AddSecret")
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
		must(t, s.AddSecret(ctx, sec, 0), "AddSecret(%s)", sec.ID)
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

// testSecretLimits: AddSecret keeps to maxActive and RevokeSecret keeps one
// secret active, also when many calls race.
func testSecretLimits(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateApp(ctx, newApp("a1", "t1", "pk_1")), "CreateApp")
	sec := func(id string) store.Secret {
		return store.Secret{ID: id, AppID: "a1", Sealed: []byte(id), Hint: id, CreatedAt: at(1)}
	}
	must(t, s.AddSecret(ctx, sec("s1"), 2), "AddSecret(s1)")
	wantErr(t, s.RevokeSecret(ctx, "a1", "s1", at(2)), store.ErrLimit, "RevokeSecret(the last active)")
	// Ten rotations at once: exactly one finds room for a second secret.
	var wg sync.WaitGroup
	var ok, limited atomic.Int32
	for i := range 10 {
		wg.Go(func() {
			switch err := s.AddSecret(ctx, sec(fmt.Sprint("r", i)), 2); {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, store.ErrLimit):
				limited.Add(1)
			default:
				t.Errorf("AddSecret(r%d): %v", i, err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || limited.Load() != 9 {
		t.Fatalf("concurrent AddSecret with max 2: %d added, %d refused; want 1 and 9", ok.Load(), limited.Load())
	}
	// Both revoked at once: exactly one may go.
	secrets, err := s.ListSecrets(ctx, "a1")
	must(t, err, "ListSecrets")
	var revoked, kept atomic.Int32
	for _, x := range secrets {
		wg.Go(func() {
			switch err := s.RevokeSecret(ctx, "a1", x.ID, at(3)); {
			case err == nil:
				revoked.Add(1)
			case errors.Is(err, store.ErrLimit):
				kept.Add(1)
			default:
				t.Errorf("RevokeSecret(%s): %v", x.ID, err)
			}
		})
	}
	wg.Wait()
	if revoked.Load() != 1 || kept.Load() != 1 {
		t.Fatalf("concurrent RevokeSecret of the two active: %d revoked, %d refused; want 1 and 1", revoked.Load(), kept.Load())
	}
	wantErr(t, s.AddSecret(ctx, sec("x"), 2), nil, "AddSecret after a revocation")
	wantErr(t, s.AddSecret(ctx, sec("y"), 2), store.ErrLimit, "AddSecret(third active)")
	wantErr(t, s.AddSecret(ctx, store.Secret{ID: "z", AppID: "nope", CreatedAt: at(1)}, 2), store.ErrNotFound, "AddSecret(unknown app)")
}
