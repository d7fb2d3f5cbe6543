package messaging

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// userCache remembers recipients that exist, so that a send does not read
// the store for a user it saw recently. It caches only positive answers:
// a user deleted less than ttl ago may still receive messages (which nobody
// can read), a user created a moment ago is never refused. It holds at most
// max entries and starts over when full.
type userCache struct {
	ttl time.Duration
	max int

	mu   sync.Mutex // guards seen
	seen map[userKey]time.Time
}

type userKey struct{ app, user string }

func newUserCache(ttl time.Duration, max int) *userCache {
	return &userCache{ttl: ttl, max: max, seen: make(map[userKey]time.Time)}
}

// exists reports whether the user exists in the app, from the cache or st.
func (c *userCache) exists(ctx context.Context, st store.Store, app, user string, now time.Time) (bool, error) {
	k := userKey{app, user}
	c.mu.Lock()
	exp, ok := c.seen[k]
	c.mu.Unlock()
	if ok && now.Before(exp) {
		return true, nil
	}
	_, err := st.App(app).GetUser(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get recipient: %w", err)
	}
	c.mu.Lock()
	if len(c.seen) >= c.max {
		clear(c.seen)
	}
	c.seen[k] = now.Add(c.ttl)
	c.mu.Unlock()
	return true, nil
}

// forget drops the user from the cache: it was deleted.
// forgetAll empties the cache.
func (c *userCache) forgetAll() {
	c.mu.Lock()
	clear(c.seen)
	c.mu.Unlock()
}

func (c *userCache) forget(app, user string) {
	c.mu.Lock()
	delete(c.seen, userKey{app, user})
	c.mu.Unlock()
}
