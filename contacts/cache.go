package contacts

import (
	"context"
	"sync"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// verdictCache holds relations between users (the answers of
// store.ContactStore.GetRelation) and apps' only-friends settings, for
// CheckSend.
//
// Invalidation without scanning: every user that changed has a generation
// (a number from one counter that only grows), and a cached relation
// remembers the generations of its two users when it was read; it is
// stale once either moved. A relation read while its users changed is
// stored with the generations from before the read, so it is stale at
// once. When the cache is full it is emptied, and an epoch keeps reads
// that straddle the emptying from storing their answer.
type verdictCache struct {
	mu       sync.RWMutex
	max      int
	ttl      time.Duration
	now      func() time.Time
	rels     map[relKey]relEntry
	gens     map[userKey]uint64
	counter  uint64 // the last generation given out
	epoch    uint64 // bumped when the cache is emptied
	settings map[string]settingEntry
}

type userKey struct{ app, user string }

type relKey struct{ app, from, to string }

type relEntry struct {
	rel            store.Relation
	genFrom, genTo uint64
	expires        time.Time
}

type settingEntry struct {
	onlyFriends bool
	expires     time.Time
}

func newVerdictCache(max int, ttl time.Duration, now func() time.Time) *verdictCache {
	return &verdictCache{max: max, ttl: ttl, now: now, rels: map[relKey]relEntry{},
		gens: map[userKey]uint64{}, settings: map[string]settingEntry{}}
}

// relation returns the cached relation of from to to, or reads it with
// read and caches it.
func (c *verdictCache) relation(ctx context.Context, app, from, to string, read func(ctx context.Context, from, to string) (store.Relation, error)) (store.Relation, error) {
	k := relKey{app, from, to}
	now := c.now()
	c.mu.RLock()
	gf, gt, epoch := c.gens[userKey{app, from}], c.gens[userKey{app, to}], c.epoch
	e, ok := c.rels[k]
	c.mu.RUnlock()
	if ok && e.genFrom == gf && e.genTo == gt && now.Before(e.expires) {
		return e.rel, nil
	}
	rel, err := read(ctx, from, to)
	if err != nil {
		return rel, err
	}
	c.mu.Lock()
	if c.epoch == epoch {
		if len(c.rels) >= c.max {
			c.emptyLocked()
		} else {
			c.rels[k] = relEntry{rel: rel, genFrom: gf, genTo: gt, expires: now.Add(c.ttl)}
		}
	}
	c.mu.Unlock()
	return rel, nil
}

// onlyFriends returns an app's OnlyFriendsMessage setting.
func (c *verdictCache) onlyFriends(ctx context.Context, app string, read func(ctx context.Context, appID string) (store.Settings, error)) (bool, error) {
	now := c.now()
	c.mu.RLock()
	e, ok := c.settings[app]
	epoch := c.epoch
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.onlyFriends, nil
	}
	st, err := read(ctx, app)
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	if c.epoch == epoch {
		if len(c.settings) >= c.max {
			clear(c.settings)
		}
		c.settings[app] = settingEntry{onlyFriends: st.OnlyFriendsMessage, expires: now.Add(c.ttl)}
	}
	c.mu.Unlock()
	return st.OnlyFriendsMessage, nil
}

func (c *verdictCache) forgetUser(app, user string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.gens) >= c.max {
		c.emptyLocked()
		return
	}
	c.counter++
	c.gens[userKey{app, user}] = c.counter
}

func (c *verdictCache) forgetApp(app string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.settings, app)
	c.epoch++ // a settings read under way must not store the old value
}

func (c *verdictCache) forgetAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.emptyLocked()
	clear(c.settings)
}

// emptyLocked drops every relation and generation.
func (c *verdictCache) emptyLocked() {
	clear(c.rels)
	clear(c.gens)
	c.epoch++
}
