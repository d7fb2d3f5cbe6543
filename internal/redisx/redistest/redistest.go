// Package redistest connects tests to the Redis server the integration
// suites share: redis://127.0.0.1:6379/0, or MAGPIE_TEST_REDIS_URL. Tests
// never flush it; each isolates its state under a key prefix of its own and
// deletes its keys when it ends.
//
// When the server cannot be reached a test is skipped, saying why, unless
// CI=true: in CI every suite must run, so it fails instead.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/redisx"
)

// DefaultURL is the server the tests use unless MAGPIE_TEST_REDIS_URL is set.
const DefaultURL = "redis://127.0.0.1:6379/0"

// URL returns the address of the test server.
func URL() string {
	if u := os.Getenv("MAGPIE_TEST_REDIS_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// Client returns a new connection pool to the test server, as another
// process would open it, closed when the test ends. It skips the test (fails
// it with CI=true) when the server cannot be reached.
func Client(t testing.TB) *redisx.Client {
	t.Helper()
	err := unreachable.Load()
	var c *redisx.Client
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var e error
		if c, e = redisx.Open(ctx, URL()); e != nil {
			err = &e
			unreachable.Store(err) // later tests skip (or fail) at once
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis test server: %v (CI=true: the Redis suites must run)", *err)
		}
		t.Skipf("redis test server unreachable, skipping: %v (start redis-server or set MAGPIE_TEST_REDIS_URL)", *err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// unreachable holds the error of the first failed connection.
var unreachable atomic.Pointer[error]

// Prefix returns a key prefix that no other test uses, ending in ":". When
// the test ends, every key starting with it is deleted.
func Prefix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	prefix := "magpietest:" + hex.EncodeToString(b) + ":"
	c := Client(t) // registered first, so closed after the keys are deleted
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := DeleteKeys(ctx, c, prefix); err != nil {
			t.Errorf("delete the test's redis keys %s*: %v", prefix, err)
		}
	})
	return prefix
}

// Keys returns every key starting with prefix.
func Keys(ctx context.Context, c *redisx.Client, prefix string) ([]string, error) {
	var keys []string
	iter := c.Redis().Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	return keys, redisx.Err(iter.Err())
}

// DeleteKeys deletes every key starting with prefix.
func DeleteKeys(ctx context.Context, c *redisx.Client, prefix string) error {
	keys, err := Keys(ctx, c, prefix)
	for len(keys) > 0 && err == nil {
		n := min(len(keys), 500)
		err = redisx.Err(c.Redis().Unlink(ctx, keys[:n]...).Err())
		keys = keys[n:]
	}
	return err
}

// DriverType returns the name of the first go-redis type in err's chain,
// or "" if there is none: the Redis-backed parts must not leak one.
func DriverType(err error) string {
	for _, e := range chain(err) {
		t := reflect.TypeOf(e)
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if strings.Contains(t.PkgPath(), "go-redis") {
			return t.String()
		}
	}
	return ""
}

// chain returns err and every error it wraps.
func chain(err error) []error {
	if err == nil {
		return nil
	}
	out := []error{err}
	if errs, ok := err.(interface{ Unwrap() []error }); ok { //nolint:errorlint // walks the chain itself
		for _, e := range errs.Unwrap() {
			out = append(out, chain(e)...)
		}
		return out
	}
	return append(out, chain(errors.Unwrap(err))...)
}
