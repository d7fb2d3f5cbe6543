package presence_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magpie-im/magpie/internal/presence"
	"github.com/magpie-im/magpie/internal/presence/presencetest"
	"github.com/magpie-im/magpie/internal/redisx"
	"github.com/magpie-im/magpie/internal/redisx/redistest"
)

// prefixes remembers the key prefix of each registry the tests open.
var prefixes = map[*presence.Redis]string{}

func openRedis(t *testing.T) *presence.Redis {
	prefix := redistest.Prefix(t)
	r := presence.NewRedis(redistest.Client(t), prefix)
	prefixes[r] = prefix
	t.Cleanup(func() { delete(prefixes, r) })
	return r
}

func TestRedis(t *testing.T) {
	presencetest.Run(t, presencetest.Opener{
		Open: func(t *testing.T) presence.Presence { return openRedis(t) },
		Reopen: func(t *testing.T, p presence.Presence) presence.Presence {
			return presence.NewRedis(redistest.Client(t), prefixes[p.(*presence.Redis)])
		},
		TTL: 500 * time.Millisecond,
	})
}

// countHook counts the commands and pipelines a client sends.
type countHook struct{ cmds, pipelines atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.cmds.Add(1)
		return next(ctx, cmd)
	}
}
func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.pipelines.Add(1)
		return next(ctx, cmds)
	}
}

func redisSession(user, device, id, node string) presence.Session {
	return presence.Session{AppID: "A", UserID: user, DeviceID: device, SessionID: id, NodeID: node,
		ConnectedAt: time.UnixMilli(1_700_000_000_000)}
}

// TestRedisLookupOneRoundTrip checks that a lookup of many users, more
// than one script's worth, is one pipeline and nothing else.
func TestRedisLookupOneRoundTrip(t *testing.T) {
	c := redistest.Client(t)
	r := presence.NewRedis(c, redistest.Prefix(t))
	ctx := t.Context()
	if _, err := r.Refresh(ctx, "n1", time.Hour); err != nil {
		t.Fatal(err)
	}
	var users []string
	for i := range 1000 {
		u := fmt.Sprintf("u%d", i)
		users = append(users, u)
		if i%2 == 0 {
			if _, err := r.Register(ctx, redisSession(u, "d1", "s"+u, "n1"), 1, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := r.Lookup(ctx, "A", users[:1]); err != nil { // loads the script
		t.Fatal(err)
	}
	var h countHook
	c.Redis().AddHook(&h)
	got, err := r.Lookup(ctx, "A", users)
	if err != nil || len(got) != 500 {
		t.Fatalf("Lookup(1000 users) = %d users, %v, want 500", len(got), err)
	}
	if h.cmds.Load() != 0 || h.pipelines.Load() != 1 {
		t.Errorf("Lookup(1000 users) sent %d commands and %d pipelines, want one pipeline", h.cmds.Load(), h.pipelines.Load())
	}
}

// TestRedisKeys checks the key layout, and that a dead node's sessions
// leave no key behind once swept, however many there were.
func TestRedisKeys(t *testing.T) {
	c, prefix := redistest.Client(t), redistest.Prefix(t)
	r := presence.NewRedis(c, prefix)
	ctx := t.Context()
	if _, err := r.Refresh(ctx, "n1", time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"A", "B"} {
		s := redisSession("u1", "d1", "s"+app, "n1")
		s.AppID = app
		if _, err := r.Register(ctx, s, 1, ""); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := redistest.Keys(ctx, c, prefix)
	want := []string{prefix + ":hb:n1", prefix + ":nodes", prefix + ":ns:n1", prefix + "A:u:u1", prefix + "B:u:u1"}
	slices.Sort(keys)
	if err != nil || !slices.Equal(keys, want) {
		t.Errorf("keys = %q, %v, want %q", keys, err, want)
	}
	val, err := c.Redis().HGet(ctx, prefix+"A:u:u1", "d1").Result()
	if want := "n1\x00sA\x001700000000000"; err != nil || val != want {
		t.Errorf("HGET A:u:u1 d1 = %q, %v, want %q", val, err, want)
	}

	// 600 sessions (more than one purge chunk) on a node that then dies.
	if _, err := r.Refresh(ctx, "n2", time.Hour); err != nil {
		t.Fatal(err)
	}
	for i := range 600 {
		s := redisSession(fmt.Sprintf("v%d", i), "d1", fmt.Sprintf("t%d", i), "n2")
		if _, err := r.Register(ctx, s, 1, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Redis().Del(ctx, prefix+":hb:n2").Err(); err != nil { // as if it expired
		t.Fatal(err)
	}
	if err := r.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	keys, err = redistest.Keys(ctx, c, prefix)
	slices.Sort(keys)
	if err != nil || !slices.Equal(keys, want) {
		t.Errorf("keys after n2 died and a sweep = %q, %v, want %q", keys, err, want)
	}
}

// TestRedisErrors checks that errors wrap redisx.ErrUnavailable when Redis
// cannot be reached, and never hold a go-redis type.
func TestRedisErrors(t *testing.T) {
	c, prefix := redistest.Client(t), redistest.Prefix(t)
	ctx := t.Context()
	r := presence.NewRedis(c, prefix)
	if _, err := r.Refresh(ctx, "n1", time.Hour); err != nil {
		t.Fatal(err)
	}
	// A key of the wrong type: a server error, not unavailability.
	if err := c.Redis().Set(ctx, prefix+"A:u:u1", "x", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := r.Register(ctx, redisSession("u1", "d1", "s1", "n1"), 1, "")
	if err == nil || errors.Is(err, redisx.ErrUnavailable) || redistest.DriverType(err) != "" {
		t.Errorf("Register(onto a string key) = %v, want a plain error", err)
	}

	closed := redistest.Client(t)
	closed.Close()
	r = presence.NewRedis(closed, prefix)
	s := redisSession("u2", "d1", "s2", "n1")
	_, regErr := r.Register(ctx, s, 1, "")
	_, lookErr := r.Lookup(ctx, "A", []string{"u2"})
	_, refErr := r.Refresh(ctx, "n1", time.Hour)
	for name, err := range map[string]error{
		"Register": regErr, "Unregister": r.Unregister(ctx, s), "Lookup": lookErr,
		"Refresh": refErr, "Sweep": r.Sweep(ctx),
	} {
		if !errors.Is(err, redisx.ErrUnavailable) || redistest.DriverType(err) != "" {
			t.Errorf("%s on a closed client = %v (%s), want ErrUnavailable without go-redis types", name, err, redistest.DriverType(err))
		}
	}
}
