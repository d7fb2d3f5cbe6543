package storetest

import (
	"slices"
	"testing"

	"github.com/magpie-im/magpie/internal/store"
)

var nonceTests = []test{
	{"UseNonces", testUseNonces},
	{"NoncesExpire", testNoncesExpire},
}

func testUseNonces(t *testing.T, s store.Store) {
	ctx := t.Context()
	exp := at(600)
	got, err := s.UseNonces(ctx, []store.Nonce{
		{AppID: "app_a", Value: "n1", ExpiresAt: exp},
		{AppID: "app_a", Value: "n2", ExpiresAt: exp},
		{AppID: "app_a", Value: "n1", ExpiresAt: exp}, // the same batch
		{AppID: "app_b", Value: "n1", ExpiresAt: exp}, // another app
	})
	must(t, err, "UseNonces")
	if want := []bool{true, true, false, true}; !slices.Equal(got, want) {
		t.Fatalf("UseNonces = %v, want %v", got, want)
	}
	got, err = s.UseNonces(ctx, []store.Nonce{
		{AppID: "app_a", Value: "n2", ExpiresAt: exp},
		{AppID: "app_b", Value: "n2", ExpiresAt: exp},
	})
	must(t, err, "UseNonces again")
	if want := []bool{false, true}; !slices.Equal(got, want) {
		t.Fatalf("UseNonces again = %v, want %v", got, want)
	}
	if got, err := s.UseNonces(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("UseNonces(nil) = %v, %v", got, err)
	}
}

func testNoncesExpire(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.UseNonces(ctx, []store.Nonce{
		{AppID: "app_a", Value: "old", ExpiresAt: at(10)},
		{AppID: "app_a", Value: "new", ExpiresAt: at(20)},
	})
	must(t, err, "UseNonces")
	n, err := s.DeleteExpired(ctx, at(10), at(0))
	must(t, err, "DeleteExpired")
	if n != 1 {
		t.Errorf("DeleteExpired removed %d records, want 1", n)
	}
	got, err := s.UseNonces(ctx, []store.Nonce{
		{AppID: "app_a", Value: "old", ExpiresAt: at(700)},
		{AppID: "app_a", Value: "new", ExpiresAt: at(700)},
	})
	must(t, err, "UseNonces after the sweep")
	if want := []bool{true, false}; !slices.Equal(got, want) {
		t.Fatalf("UseNonces after the sweep = %v, want %v (swept, still held)", got, want)
	}
}
