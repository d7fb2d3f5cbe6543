package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

const webhookColumns = `id, kind, url, description, events, enabled, disabled_reason, secrets, timeout_ns,
	fail_open, server_api, failures, failing_since, created_at, updated_at, version`

// webhookSecretJSON is the JSON form of a store.WebhookSecret: times in unix
// milliseconds, as in the columns.
type webhookSecretJSON struct {
	ID        string `json:"id"`
	Sealed    []byte `json:"sealed,omitempty"`
	Hint      string `json:"hint,omitempty"`
	CreatedAt int64  `json:"created_at,omitempty"`
	ExpiresAt int64  `json:"expires_at,omitempty"`
}

// webhookJSON encodes an endpoint's event types and secrets.
func webhookJSON(w store.Webhook) (events, secrets string, err error) {
	if events, err = toJSON(w.Events); err != nil {
		return "", "", fmt.Errorf("encode events: %w", err)
	}
	ss := make([]webhookSecretJSON, len(w.Secrets))
	for i, s := range w.Secrets {
		ss[i] = webhookSecretJSON{ID: s.ID, Sealed: s.Sealed, Hint: s.Hint,
			CreatedAt: ms(s.CreatedAt), ExpiresAt: ms(s.ExpiresAt)}
	}
	if secrets, err = toJSON(ss); err != nil {
		return "", "", fmt.Errorf("encode secrets: %w", err)
	}
	return events, secrets, nil
}

// CreateWebhook adds an endpoint in one transaction that counts the app's
// endpoints of its kind and inserts it, so concurrent creations (and
// deletions) of the app cannot take it past maxPerKind. See store.WebhookStore.
func (a *appStore) CreateWebhook(ctx context.Context, w store.Webhook, maxPerKind int) error {
	events, secrets, err := webhookJSON(w)
	if err != nil {
		return fmt.Errorf("create webhook %s: %w", w.ID, err)
	}
	err = a.inTx(ctx, func(t *appTx) error {
		var taken bool
		var n int
		err := t.tx.QueryRowContext(ctx,
			`SELECT EXISTS (SELECT 1 FROM webhooks WHERE app_id = ?1 AND id = ?2),
				(SELECT COUNT(*) FROM webhooks WHERE app_id = ?1 AND kind = ?3)`,
			a.bind([]any{w.ID, w.Kind})...).Scan(&taken, &n)
		if err != nil {
			return translate(err)
		}
		if taken {
			return store.ErrConflict
		}
		if maxPerKind > 0 && n >= maxPerKind {
			return fmt.Errorf("app has %d %s webhooks: %w", n, w.Kind, store.ErrLimit)
		}
		_, err = t.tx.ExecContext(ctx, `INSERT INTO webhooks (app_id, `+webhookColumns+`)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 0, 0, ?13, ?14, 1)`,
			a.bind([]any{w.ID, w.Kind, w.URL, w.Description, events, w.Enabled, w.DisabledReason,
				secrets, int64(w.Timeout), w.FailOpen, w.ServerAPI, ms(w.CreatedAt), ms(w.UpdatedAt)})...)
		return translate(err)
	})
	if err != nil {
		return fmt.Errorf("create webhook %s: %w", w.ID, err)
	}
	return nil
}

// GetWebhook returns one endpoint, or store.ErrNotFound.
func (a *appStore) GetWebhook(ctx context.Context, id string) (store.Webhook, error) {
	w, err := scanWebhook(a.queryRow(ctx, `SELECT `+webhookColumns+` FROM webhooks
		WHERE app_id = ?1 AND id = ?2`, id))
	if err != nil {
		return store.Webhook{}, fmt.Errorf("get webhook %s: %w", id, translate(err))
	}
	return w, nil
}

// ListWebhooks returns the app's endpoints, by id.
func (a *appStore) ListWebhooks(ctx context.Context) ([]store.Webhook, error) {
	rows, err := a.query(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE app_id = ?1 ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", translate(err))
	}
	ws, err := collect(rows, scanWebhook)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	return ws, nil
}

