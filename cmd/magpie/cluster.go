package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/magpie-im/magpie/internal/keyring"
	"github.com/magpie-im/magpie/internal/store/mongo"
	"github.com/magpie-im/magpie/tenant"
)

// mongoFlags are the flags of the commands that open the cluster store.
type mongoFlags struct {
	url, db string
	timeout time.Duration
}

func (m *mongoFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&m.url, "mongo-url", "", "MongoDB connection string (mongodb://…; a replica set: writes use majority write concern)")
	fs.StringVar(&m.db, "mongo-db", "magpie", "MongoDB database name")
	fs.DurationVar(&m.timeout, "timeout", time.Minute, "how long the command may take")
}

// open connects to the cluster store and makes sure its indexes exist
// (idempotent: the store depends on its unique indexes).
func (m *mongoFlags) open(ctx context.Context) (*mongo.Store, error) {
	if m.url == "" {
		return nil, errors.New("--mongo-url (MAGPIE_MONGO_URL) is required")
	}
	st, err := mongo.Open(ctx, m.url, m.db)
	if err != nil {
		return nil, err
	}
	if err := st.EnsureIndexes(ctx); err != nil {
		_ = st.Close() // the index error is the one to report
		return nil, err
	}
	return st, nil
}

// runMigrate creates the cluster store's collections and indexes, or
// checks that they exist: safe to run on every deploy, and before any
// gateway or worker starts.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var m mongoFlags
	fs := newFlagSet("migrate", "Create or check the cluster store's collections and indexes (MongoDB). Idempotent:\n"+
		"run it on every deploy, before gateways and workers start.", stderr)
	m.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	st, err := m.open(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer func() { _ = st.Close() }() // nothing is left to write
	_, err = fmt.Fprintf(stdout, "store ok database=%s\n", m.db)
	return err
}

// runBootstrap creates, when the cluster store has none, the operator
// account, a tenant and an app, and prints the same lines as magpie dev:
// the operator password and the app secret only the first time.
func runBootstrap(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var m mongoFlags
	var keyFile, email, consoleURL string
	fs := newFlagSet("bootstrap", "Create the operator account, a tenant and an app in the cluster store when it has\n"+
		"none, and print their credentials (secrets only on the run that created them). Idempotent.", stderr)
	m.register(fs)
	fs.StringVar(&keyFile, "master-key-file", "", "file holding the base64 master key that seals secrets; created (0600) if missing. Every gateway and worker needs the same key")
	fs.StringVar(&email, "operator-email", "operator@magpie.local", "email of the operator account")
	fs.StringVar(&consoleURL, "url", "http://127.0.0.1:8080", "the installation's public base URL, for the printed console and API URLs")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if keyFile == "" {
		return errors.New("bootstrap: --master-key-file (MAGPIE_MASTER_KEY_FILE) is required")
	}
	key, created, err := keyring.LoadOrCreate(keyFile)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	keys, err := keyring.New(key)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	st, err := m.open(ctx)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	defer func() { _ = st.Close() }() // nothing is left to write
	b, err := tenant.New(st, keys, tenant.Config{}).EnsureBootstrap(ctx, email)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if created {
		fmt.Fprintf(stdout, "# created master key file %s: give every gateway and worker the same key\n", keyFile)
	}
	printBootstrap(stdout, consoleURL, b)
	return nil
}
