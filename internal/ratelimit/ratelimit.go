// Package ratelimit limits the rate of anything named by a key (an app's
// server API calls, its logins) across every gateway of a cluster. Memory
// limits within one process (embedded mode); Redis shares the limits of
// every process that uses the same Redis and prefix (cluster mode). Both
// pass one test.
//
// The algorithm is GCRA, the generic cell rate algorithm: a token bucket
// that holds burst tokens and refills at rate per second, kept as a single
// time per key (when the bucket will be full again), so that checking a
// limit is one atomic read-modify-write. Keys that hold an app's limit
// should start with the app id ("app_1:api"), as every key of an app does.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrInvalid means a rate is not positive, or a burst is below 1.
var ErrInvalid = errors.New("ratelimit: rate must be positive and burst at least 1")

// Limiter is a set of token buckets, one per key. Implementations are safe
// for concurrent use.
type Limiter interface {
	// Allow takes a token from key's bucket, which holds burst tokens and
	// refills at rate tokens per second (+Inf: no limit), and reports
	// whether one was there. A bucket first used is full. A key may change
	// its rate or burst from one call to the next; the new ones apply from
	// then on.
	Allow(ctx context.Context, key string, rate float64, burst int) (Decision, error)
}

// Decision is the outcome of Allow.
type Decision struct {
	// OK is set when a token was taken.
	OK bool
	// Remaining is how many tokens are left after the call.
	Remaining int
	// RetryAfter is, when !OK, how long until a token will be there.
	RetryAfter time.Duration
	// Reset is how long until the bucket is full again.
	Reset time.Duration
}

// interval returns the time one token takes to refill, or ErrInvalid.
func interval(rate float64, burst int) (time.Duration, error) {
	if !(rate > 0) || burst < 1 {
		return 0, fmt.Errorf("%w (rate %v, burst %d)", ErrInvalid, rate, burst)
	}
	iv := float64(time.Second) / rate
	if iv*float64(burst) > math.MaxInt64/2 {
		return 0, fmt.Errorf("%w: rate %v too low for burst %d", ErrInvalid, rate, burst)
	}
	return time.Duration(iv), nil
}