// UpdateWebhook replaces an endpoint's mutable fields if its version is
// still w.Version, with one conditional statement that also clears the
// failure state when it enables a disabled endpoint.
func (a *appStore) UpdateWebhook(ctx context.Context, w store.Webhook) error {
	events, secrets, err := webhookJSON(w)
	if err != nil {
		return fmt.Errorf("update webhook %s: %w", w.ID, err)
	}
	res, err := a.exec(ctx, `UPDATE webhooks SET
			failures = CASE WHEN ?7 AND NOT enabled THEN 0 ELSE failures END,
			failing_since = CASE WHEN ?7 AND NOT enabled THEN 0 ELSE failing_since END,
			url = ?4, description = ?5, events = ?6, enabled = ?7, disabled_reason = ?8, secrets = ?9,
			timeout_ns = ?10, fail_open = ?11, server_api = ?12, updated_at = ?13, version = version + 1
		WHERE app_id = ?1 AND id = ?2 AND version = ?3`,
		w.ID, w.Version, w.URL, w.Description, events, w.Enabled, w.DisabledReason, secrets,
		int64(w.Timeout), w.FailOpen, w.ServerAPI, ms(w.UpdatedAt))
	n, err := affected(res, err)
	if err == nil && n == 0 {
		err = store.ErrConflict
		if _, gerr := a.GetWebhook(ctx, w.ID); errors.Is(gerr, store.ErrNotFound) {
			err = store.ErrNotFound
		}
	}
	if err != nil {
		return fmt.Errorf("update webhook %s: %w", w.ID, err)
	}
	return nil
}

