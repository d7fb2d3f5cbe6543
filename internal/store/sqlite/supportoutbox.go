package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// addSupportEvents stores the outbox entries (events and notices) of a
// change of session id in its transaction; an id already pending is kept as
// it is.
func (t *appTx) addSupportEvents(ctx context.Context, id string, evs []store.SupportEvent) error {
	for _, ev := range evs {
		payload := ev.Payload
		if payload == nil {
			payload = []byte{}
		}
		_, err := t.tx.ExecContext(ctx, `INSERT INTO support_outbox (app_id, id, session_id, kind, type, user_id, at, payload)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (app_id, id) DO NOTHING`,
			t.a.bind([]any{ev.ID, id, ev.Kind, ev.Type, ev.UserID, ms(ev.At), payload})...)
		if err != nil {
			return fmt.Errorf("store event %s: %w", ev.ID, translate(err))
		}
	}
	return nil
}

// AddSupportEvents stores events of session id, in one transaction that
// checks its version first.
func (a *appStore) AddSupportEvents(ctx context.Context, id string, version int64, evs ...store.SupportEvent) error {
	err := a.inTx(ctx, func(t *appTx) error {
		var v int64
		err := t.tx.QueryRowContext(ctx, `SELECT version FROM support_sessions WHERE app_id = ?1 AND id = ?2`,
			a.bind([]any{id})...).Scan(&v)
		switch {
		case err != nil:
			return translate(err)
		case v != version:
			return fmt.Errorf("version %d, not %d: %w", v, version, store.ErrConflict)
		}
		return t.addSupportEvents(ctx, id, evs)
	})
	if err != nil {
		return fmt.Errorf("add events of support session %s: %w", id, err)
	}
	return nil
}

// SupportEventsPublished deletes published events and sent notices from
// the outbox, with one statement.
func (a *appStore) SupportEventsPublished(ctx context.Context, sessionID string, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	args := []any{sessionID}
	for _, id := range ids {
		args = append(args, id)
	}
	marks := strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")
	_, err := a.exec(ctx, `DELETE FROM support_outbox WHERE app_id = ? AND session_id = ? AND id IN (`+marks+`)`, args...)
	if err != nil {
		return fmt.Errorf("mark events of support session %s published: %w", sessionID, translate(err))
	}
	return nil
}

// PendingSupportEvents reads the outbox, which holds only what is not
// published or sent yet, through its index by kind and time.
func (s *Store) PendingSupportEvents(ctx context.Context, kind string, before time.Time, limit int) ([]store.SupportEvent, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.readRows(ctx, `SELECT app_id, session_id, kind, id, type, user_id, at, payload FROM support_outbox
		WHERE kind = ?1 AND at <= ?2 ORDER BY app_id, at, id LIMIT ?3`, kind, ms(before), limit)
	if err != nil {
		return nil, fmt.Errorf("pending support events: %w", translate(err))
	}
	evs, err := collect(rows, func(r scanner) (store.SupportEvent, error) {
		var ev store.SupportEvent
		var at int64
		err := r.Scan(&ev.AppID, &ev.SessionID, &ev.Kind, &ev.ID, &ev.Type, &ev.UserID, &at, &ev.Payload)
		ev.At = fromMS(at)
		return ev, err
	})
	if err != nil {
		return nil, fmt.Errorf("pending support events: %w", err)
	}
	return evs, nil
}

// WaitingSupportApps walks the distinct app ids of the sessions, one index
// seek each (as sweepBefore does), and keeps those with a waiting session
// old enough: a seek into the queue index (app, state, ...) each.
func (s *Store) WaitingSupportApps(ctx context.Context, after string, before time.Time, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.readRows(ctx, `WITH RECURSIVE apps (id) AS (
			SELECT MIN(app_id) FROM support_sessions WHERE app_id > ?1
			UNION ALL
			SELECT (SELECT MIN(app_id) FROM support_sessions WHERE app_id > apps.id) FROM apps WHERE apps.id IS NOT NULL
		)
		SELECT id FROM apps WHERE id IS NOT NULL AND EXISTS (SELECT 1 FROM support_sessions
			WHERE app_id = apps.id AND state = ?2 AND created_at < ?3) LIMIT ?4`,
		after, store.SupportWaiting, ms(before), limit)
	if err != nil {
		return nil, fmt.Errorf("apps with waiting support sessions: %w", translate(err))
	}
	apps, err := collect(rows, func(r scanner) (string, error) {
		var id string
		return id, r.Scan(&id)
	})
	if err != nil {
		return nil, fmt.Errorf("apps with waiting support sessions: %w", err)
	}
	return apps, nil
}
