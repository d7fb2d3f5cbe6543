package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/magpie-im/magpie/internal/store"
)

// Usage counter names (usage_counters.counter); the peak is per node.
const (
	counterMessages   = "messages"
	counterAPICalls   = "api_calls"
	counterPushes     = "pushes"
	counterWebhooks   = "webhook_deliveries"
	counterPeakPrefix = "peak_connections:"
)

// AddUsage adds u to the app's usage of u.Day in one transaction: one
// upsert per non-zero counter, one insert-or-ignore per active user.
func (a *appStore) AddUsage(ctx context.Context, u store.UsageDelta) error {
	err := a.s.inSideTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		add := func(counter string, n int64) error {
			if n == 0 {
				return nil
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO usage_counters (app_id, day, counter, value) VALUES (?1, ?2, ?3, ?4)
				ON CONFLICT (app_id, day, counter) DO UPDATE SET value = value + excluded.value`, a.id, u.Day, counter, n)
			return translate(err)
		}
		for _, c := range []struct {
			name string
			n    int64
		}{{counterMessages, u.Messages}, {counterAPICalls, u.APICalls}, {counterPushes, u.Pushes}, {counterWebhooks, u.WebhookDeliveries}} {
			if err := add(c.name, c.n); err != nil {
				return err
			}
		}
		if u.PeakConnections > 0 {
			_, err := tx.ExecContext(ctx, `INSERT INTO usage_counters (app_id, day, counter, value) VALUES (?1, ?2, ?3, ?4)
				ON CONFLICT (app_id, day, counter) DO UPDATE SET value = max(value, excluded.value)`,
				a.id, u.Day, counterPeakPrefix+u.Node, u.PeakConnections)
			if err != nil {
				return translate(err)
			}
		}
		if len(u.ActiveUsers) == 0 {
			return nil
		}
		st, err := tx.PrepareContext(ctx, `INSERT INTO usage_active_users (app_id, day, user_key) VALUES (?1, ?2, ?3)
			ON CONFLICT DO NOTHING`)
		if err != nil {
			return translate(err)
		}
		defer st.Close()
		for _, k := range u.ActiveUsers {
			if _, err := st.ExecContext(ctx, a.id, u.Day, k); err != nil {
				return translate(err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add usage of %s: %w", u.Day, err)
	}
	return nil
}

// ListUsage returns the app's usage of the days from..to, by day.
func (a *appStore) ListUsage(ctx context.Context, from, to string) ([]store.UsageDay, error) {
	var out []store.UsageDay
	day := func(d string) *store.UsageDay {
		if len(out) == 0 || out[len(out)-1].Day != d {
			out = append(out, store.UsageDay{Day: d})
		}
		return &out[len(out)-1]
	}
	rows, err := a.query(ctx, `SELECT day, counter, value FROM usage_counters
		WHERE app_id = ?1 AND day >= ?2 AND day <= ?3 ORDER BY day`, from, to)
	if err != nil {
		return nil, fmt.Errorf("list usage: %w", translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		var d, counter string
		var v int64
		if err := rows.Scan(&d, &counter, &v); err != nil {
			return nil, fmt.Errorf("list usage: %w", translate(err))
		}
		u := day(d)
		switch {
		case counter == counterMessages:
			u.Messages += v
		case counter == counterAPICalls:
			u.APICalls += v
		case counter == counterPushes:
			u.Pushes += v
		case counter == counterWebhooks:
			u.WebhookDeliveries += v
		case strings.HasPrefix(counter, counterPeakPrefix):
			u.PeakConnections += v
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list usage: %w", translate(err))
	}
	users, err := a.query(ctx, `SELECT day, COUNT(*) FROM usage_active_users
		WHERE app_id = ?1 AND day >= ?2 AND day <= ?3 GROUP BY day ORDER BY day`, from, to)
	if err != nil {
		return nil, fmt.Errorf("list usage: %w", translate(err))
	}
	defer users.Close()
	for users.Next() {
		var d string
		var n int64
		if err := users.Scan(&d, &n); err != nil {
			return nil, fmt.Errorf("list usage: %w", translate(err))
		}
		i, found := findDay(out, d)
		if !found {
			out = append(out[:i], append([]store.UsageDay{{Day: d}}, out[i:]...)...)
		}
		out[i].ActiveUsers = n
	}
	if err := users.Err(); err != nil {
		return nil, fmt.Errorf("list usage: %w", translate(err))
	}
	return out, nil
}

// findDay returns where day d is or belongs in days, sorted by day.
func findDay(days []store.UsageDay, d string) (int, bool) {
	for i, u := range days {
		if u.Day == d {
			return i, true
		}
		if u.Day > d {
			return i, false
		}
	}
	return len(days), false
}

var (
	deleteUsageCountersBefore = sweepBefore("usage_counters", "day")
	deleteUsageUsersBefore    = sweepBefore("usage_active_users", "day")
)

// DeleteUsageBefore removes, in every app, the usage counters and active
// users of the days before day, in one transaction: app by app, a range of
// each table's primary key (app_id, day, ...), so a sweep with nothing to
// delete reads next to nothing.
func (s *Store) DeleteUsageBefore(ctx context.Context, day string) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{deleteUsageCountersBefore, deleteUsageUsersBefore} {
			res, err := tx.ExecContext(ctx, q, day)
			m, err := affected(res, err)
			if err != nil {
				return err
			}
			n += m
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete usage before %s: %w", day, err)
	}
	return n, nil
}
