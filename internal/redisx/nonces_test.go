package redisx_test

import (
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/redisx"
	"github.com/magpie-im/magpie/internal/redisx/redistest"
)

// The behaviour of Nonces is tested with api.MemoryNonces, through
// one test, in package gateway/api. This checks its keys.

func TestNoncesKeys(t *testing.T) {
	c, prefix := redistest.Client(t), redistest.Prefix(t)
	n := redisx.NewNonces(c, prefix, time.Minute)
	ctx := t.Context()
	if _, err := n.Seen(ctx, "app_1", "abc", time.Now()); err != nil {
		t.Fatal(err)
	}
	keys, err := redistest.Keys(ctx, c, prefix)
	if err != nil || len(keys) != 1 || keys[0] != prefix+"app_1:nonce:abc" {
		t.Errorf("keys after Seen = %q, %v, want [%s]", keys, err, prefix+"app_1:nonce:abc")
	}
	ttl, err := c.Redis().PTTL(ctx, prefix+"app_1:nonce:abc").Result()
	if err != nil || ttl <= 0 || ttl > time.Minute {
		t.Errorf("PTTL(nonce key) = %v, %v, want within the hold of 1m", ttl, err)
	}
	for _, app := range []string{"", "app:1"} {
		if _, err := n.Seen(ctx, app, "abc", time.Now()); err == nil {
			t.Errorf("Seen(app %q) = nil error, want an error", app)
		}
	}
}
