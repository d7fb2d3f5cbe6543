// Package embeddedtest starts embedded-mode servers for other packages'
// tests.
package embeddedtest

import (
	"context"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/embedded"
)

// Start starts a server with cfg and shuts it down when the test ends. An
// empty Addr is a free loopback port, an empty DataDir a directory of the
// test's own, and a zero PasswordCost the lowest bcrypt cost (4): tests
// need no slow hashes.
func Start(t testing.TB, cfg embedded.Config) *embedded.Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.PasswordCost == 0 {
		cfg.PasswordCost = 4
	}
	srv, err := embedded.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return srv
}
