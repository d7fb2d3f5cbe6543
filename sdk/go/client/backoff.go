package client

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff computes exponential delays with full jitter: attempt n waits a
// uniformly random time in [0, min(max, min*2^n)]. It is not safe for
// concurrent use.
type backoff struct {
	min, max time.Duration
	attempt  int
}

// next returns the delay before the next attempt and counts the attempt.
func (b *backoff) next() time.Duration {
	d := retryDelay(b.min, b.max, b.attempt)
	b.attempt++
	return d
}

// reset starts over from the first attempt.
func (b *backoff) reset() { b.attempt = 0 }

// retryDelay returns the jittered delay before retry number n (from 0),
// between the bounds minD and maxD.
func retryDelay(minD, maxD time.Duration, n int) time.Duration {
	d := minD
	for i := 0; i < n && d < maxD; i++ {
		d *= 2
	}
	return jitter(min(d, maxD))
}

func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d + 1)
}

// sleep waits for d or until ctx ends, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
