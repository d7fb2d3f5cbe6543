// Package redisx connects cluster mode to Redis. It opens the connection
// pool that the Redis-backed parts share (the presence registry, the rate
// limiter, the nonce cache), translates go-redis errors so that no driver
// type leaks out of those parts, and holds the Redis nonce cache of the
// server API (see Nonces).
//
// The Redis-backed parts target one Redis primary, with replicas and
// Sentinel for failover if wanted; they are not written for Redis Cluster
// (their Lua scripts touch keys of several hash slots). Every key they write
// starts with a configurable prefix; keys that hold an app's data continue
// with the app id.
package redisx

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/redis/go-redis/v9"
)

// ErrUnavailable wraps every error that says Redis could not be reached or
// could not serve the request now (connection refused or lost, timeouts,
// an exhausted pool, a server that is loading or read-only). It is
// temporary: callers retry with backoff.
var ErrUnavailable = errors.New("redis unavailable")

// Client is a pool of connections to one Redis server. It is safe for
// concurrent use.
type Client struct {
	rdb *redis.Client
}

// Open connects to the Redis server at rawURL (redis://[user:password@]host:port/db
// or rediss:// for TLS; the query may set go-redis pool options such as
// pool_size and dial_timeout) and checks that it answers.
//
// Commands are not retried by the client: a script whose reply was lost may
// have run, and running Register again would not report the sessions it
// kicked. Callers see ErrUnavailable and retry the whole operation.
func Open(ctx context.Context, rawURL string) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may hold a password
		}
		return nil, fmt.Errorf("parse redis url: %w", err)
	}
	opt, err := redis.ParseURL(rawURL) // its errors hold no password
	if err != nil {
		return nil, fmt.Errorf("parse redis url %s: %w", u.Redacted(), err)
	}
	opt.MaxRetries = -1
	c := &Client{rdb: redis.NewClient(opt)}
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		_ = c.rdb.Close()
		return nil, fmt.Errorf("ping redis at %s: %w", opt.Addr, Err(err))
	}
	return c, nil
}

// Close closes the pool. Commands in flight fail.
func (c *Client) Close() error { return Err(c.rdb.Close()) }

// Ping reports whether the server answers.
func (c *Client) Ping(ctx context.Context) error { return Err(c.rdb.Ping(ctx).Err()) }

// Redis returns the go-redis client, for the Redis implementations in
// internal/ and their tests. Those translate every error with Err and never
// return a go-redis type.
func (c *Client) Redis() *redis.Client { return c.rdb }

// Err translates an error from go-redis: nil stays nil; a cancelled or
// expired context wraps context.Canceled or context.DeadlineExceeded;
// failures to reach or use the server wrap ErrUnavailable; other error
// replies of the server become plain errors with the reply's text. The
// result holds no go-redis type. redis.Nil must be handled before.
func Err(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("redis: %w", context.Canceled)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %w", ErrUnavailable, context.DeadlineExceeded)
	}
	var reply redis.Error
	if errors.As(err, &reply) && !unavailableReply(err) {
		return fmt.Errorf("redis: %s", reply.Error())
	}
	return fmt.Errorf("%w: %s", ErrUnavailable, err.Error())
}

// unavailableReply reports whether an error reply of the server says it
// cannot serve now rather than that the command was wrong.
func unavailableReply(err error) bool {
	for _, p := range []string{"LOADING", "READONLY", "MASTERDOWN", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "NOREPLICAS", "max number of clients"} {
		if redis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return false
}