// DeleteWebhook removes an endpoint and its delivery attempts in one
// transaction.
func (a *appStore) DeleteWebhook(ctx context.Context, id string) error {
	err := a.inTx(ctx, func(t *appTx) error {
		res, err := t.tx.ExecContext(ctx, `DELETE FROM webhooks WHERE app_id = ?1 AND id = ?2`, a.bind([]any{id})...)
		if err := mustAffect(res, err); err != nil {
			return err
		}
		_, err = t.tx.ExecContext(ctx, `DELETE FROM webhook_attempts INDEXED BY webhook_attempts_webhook
			WHERE app_id = ?1 AND webhook_id = ?2`, a.bind([]any{id})...)
		if err != nil {
			return fmt.Errorf("delete attempts: %w", translate(err))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete webhook %s: %w", id, err)
	}
	return nil
}

// RecordWebhookResult updates an endpoint's failure state with one
// statement, which returns the endpoint as updated.
func (a *appStore) RecordWebhookResult(ctx context.Context, id string, ok bool, at time.Time) (store.Webhook, error) {
	q := `UPDATE webhooks SET failures = failures + 1,
			failing_since = CASE WHEN failing_since = 0 THEN ?3 ELSE failing_since END
		WHERE app_id = ?1 AND id = ?2 RETURNING ` + webhookColumns
	args := []any{id, ms(at)}
	if ok {
		q = `UPDATE webhooks SET failures = 0, failing_since = 0 WHERE app_id = ?1 AND id = ?2
			RETURNING ` + webhookColumns
		args = args[:1]
	}
	w, err := scanWebhook(a.s.write.QueryRowContext(ctx, q, a.bind(args)...))
	if err != nil {
		return store.Webhook{}, fmt.Errorf("record webhook %s result: %w", id, translate(err))
	}
	return w, nil
}

func scanWebhook(r scanner) (store.Webhook, error) {
	var w store.Webhook
	var events, secrets string
	var timeout, failingSince, created, updated int64
	err := r.Scan(&w.ID, &w.Kind, &w.URL, &w.Description, &events, &w.Enabled, &w.DisabledReason,
		&secrets, &timeout, &w.FailOpen, &w.ServerAPI, &w.Failures, &failingSince, &created, &updated, &w.Version)
	if err != nil {
		return w, err
	}
	if err := fromJSON(events, &w.Events); err != nil {
		return w, fmt.Errorf("decode events: %w", err)
	}
	var ss []webhookSecretJSON
	if err := fromJSON(secrets, &ss); err != nil {
		return w, fmt.Errorf("decode secrets: %w", err)
	}
	for _, s := range ss {
		w.Secrets = append(w.Secrets, store.WebhookSecret{ID: s.ID, Sealed: s.Sealed, Hint: s.Hint,
			CreatedAt: fromMS(s.CreatedAt), ExpiresAt: fromMS(s.ExpiresAt)})
	}
	w.Timeout = time.Duration(timeout)
	w.FailingSince, w.CreatedAt, w.UpdatedAt = fromMS(failingSince), fromMS(created), fromMS(updated)
	return w, nil
}

// PutWebhookEvent stores an event unless the app holds one with its id.
func (a *appStore) PutWebhookEvent(ctx context.Context, e store.WebhookEvent) error {
	_, err := a.exec(ctx, `INSERT INTO webhook_events (app_id, id, type, payload, created_at)
		VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (app_id, id) DO NOTHING`,
		e.ID, e.Type, e.Payload, ms(e.CreatedAt))
	if err != nil {
		return fmt.Errorf("put webhook event %s: %w", e.ID, translate(err))
	}
	return nil
}

// GetWebhookEvent returns one event, or store.ErrNotFound.
func (a *appStore) GetWebhookEvent(ctx context.Context, id string) (store.WebhookEvent, error) {
	var e store.WebhookEvent
	var created int64
	err := a.queryRow(ctx, `SELECT id, type, payload, created_at FROM webhook_events
		WHERE app_id = ?1 AND id = ?2`, id).Scan(&e.ID, &e.Type, &e.Payload, &created)
	if err != nil {
		return store.WebhookEvent{}, fmt.Errorf("get webhook event %s: %w", id, translate(err))
	}
	e.CreatedAt = fromMS(created)
	return e, nil
}

const attemptColumns = `id, webhook_id, event_id, event_type, attempt, outcome, status, error, response,
	latency_ns, at`

// AddWebhookAttempts records the attempts in one transaction, each with one
// statement that inserts it only while its endpoint exists and its id is
// free: a DeleteWebhook runs wholly before or after the call.
func (a *appStore) AddWebhookAttempts(ctx context.Context, as []store.WebhookAttempt) error {
	if len(as) == 0 {
		return nil
	}
	err := a.s.inSideTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT INTO webhook_attempts (app_id, `+attemptColumns+`)
			SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12
			WHERE EXISTS (SELECT 1 FROM webhooks WHERE app_id = ?1 AND id = ?3)
			ON CONFLICT (app_id, id) DO NOTHING`)
		if err != nil {
			return translate(err)
		}
		defer st.Close()
		for _, x := range as {
			_, err := st.ExecContext(ctx, a.bind([]any{x.ID, x.WebhookID, x.EventID, x.EventType,
				x.Attempt, x.Outcome, x.Status, x.Error, x.Response, int64(x.Latency), ms(x.At)})...)
			if err != nil {
				return fmt.Errorf("attempt %s: %w", x.ID, translate(err))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add webhook attempts: %w", err)
	}
	return nil
}

// ListWebhookAttempts returns up to q.Limit attempts of endpoint
// q.WebhookID (of event q.EventID, if set) with id < q.Before, newest
// first, walking the index that matches the query's shape.
func (a *appStore) ListWebhookAttempts(ctx context.Context, q store.WebhookAttemptQuery) ([]store.WebhookAttempt, error) {
	if q.Limit <= 0 {
		return nil, nil // SQLite reads a negative LIMIT as none
	}
	from := `webhook_attempts INDEXED BY webhook_attempts_webhook`
	where := `app_id = ?1 AND webhook_id = ?2 AND (?3 = '' OR id < ?3)`
	args := []any{q.WebhookID, q.Before, q.Limit}
	if q.EventID != "" {
		from = `webhook_attempts INDEXED BY webhook_attempts_event`
		where += ` AND event_id = ?5`
		args = append(args, q.EventID)
	}
	rows, err := a.query(ctx, `SELECT `+attemptColumns+` FROM `+from+` WHERE `+where+
		` ORDER BY id DESC LIMIT ?4`, args...)
	if err != nil {
		return nil, fmt.Errorf("list webhook attempts of %s: %w", q.WebhookID, translate(err))
	}
	as, err := collect(rows, scanAttempt)
	if err != nil {
		return nil, fmt.Errorf("list webhook attempts of %s: %w", q.WebhookID, err)
	}
	return as, nil
}

func scanAttempt(r scanner) (store.WebhookAttempt, error) {
	var x store.WebhookAttempt
	var latency, at int64
	err := r.Scan(&x.ID, &x.WebhookID, &x.EventID, &x.EventType, &x.Attempt, &x.Outcome, &x.Status,
		&x.Error, &x.Response, &latency, &at)
	x.Latency, x.At = time.Duration(latency), fromMS(at)
	return x, err
}

// GetKeywordRules returns the app's keyword rules, the zero value if it
// stored none.
func (a *appStore) GetKeywordRules(ctx context.Context) (store.KeywordRules, error) {
	var r store.KeywordRules
	var rules string
	var updated int64
	err := a.queryRow(ctx, `SELECT rules, updated_at, version FROM keyword_rules WHERE app_id = ?1`).
		Scan(&rules, &updated, &r.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return store.KeywordRules{}, nil
	}
	if err != nil {
		return store.KeywordRules{}, fmt.Errorf("get keyword rules: %w", translate(err))
	}
	if err := fromJSON(rules, &r.Rules); err != nil {
		return store.KeywordRules{}, fmt.Errorf("get keyword rules: decode: %w", err)
	}
	r.UpdatedAt = fromMS(updated)
	return r, nil
}

// PutKeywordRules replaces the app's keyword rules if their version is
// still r.Version: an insert that does nothing if a row exists (Version 0)
// or a conditional update. store.ErrConflict if nothing was written.
func (a *appStore) PutKeywordRules(ctx context.Context, r store.KeywordRules) error {
	rules, err := toJSON(r.Rules)
	if err != nil {
		return fmt.Errorf("put keyword rules: encode: %w", err)
	}
	q := `INSERT INTO keyword_rules (app_id, rules, updated_at, version) VALUES (?1, ?2, ?3, 1)
		ON CONFLICT (app_id) DO NOTHING`
	args := []any{rules, ms(r.UpdatedAt)}
	if r.Version != 0 {
		q = `UPDATE keyword_rules SET rules = ?2, updated_at = ?3, version = version + 1
			WHERE app_id = ?1 AND version = ?4`
		args = append(args, r.Version)
	}
	res, err := a.exec(ctx, q, args...)
	n, err := affected(res, err)
	if err == nil && n == 0 {
		err = store.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("put keyword rules: %w", err)
	}
	return nil
}

var (
	deleteWebhookEventsBefore   = sweepBefore("webhook_events", "created_at")
	deleteWebhookAttemptsBefore = sweepBefore("webhook_attempts", "at")
)

// DeleteWebhookLogBefore removes, in every app, the webhook events created
// before the given time and the delivery attempts made before it, in one
// transaction.
func (s *Store) DeleteWebhookLogBefore(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{deleteWebhookEventsBefore, deleteWebhookAttemptsBefore} {
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
		return 0, fmt.Errorf("delete webhook events and attempts: %w", err)
	}
	return n, nil
}
