package tenant

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// UsageConfig configures a Usage collector.
type UsageConfig struct {
	// Node names this process; the peak connections it records are its
	// own (store.UsageDelta.Node). Empty means "local".
	Node string
	// FlushInterval is how often the counts are written to the store.
	// Zero means 10 * time.Second.
	FlushInterval time.Duration
	// Now returns the current time; days are UTC dates of it. Nil means
	// time.Now.
	Now func() time.Time
	// Logger receives flush failures. Nil discards them.
	Logger *slog.Logger
}

// Usage collects an app's daily usage in memory (messages, active users,
// peak concurrent connections, server API calls, pushes, webhook
// deliveries) and writes it to the store periodically: one AddUsage per
// (app, day) and flush, never a write per event. Every process keeps its
// own collector and flushes its own increments, so sums over processes are
// right; the peak connections of a day are recorded per node and summed
// when read, an upper bound of the true peak when several gateways serve an
// app (exact with one).
//
// Active users are kept as a set per app and day, bounded by the app's
// users, and stored as digests of the user ids (the usage report never
// names a user).
//
// A Usage is safe for concurrent use; its counting methods never block on
// the store. The methods of a nil *Usage do nothing.
type Usage struct {
	store store.Store
	cfg   UsageConfig
	log   *slog.Logger

	mu      sync.Mutex                 // guards the fields below
	pending map[usageKey]*usagePending // counts not yet flushed
	conns   map[string]int64           // this node's logged-in connections, per app
	today   struct {
		day string
		end time.Time
	} // the current UTC day, cached
}

type usageKey struct{ app, day string }

type usagePending struct {
	store.UsageCounts
	users map[string]struct{}
}

// NewUsage returns a collector writing to st; Run flushes it.
func NewUsage(st store.Store, cfg UsageConfig) *Usage {
	if cfg.Node == "" {
		cfg.Node = "local"
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	u := &Usage{store: st, cfg: cfg, log: cfg.Logger, pending: make(map[usageKey]*usagePending), conns: make(map[string]int64)}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	return u
}

// entry returns the pending counts of app today. u.mu must be held.
func (u *Usage) entry(app string) *usagePending {
	now := u.cfg.Now()
	if !now.Before(u.today.end) {
		d := now.UTC()
		u.today.day = d.Format(time.DateOnly)
		u.today.end = time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, time.UTC)
	}
	k := usageKey{app, u.today.day}
	p := u.pending[k]
	if p == nil {
		p = &usagePending{}
		u.pending[k] = p
	}
	return p
}

func (u *Usage) add(app string, f func(p *usagePending)) {
	if u == nil || app == "" {
		return
	}
	u.mu.Lock()
	f(u.entry(app))
	u.mu.Unlock()
}

func (p *usagePending) active(user string) {
	if user == "" {
		return
	}
	if p.users == nil {
		p.users = make(map[string]struct{})
	}
	p.users[user] = struct{}{}
}

// MessagesStored counts n messages stored for app.
func (u *Usage) MessagesStored(app string, n int) {
	u.add(app, func(p *usagePending) { p.Messages += int64(n) })
}

// UserActive marks a user of app active today.
func (u *Usage) UserActive(app, user string) {
	u.add(app, func(p *usagePending) { p.active(user) })
}

// APICall counts one authenticated server API request of app.
func (u *Usage) APICall(app string) {
	u.add(app, func(p *usagePending) { p.APICalls++ })
}

// PushSent counts one notification sent to a push provider or recorded in
// the outbox.
func (u *Usage) PushSent(app string) {
	u.add(app, func(p *usagePending) { p.Pushes++ })
}

// WebhookDelivered counts one webhook delivery attempt.
func (u *Usage) WebhookDelivered(app string) {
	u.add(app, func(p *usagePending) { p.WebhookDeliveries++ })
}

// ConnOpened counts a connection of user logged in on this node: the user
// is active today and the app's peak is raised if need be.
func (u *Usage) ConnOpened(app, user string) {
	u.add(app, func(p *usagePending) {
		u.conns[app]++
		p.PeakConnections = max(p.PeakConnections, u.conns[app])
		p.active(user)
	})
}

// ConnClosed counts the end of a connection ConnOpened counted.
func (u *Usage) ConnClosed(app string) {
	if u == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.conns[app]--; u.conns[app] <= 0 {
		delete(u.conns, app)
	}
}

// Flush writes the pending counts to the store, one AddUsage per app and
// day. Counts whose write fails are kept for the next flush.
func (u *Usage) Flush(ctx context.Context) error {
	if u == nil {
		return nil
	}
	u.mu.Lock()
	// A day's peak is at least the connections open now: connections
	// that stay open into a new day count in its peak.
	for app, n := range u.conns {
		if n > 0 {
			p := u.entry(app)
			p.PeakConnections = max(p.PeakConnections, n)
		}
	}
	batch := u.pending
	u.pending = make(map[usageKey]*usagePending, len(batch))
	u.mu.Unlock()
	keys := make([]usageKey, 0, len(batch))
	for k := range batch {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b usageKey) int { return cmp.Or(cmp.Compare(a.app, b.app), cmp.Compare(a.day, b.day)) })
	var errs []error
	for _, k := range keys {
		p := batch[k]
		d := store.UsageDelta{Day: k.day, Node: u.cfg.Node, UsageCounts: p.UsageCounts, ActiveUsers: userKeys(k.app, p.users)}
		if err := u.store.App(k.app).AddUsage(ctx, d); err != nil {
			errs = append(errs, err)
			u.keep(k, p)
		}
	}
	return errors.Join(errs...)
}

// keep merges counts whose flush failed back into the pending ones.
func (u *Usage) keep(k usageKey, p *usagePending) {
	u.mu.Lock()
	defer u.mu.Unlock()
	q := u.pending[k]
	if q == nil {
		u.pending[k] = p
		return
	}
	q.Messages += p.Messages
	q.APICalls += p.APICalls
	q.Pushes += p.Pushes
	q.WebhookDeliveries += p.WebhookDeliveries
	q.PeakConnections = max(q.PeakConnections, p.PeakConnections)
	for user := range p.users {
		q.active(user)
	}
}

// userKeys returns the digests of an app's users: what the store keeps.
func userKeys(app string, users map[string]struct{}) []string {
	if len(users) == 0 {
		return nil
	}
	out := make([]string, 0, len(users))
	for user := range users {
		sum := sha256.Sum256([]byte(app + "\x00" + user))
		out = append(out, hex.EncodeToString(sum[:16]))
	}
	slices.Sort(out)
	return out
}

// Run flushes every FlushInterval until ctx ends, then once more (within
// 5 seconds) so that nothing counted is lost at shutdown. It returns nil.
func (u *Usage) Run(ctx context.Context) error {
	t := time.NewTicker(u.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := u.Flush(ctx); err != nil {
				u.log.WarnContext(ctx, "usage flush failed; counts kept for the next one", "err", err)
			}
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := u.Flush(fctx); err != nil {
				u.log.ErrorContext(fctx, "final usage flush failed; counts lost", "err", err)
			}
			return nil
		}
	}
}
