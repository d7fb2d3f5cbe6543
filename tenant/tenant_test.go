package tenant_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/magpie-im/magpie/internal/keyring"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/store/sqlite"
	"github.com/magpie-im/magpie/tenant"
)

func newService(t *testing.T) (*tenant.Service, store.Store) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := keyring.New(bytes.Repeat([]byte{3}, keyring.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return tenant.New(st, keys, tenant.Config{PasswordCost: bcrypt.MinCost}), st
}

func TestSecretsSealedAndResolved(t *testing.T) {
	s, st := newService(t)
	ctx := context.Background()
	tn, _ := s.CreateTenant(ctx, "Acme")
	app, sec, err := s.CreateApp(ctx, tn.ID, "Chat")
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := st.ListSecrets(ctx, app.ID)
	if len(stored) != 1 || bytes.Contains(stored[0].Sealed, []byte(sec.Plain)) {
		t.Fatalf("secret stored in the clear: %+v", stored)
	}
	creds, err := s.Resolve(ctx, app.Key)
	if err != nil || len(creds.Secrets) != 1 || creds.Secrets[0] != sec.Plain {
		t.Fatalf("Resolve = %+v, %v", creds, err)
	}
	if _, err := s.Resolve(ctx, "mk_unknown"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Resolve(unknown) = %v, want ErrNotFound", err)
	}
	// A rotation is visible at once through this service's cache.
	next, err := s.RotateSecret(ctx, app.ID)
	if err != nil {
		t.Fatal(err)
	}
	creds, _ = s.Resolve(ctx, app.Key)
	if len(creds.Secrets) != 2 || creds.Secrets[0] != next.Plain {
		t.Fatalf("after rotation Resolve secrets = %d, newest first %v", len(creds.Secrets), creds.Secrets[0] == next.Plain)
	}
}

func TestConcurrentRevokesKeepOneSecret(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	tn, _ := s.CreateTenant(ctx, "Acme")
	app, first, _ := s.CreateApp(ctx, tn.ID, "Chat")
	second, err := s.RotateSecret(ctx, app.ID)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, id := range []string{first.ID, second.ID, first.ID, second.ID} {
		wg.Go(func() { _ = s.RevokeSecret(ctx, app.ID, id) })
	}
	wg.Wait()
	secrets, _ := s.ListSecrets(ctx, app.ID)
	active := 0
	for _, sec := range secrets {
		if sec.Active() {
			active++
		}
	}
	if active != 1 {
		t.Fatalf("%d active secrets after concurrent revokes, want 1", active)
	}
	var wg2 sync.WaitGroup
	for range 4 {
		wg2.Go(func() { _, _ = s.RotateSecret(ctx, app.ID) })
	}
	wg2.Wait()
	secrets, _ = s.ListSecrets(ctx, app.ID)
	active = 0
	for _, sec := range secrets {
		if sec.Active() {
			active++
		}
	}
	if active != tenant.MaxActiveSecrets {
		t.Fatalf("%d active secrets after concurrent rotations, want %d", active, tenant.MaxActiveSecrets)
	}
}

func TestMembersAndSessions(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	tn, _ := s.CreateTenant(ctx, "Acme")
	for _, in := range []tenant.MemberInput{
		{TenantID: tn.ID, Email: "not-an-email", Role: store.RoleOwner, Password: "long enough pass"},
		{TenantID: tn.ID, Email: "a@b.c", Role: "god", Password: "long enough pass"},
		{TenantID: tn.ID, Email: "a@b.c", Role: store.RoleOwner, Password: "short"},
		{TenantID: "tn_missing", Email: "a@b.c", Role: store.RoleOwner, Password: "long enough pass"},
		{TenantID: tn.ID, Email: "a@b.c", Role: store.RoleOperator, Password: "long enough pass"},
	} {
		if _, err := s.CreateMember(ctx, in); err == nil {
			t.Errorf("CreateMember(%+v) succeeded", in)
		}
	}
	if _, err := s.CreateMember(ctx, tenant.MemberInput{TenantID: tn.ID, Email: "Owner@Acme.test", Role: store.RoleOwner, Password: "long enough pass"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Login(ctx, tenant.LoginInput{Email: "owner@acme.test", Password: "wrong password!"}); !errors.Is(err, tenant.ErrBadCredentials) {
		t.Fatalf("Login with a wrong password = %v", err)
	}
	if _, _, err := s.Login(ctx, tenant.LoginInput{Email: "nobody@acme.test", Password: "long enough pass"}); !errors.Is(err, tenant.ErrBadCredentials) {
		t.Fatalf("Login of an unknown email = %v", err)
	}
	tok, _, err := s.Login(ctx, tenant.LoginInput{Email: "OWNER@acme.test", Password: "long enough pass"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.SessionMember(ctx, tok)
	if err != nil || m.Email != "owner@acme.test" || !tenant.CanManage(m, tn.ID) || tenant.CanManage(m, "tn_other") {
		t.Fatalf("SessionMember = %+v, %v", m, err)
	}
	if err := s.Logout(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionMember(ctx, tok); !errors.Is(err, tenant.ErrBadCredentials) {
		t.Fatalf("session after logout = %v", err)
	}
}
