package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/magpie-im/magpie/internal/keyring"
	"github.com/magpie-im/magpie/internal/store/mongo"
	"github.com/magpie-im/magpie/internal/store/mongo/mongotest"
	"github.com/magpie-im/magpie/tenant"
)

func TestMain(m *testing.M) { mongotest.Main(m, removeBinary) }

// TestMigrateAndBootstrap runs magpie migrate and bootstrap against a
// MongoDB-compatible server, twice each: both are idempotent, bootstrap
// prints the secrets only the first time, and the app it created resolves
// with the printed key and secret.
func TestMigrateAndBootstrap(t *testing.T) {
	uri := mongotest.URI(t)
	db := mongotest.DBName()
	mongotest.DropOnCleanup(t, uri, db)
	ctx := t.Context()
	for range 2 {
		var out bytes.Buffer
		if err := run(ctx, []string{"migrate", "--mongo-url", uri, "--mongo-db", db}, &out, os.Stderr); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		if !strings.Contains(out.String(), "store ok") {
			t.Fatalf("migrate printed %q", out.String())
		}
	}
	keyFile := filepath.Join(t.TempDir(), "master.key")
	bootstrap := func() map[string]string {
		t.Helper()
		var out bytes.Buffer
		err := run(ctx, []string{"bootstrap", "--mongo-url", uri, "--mongo-db", db, "--master-key-file", keyFile,
			"--url", "https://im.example.com"}, &out, os.Stderr)
		if err != nil {
			t.Fatalf("bootstrap: %v", err)
		}
		lines := map[string]string{}
		for _, l := range strings.Split(out.String(), "\n") {
			if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(k, "#") {
				lines[k] = v
			}
		}
		return lines
	}
	first := bootstrap()
	if first["operator_password"] == "" || first["app_secret"] == "" || first["console_url"] != "https://im.example.com/console/" {
		t.Fatalf("first bootstrap printed %v", first)
	}
	again := bootstrap()
	if again["operator_password"] != "" || again["app_secret"] != "" || again["app_key"] != first["app_key"] {
		t.Fatalf("second bootstrap printed %v, want the same app and no secrets", again)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("master key file: %v, %v", fi, err)
	}

	// The store holds a working installation: the app resolves with the
	// printed secret, and the operator can log in.
	st, err := mongo.Open(ctx, uri, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	key, _, err := keyring.LoadOrCreate(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := keyring.New(key)
	if err != nil {
		t.Fatal(err)
	}
	tenants := tenant.New(st, keys, tenant.Config{PasswordCost: 4})
	creds, err := tenants.Resolve(ctx, first["app_key"])
	if err != nil || len(creds.Secrets) != 1 || creds.Secrets[0] != first["app_secret"] {
		t.Fatalf("Resolve(printed key) = %+v, %v; want the printed secret", creds, err)
	}
	if _, _, err := tenants.Login(ctx, tenant.LoginInput{Email: first["operator_email"], Password: first["operator_password"]}); err != nil {
		t.Fatalf("operator login with the printed password: %v", err)
	}
	if err := run(ctx, []string{"migrate"}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Fatal("migrate without --mongo-url succeeded")
	}
}
