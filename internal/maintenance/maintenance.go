// Package maintenance runs the store's periodic sweep of expired records
// (console sessions, request nonces, idempotency records, user
// tombstones, push outbox entries, the webhook log), and the repair of
// support agents' Active counts that a crash left wrong (AgentRepair).
// Embedded mode runs the sweep in its one process; in cluster mode every
// worker runs both (each is idempotent, so several at once only repeat
// each other's writes; SQLite's transactions keep the counts right, so
// embedded mode needs no repair).
package maintenance

import (
	"context"
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
)

// Run sweeps at once and then every Interval until ctx ends. A failed
// sweep is logged and tried again at the next tick. It returns nil when
// ctx ends.
func Run(ctx context.Context, st store.Store, log *slog.Logger) error {
	t := time.NewTicker(Interval)
	defer t.Stop()
	for {
		now := time.Now()
		n, err := st.DeleteExpired(ctx, now, now.Add(-IdempotencyRetention))
		if err == nil {
			var m int64
			m, err = st.DeleteOutboxBefore(ctx, now.Add(-OutboxRetention))
			n += m
		}
		if err == nil {
			var m int64
			m, err = st.DeleteWebhookLogBefore(ctx, now.Add(-WebhookRetention))
			n += m
		}
		switch {
		case err != nil && ctx.Err() == nil:
			log.WarnContext(ctx, "maintenance sweep failed", "err", err)
		case n > 0:
			log.DebugContext(ctx, "maintenance sweep", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
