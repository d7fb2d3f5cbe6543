package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

const outboxColumns = `id, user_id, conv_id, seq, sender_id, type, preview, created_at, badge, payload`

// AddOutbox records e unless the app holds its id already, and only while
// its user exists: one statement, so a DeleteUser (one transaction) runs
// wholly before or after it. See store.OutboxStore.
func (a *appStore) AddOutbox(ctx context.Context, e store.OutboxEntry) (bool, error) {
	res, err := a.exec(ctx,
		`INSERT INTO push_outbox (app_id, `+outboxColumns+`)
		SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11
		WHERE EXISTS (SELECT 1 FROM users WHERE app_id = ?1 AND id = ?3)
		ON CONFLICT (app_id, id) DO NOTHING`,
		e.ID, e.UserID, e.ConvID, e.Seq, e.SenderID, e.Type, e.Preview, ms(e.CreatedAt), e.Badge, e.Payload)
	n, err := affected(res, err)
	if err != nil {
		return false, fmt.Errorf("add outbox entry %s: %w", e.ID, err)
	}
	if n == 1 {
		return true, nil
	}
	// Nothing inserted: the id is taken, or the user does not exist. Ask
	// the write connection, which saw the row if there is one.
	var held bool
	err = a.s.write.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM push_outbox WHERE app_id = ?1 AND id = ?2)`,
		a.bind([]any{e.ID})...).Scan(&held)
	switch {
	case err != nil:
		return false, fmt.Errorf("add outbox entry %s: %w", e.ID, translate(err))
	case !held:
		return false, fmt.Errorf("add outbox entry %s: user %s: %w", e.ID, e.UserID, store.ErrNotFound)
	}
	return false, nil
}

// ListOutbox returns up to limit entries with id > after, by id, of one
// user or (userID empty) of all.
func (a *appStore) ListOutbox(ctx context.Context, userID, after string, limit int) ([]store.OutboxEntry, error) {
	if limit <= 0 {
		return nil, nil // SQLite reads a negative LIMIT as none
	}
	q := `SELECT ` + outboxColumns + ` FROM push_outbox
		WHERE app_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3`
	args := []any{after, limit}
	if userID != "" {
		// Without the hint SQLite walks the primary key (app_id, id), all
		// of the app's entries, rather than the user's index.
		q = `SELECT ` + outboxColumns + ` FROM push_outbox INDEXED BY push_outbox_user
		WHERE app_id = ?1 AND user_id = ?2 AND id > ?3 ORDER BY id LIMIT ?4`
		args = []any{userID, after, limit}
	}
	rows, err := a.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list outbox: %w", translate(err))
	}
	es, err := collect(rows, scanOutbox)
	if err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	return es, nil
}

func scanOutbox(r scanner) (store.OutboxEntry, error) {
	var e store.OutboxEntry
	var created int64
	err := r.Scan(&e.ID, &e.UserID, &e.ConvID, &e.Seq, &e.SenderID, &e.Type, &e.Preview, &created, &e.Badge, &e.Payload)
	e.CreatedAt = fromMS(created)
	return e, err
}

// sweepBefore returns the statement that deletes a table's rows older than
// ? app by app, through its index on (app_id, column): the recursive query
// walks the distinct app ids of the primary key, one index seek each,
// instead of scanning the table.
func sweepBefore(table, column string) string {
	return `WITH RECURSIVE apps (id) AS (
		SELECT MIN(app_id) FROM ` + table + `
		UNION ALL
		SELECT (SELECT MIN(app_id) FROM ` + table + ` WHERE app_id > apps.id) FROM apps WHERE apps.id IS NOT NULL
	)
	DELETE FROM ` + table + ` WHERE app_id IN (SELECT id FROM apps WHERE id IS NOT NULL) AND ` + column + ` < ?`
}

var (
	deleteOutboxBefore  = sweepBefore("push_outbox", "created_at")
	deletePushLogBefore = sweepBefore("push_log", "at")
)

// DeleteOutboxBefore removes, in every app, the outbox entries created
// before the given time and the push log entries logged before it, in one
// transaction.
func (s *Store) DeleteOutboxBefore(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{deleteOutboxBefore, deletePushLogBefore} {
			res, err := tx.ExecContext(ctx, q, ms(before))
			m, err := affected(res, err)
			if err != nil {
				return err
			}
			n += m
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete outbox and push log entries: %w", err)
	}
	return n, nil
}
