// Package maintenance runs the store's periodic sweep of expired records
// (console sessions, request nonces, idempotency records, user
// tombstones, push outbox entries, the webhook log) and, once a UTC day,
// of the usage history older than its retention, and the repair of support
// agents' Active counts that a crash left wrong (AgentRepair). Embedded
// mode runs the sweep in its one process; in cluster mode every worker runs
// both (each is idempotent, so several at once only repeat each other's
// writes; SQLite's transactions keep the counts right, so embedded mode
// needs no repair).
package maintenance

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

const (
	// Interval is how often the sweep runs.
	Interval = 10 * time.Minute
	// IdempotencyRetention is how long an Idempotency-Key's stored
	// response is kept.
	IdempotencyRetention = 24 * time.Hour
	// OutboxRetention is how long a recorded offline notification is kept
	// in an app's push outbox, and a push log entry in its push log.
	OutboxRetention = 7 * 24 * time.Hour
	// WebhookRetention is how long a webhook event (for replays) and a
	// delivery attempt (the delivery log) are kept. It must exceed the
	// longest delivery retry window.
	WebhookRetention = 7 * 24 * time.Hour
	// DefaultUsageRetentionDays is how many days of daily usage are kept
	// before today, unless configured otherwise.
	DefaultUsageRetentionDays = 400
	// MinUsageRetentionDays is the shortest usage retention: the console's
	// usage chart shows the last 30 days.
	MinUsageRetentionDays = 31
)

// Config configures Run. The zero value is usable.
type Config struct {
	// UsageRetentionDays is how many days of an app's daily usage are
	// kept before today (UTC): the usage of older days is deleted once a
	// day. Zero means DefaultUsageRetentionDays; otherwise it must be at
	// least MinUsageRetentionDays.
	UsageRetentionDays int
	// Logger receives sweep failures and counts. Nil discards them.
	Logger *slog.Logger
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
}

// Validate reports a retention that is too short.
func (c Config) Validate() error {
	if c.UsageRetentionDays != 0 && c.UsageRetentionDays < MinUsageRetentionDays {
		return fmt.Errorf("usage retention of %d days: it must be at least %d days (or 0 for the default, %d)",
			c.UsageRetentionDays, MinUsageRetentionDays, DefaultUsageRetentionDays)
	}
	return nil
}

// UsageCutoff returns the first day whose usage is kept at now: the usage
// of every day before it is deleted.
func (c Config) UsageCutoff(now time.Time) string {
	days := c.UsageRetentionDays
	if days == 0 {
		days = DefaultUsageRetentionDays
	}
	d := now.UTC()
	return time.Date(d.Year(), d.Month(), d.Day()-days, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
}

// Run sweeps at once and then every Interval until ctx ends. A failed
// sweep is logged and tried again at the next tick. It returns nil when
// ctx ends, or the configuration's error.
func Run(ctx context.Context, st store.Store, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	s := sweeper{st: st, cfg: cfg, log: cfg.Logger, now: cfg.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	t := time.NewTicker(Interval)
	defer t.Stop()
	for {
		s.Sweep(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// sweeper runs the sweeps of one Run; it is used by one goroutine.
type sweeper struct {
	st  store.Store
	cfg Config
	log *slog.Logger
	now func() time.Time
	// usageCutoff is the cutoff of the last usage sweep that succeeded:
	// the usage sweep runs again only when the UTC day, and so the
	// cutoff, moves on.
	usageCutoff string
}

// Sweep runs one sweep of every kind of expired record.
func (s *sweeper) Sweep(ctx context.Context) {
	now := s.now()
	n, err := s.st.DeleteExpired(ctx, now, now.Add(-IdempotencyRetention))
	if err == nil {
		var m int64
		m, err = s.st.DeleteOutboxBefore(ctx, now.Add(-OutboxRetention))
		n += m
	}
	if err == nil {
		var m int64
		m, err = s.st.DeleteWebhookLogBefore(ctx, now.Add(-WebhookRetention))
		n += m
	}
	if cutoff := s.cfg.UsageCutoff(now); err == nil && cutoff != s.usageCutoff {
		var m int64
		if m, err = s.st.DeleteUsageBefore(ctx, cutoff); err == nil {
			s.usageCutoff = cutoff
		}
		n += m
	}
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.WarnContext(ctx, "maintenance sweep failed", "err", err)
	case n > 0:
		s.log.DebugContext(ctx, "maintenance sweep", "deleted", n)
	}
}
