package redisx_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magpie-im/magpie/internal/redisx"
	"github.com/magpie-im/magpie/internal/redisx/redistest"
)

func TestOpenUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err := redisx.Open(ctx, "redis://user:hunter2@127.0.0.1:1/0?dial_timeout=1s")
	if !errors.Is(err, redisx.ErrUnavailable) || redistest.DriverType(err) != "" {
		t.Errorf("Open(closed port) = %v, want ErrUnavailable without go-redis types", err)
	}
	if err != nil && strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Open error %q shows the password", err)
	}
	for _, bad := range []string{"http://user:hunter2@127.0.0.1:6379", "redis://user:hunter2@127.0.0.1:6379/x", "redis://user:hunter2@[::1"} {
		if _, err := redisx.Open(ctx, bad); err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(bad URL) = %v, want an error without the password", err)
		}
	}
}

func TestErr(t *testing.T) {
	c := redistest.Client(t)
	ctx := t.Context()
	_, replyErr := c.Redis().Do(ctx, "NO-SUCH-COMMAND").Result()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, cancelErr := c.Redis().Get(cancelled, "k").Result()
	for _, tc := range []struct {
		name        string
		in          error
		unavailable bool
		is          error
	}{
		{"reply", replyErr, false, nil},
		{"cancelled", cancelErr, false, context.Canceled},
		{"deadline", context.DeadlineExceeded, true, context.DeadlineExceeded},
		{"closed", redis.ErrClosed, true, nil},
		{"pool timeout", redis.ErrPoolTimeout, true, nil},
	} {
		if tc.in == nil {
			t.Fatalf("%s: no error to translate", tc.name)
		}
		got := redisx.Err(tc.in)
		if errors.Is(got, redisx.ErrUnavailable) != tc.unavailable || tc.is != nil && !errors.Is(got, tc.is) {
			t.Errorf("Err(%s: %v) = %v, want unavailable %v, is %v", tc.name, tc.in, got, tc.unavailable, tc.is)
		}
		if typ := redistest.DriverType(got); typ != "" {
			t.Errorf("Err(%s) = %v, holds go-redis type %s", tc.name, got, typ)
		}
	}
	if redisx.Err(nil) != nil {
		t.Error("Err(nil) != nil")
	}
}
