package ratelimit

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magpie-im/magpie/internal/redisx"
)

// Redis is the cluster-wide Limiter: each key's bucket is one Redis key,
// prefix + key, holding when the bucket is full again (microseconds since
// the epoch) and expiring then. A Lua script reads and updates it on the
// Redis server's clock, so every gateway shares one bucket per key, in one
// round trip, whatever their clocks say. It is safe for concurrent use.
type Redis struct {
	c      *redisx.Client
	prefix string
}

var _ Limiter = (*Redis)(nil)

var (
	//go:embed gcra.lua
	gcraLua    string
	gcraScript = redis.NewScript(gcraLua)
)

// NewRedis returns a limiter on c whose keys start with prefix. Give it a
// prefix of its own ("magpie:rl:"), since the caller chooses the rest.
func NewRedis(c *redisx.Client, prefix string) *Redis {
	return &Redis{c: c, prefix: prefix}
}

// Allow implements Limiter.
func (r *Redis) Allow(ctx context.Context, key string, rate float64, burst int) (Decision, error) {
	iv, err := interval(rate, burst)
	if err != nil {
		return Decision{}, err
	}
	us := strconv.FormatFloat(float64(iv)/float64(time.Microsecond), 'f', -1, 64)
	res, err := gcraScript.Run(ctx, r.c.Redis(), []string{r.prefix + key}, us, burst).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("rate limit %s: %w", key, redisx.Err(err))
	}
	if len(res) != 3 {
		return Decision{}, fmt.Errorf("rate limit %s: unexpected reply %v", key, res)
	}
	reset := time.Duration(res[2]) * time.Microsecond
	if res[0] != 1 {
		return Decision{RetryAfter: time.Duration(res[1]) * time.Microsecond, Reset: reset}, nil
	}
	return decided(iv, burst, reset), nil
}
