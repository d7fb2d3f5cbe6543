package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// appStore is the store.AppStore of one app. Tenancy rule: every query it
// runs binds the app id as ?1 through bind (directly or via exec, query,
// queryRow and appTx), and every query on app data filters on app_id = ?1.
type appStore struct {
	s  *Store
	id string
}

// AppID returns the app this handle is scoped to.
func (a *appStore) AppID() string { return a.id }

// bind returns args with the app id in front, as ?1.
func (a *appStore) bind(args []any) []any {
	out := make([]any, 0, len(args)+1)
	out = append(out, a.id)
	return append(out, args...)
}

// exec runs one write statement of the app in the shared writer's next
// transaction (inSideTx). It runs outside inTx, so it must not change
// what the head and cursor caches hold (heads.go): such a statement is
// refused. Nor may it write the messages file.
func (a *appStore) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if changesCached(q) {
		return nil, fmt.Errorf("sqlite: a write outside a transaction changes cached state: %.60q", q)
	}
	var res sql.Result
	err := a.s.inSideTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		res, err = tx.ExecContext(ctx, q, a.bind(args)...)
		return err
	})
	return res, err
}

func (a *appStore) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return a.s.readRows(ctx, q, a.bind(args)...)
}

func (a *appStore) queryRow(ctx context.Context, q string, args ...any) scanner {
	return a.s.readRow(ctx, q, a.bind(args)...)
}

const userColumns = `id, name, avatar_url, metadata, blocked, tokens_valid_after, created_at, updated_at, last_seen_at`

// CreateUser adds a user; store.ErrConflict if the id is taken.
func (a *appStore) CreateUser(ctx context.Context, u store.User) error {
	err := a.inTx(ctx, func(t *appTx) error {
		created, err := t.insertUser(ctx, u)
		if err == nil && !created {
			err = store.ErrConflict
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.ID, err)
	}
	return nil
}

// CreateUsers adds users in one transaction; for each it returns nil or
// store.ErrConflict, in input order.
func (a *appStore) CreateUsers(ctx context.Context, us []store.User) ([]error, error) {
	errs := make([]error, len(us))
	err := a.inTx(ctx, func(t *appTx) error {
		for i, u := range us {
			created, err := t.insertUser(ctx, u)
			if err != nil {
				return fmt.Errorf("user %s: %w", u.ID, err)
			}
			if !created {
				errs[i] = store.ErrConflict
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create users: %w", err)
	}
	return errs, nil
}

// insertUser inserts u unless its id exists and reports whether it did. A
// tombstone of the id (a deleted user) raises TokensValidAfter and goes.
func (t *appTx) insertUser(ctx context.Context, u store.User) (bool, error) {
	meta, err := metadataJSON(u.Metadata)
	if err != nil {
		return false, fmt.Errorf("encode metadata: %w", err)
	}
	var deleted int64
	err = t.tx.QueryRowContext(ctx, `SELECT deleted_at FROM user_tombstones WHERE app_id = ?1 AND id = ?2`,
		t.a.bind([]any{u.ID})...).Scan(&deleted)
	switch {
	case err == nil:
		u.TokensValidAfter = latest(u.TokensValidAfter, fromMS(deleted), u.CreatedAt.Truncate(time.Second))
	case !errors.Is(err, sql.ErrNoRows):
		return false, fmt.Errorf("read tombstone: %w", translate(err))
	}
	res, err := t.exec(ctx, stmtInsertUser, u.ID, u.Name, u.AvatarURL, meta, u.Blocked,
		ms(u.TokensValidAfter), ms(u.CreatedAt), ms(u.UpdatedAt))
	n, err := affected(res, err)
	if n == 1 && deleted != 0 {
		_, err = t.tx.ExecContext(ctx, `DELETE FROM user_tombstones WHERE app_id = ?1 AND id = ?2`, t.a.bind([]any{u.ID})...)
		err = translate(err)
	}
	return n == 1, err
}

func latest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if t.After(out) {
			out = t
		}
	}
	return out
}

// GetUser returns a user, or store.ErrNotFound.
func (a *appStore) GetUser(ctx context.Context, id string) (store.User, error) {
	row := a.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE app_id = ?1 AND id = ?2`, id)
	u, err := scanUser(row)
	if err != nil {
		return store.User{}, fmt.Errorf("get user %s: %w", id, translate(err))
	}
	return u, nil
}

// UpdateUser replaces the name, avatar URL, metadata and updated time;
// store.ErrNotFound if the user does not exist.
func (a *appStore) UpdateUser(ctx context.Context, u store.User) error {
	meta, err := metadataJSON(u.Metadata)
	if err != nil {
		return fmt.Errorf("update user %s: encode metadata: %w", u.ID, err)
	}
	res, err := a.exec(ctx,
		`UPDATE users SET name = ?3, avatar_url = ?4, metadata = ?5, updated_at = ?6
		WHERE app_id = ?1 AND id = ?2`,
		u.ID, u.Name, u.AvatarURL, meta, ms(u.UpdatedAt))
	if err := mustAffect(res, err); err != nil {
		return fmt.Errorf("update user %s: %w", u.ID, err)
	}
	return nil
}

// deleteUserSQL are the statements of DeleteUser, in order; each binds the
// app id as ?1, the user id as ?2, the deletion time as ?3 and whether to
// erase the user's messages as ?4. The messages are reached through the
// user's conversation entries, so those go last.
var deleteUserSQL = []string{
	`INSERT INTO user_tombstones (app_id, id, deleted_at) VALUES (?1, ?2, ?3)
		ON CONFLICT (app_id, id) DO UPDATE SET deleted_at = excluded.deleted_at`,
	// Erased messages leave the search index (before their search_id is
	// zeroed below).
	`DELETE FROM message_search WHERE ?4 AND rowid IN (SELECT search_id FROM messages
		WHERE app_id = ?1 AND sender_id = ?2 AND search_id > 0
		AND conv_id IN (SELECT conv_id FROM user_conversations WHERE app_id = ?1 AND user_id = ?2))`,
	`UPDATE messages SET client_msg_id = '',
		search_id = CASE WHEN ?4 AND recalled_at = 0 THEN 0 ELSE search_id END,
		body = CASE WHEN ?4 AND recalled_at = 0 THEN NULL ELSE body END,
		push = CASE WHEN ?4 AND recalled_at = 0 THEN NULL ELSE push END,
		recalled_at = CASE WHEN ?4 AND recalled_at = 0 THEN ?3 ELSE recalled_at END
		WHERE app_id = ?1 AND sender_id = ?2
		AND conv_id IN (SELECT conv_id FROM user_conversations WHERE app_id = ?1 AND user_id = ?2)`,
	`UPDATE conversations SET rejoin = 1
		WHERE app_id = ?1 AND id IN (SELECT conv_id FROM user_conversations WHERE app_id = ?1 AND user_id = ?2)`,
	`DELETE FROM message_search WHERE rowid IN (SELECT search_id FROM messages
		WHERE app_id = ?1 AND conv_id = 's:' || ?2 AND search_id > 0)`,
	`DELETE FROM messages WHERE app_id = ?1 AND conv_id = 's:' || ?2`,
	// The message log may still hold one of them, absorbed (a prune keeps
	// the log's newest row, absorber.go): a seq of 0 keeps it from being
	// absorbed again when the next process opens the log.
	`UPDATE message_log SET seq = 0 WHERE app_id = ?1 AND conv_id = 's:' || ?2`,
	`DELETE FROM conversations WHERE app_id = ?1 AND id = 's:' || ?2`,
	`DELETE FROM device_cursors WHERE app_id = ?1 AND user_id = ?2`,
	`DELETE FROM push_outbox INDEXED BY push_outbox_user WHERE app_id = ?1 AND user_id = ?2`,
	`DELETE FROM push_devices WHERE app_id = ?1 AND user_id = ?2`,
	`DELETE FROM push_settings WHERE app_id = ?1 AND user_id = ?2`,
	`DELETE FROM push_log INDEXED BY push_log_user WHERE app_id = ?1 AND user_id = ?2`,
	// Its agent record, even with active sessions: the sessions stay, as
	// history, with their agent id.
	`DELETE FROM support_agents WHERE app_id = ?1 AND user_id = ?2`,
	// Its group memberships: each group has one member less.
	`UPDATE groups SET member_count = member_count - 1
		WHERE app_id = ?1 AND id IN (SELECT substr(conv_id, 3) FROM user_conversations
			WHERE app_id = ?1 AND user_id = ?2 AND substr(conv_id, 1, 2) = 'g:')`,
	`DELETE FROM group_join_requests INDEXED BY group_join_requests_user WHERE app_id = ?1 AND user_id = ?2`,
	// Its contacts: both sides of its friendships, its requests either
	// way, its blocks and the blocks of it.
	// Friendships are symmetric: the other sides are found through the
	// user's own, which go after them.
	`DELETE FROM friends WHERE app_id = ?1 AND friend_id = ?2
		AND user_id IN (SELECT friend_id FROM friends WHERE app_id = ?1 AND user_id = ?2)`,
	`DELETE FROM friends WHERE app_id = ?1 AND user_id = ?2`,
	`DELETE FROM friend_requests WHERE app_id = ?1 AND from_id = ?2`,
	`DELETE FROM friend_requests INDEXED BY friend_requests_to WHERE app_id = ?1 AND to_id = ?2`,
	`DELETE FROM blocks WHERE app_id = ?1 AND user_id = ?2`,
	`DELETE FROM blocks INDEXED BY blocks_target WHERE app_id = ?1 AND target_id = ?2`,
	`DELETE FROM message_reactions INDEXED BY message_reactions_user WHERE app_id = ?1 AND user_id = ?2`,
	`DELETE FROM room_bans INDEXED BY room_bans_user WHERE app_id = ?1 AND user_id = ?2`,
	`DELETE FROM user_conversations WHERE app_id = ?1 AND user_id = ?2`,
}

// DeleteUser removes a user and what is only the user's, in one
// transaction; see store.AppStore. store.ErrNotFound if it does not exist.
func (a *appStore) DeleteUser(ctx context.Context, id string, d store.UserDeletion) error {
	err := a.inTx(ctx, func(t *appTx) error {
		res, err := t.tx.ExecContext(ctx, `DELETE FROM users WHERE app_id = ?1 AND id = ?2`, a.bind([]any{id})...)
		if err := mustAffect(res, err); err != nil {
			return err
		}
		for _, q := range deleteUserSQL {
			if _, err := t.tx.ExecContext(ctx, q, a.bind([]any{id, ms(d.At), d.EraseMessages})...); err != nil {
				return translate(err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete user %s: %w", id, err)
	}
	return nil
}

// ListUsers returns up to limit users with id > after, by id.
func (a *appStore) ListUsers(ctx context.Context, after string, limit int) ([]store.User, error) {
	rows, err := a.query(ctx,
		`SELECT `+userColumns+` FROM users WHERE app_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3`,
		after, limit)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", translate(err))
	}
	users, err := collect(rows, scanUser)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}

// SetUserBlocked sets or clears the blocked flag and sets the updated time
// to at; store.ErrNotFound if the user does not exist.
func (a *appStore) SetUserBlocked(ctx context.Context, id string, blocked bool, at time.Time) error {
	res, err := a.exec(ctx,
		`UPDATE users SET blocked = ?3, updated_at = ?4 WHERE app_id = ?1 AND id = ?2`,
		id, blocked, ms(at))
	if err := mustAffect(res, err); err != nil {
		return fmt.Errorf("set user %s blocked: %w", id, err)
	}
	return nil
}

// RevokeTokens moves the user's TokensValidAfter forward to before (never
// back); store.ErrNotFound if the user does not exist.
func (a *appStore) RevokeTokens(ctx context.Context, id string, before time.Time) error {
	res, err := a.exec(ctx,
		`UPDATE users SET tokens_valid_after = max(tokens_valid_after, ?3)
		WHERE app_id = ?1 AND id = ?2`,
		id, ms(before))
	if err := mustAffect(res, err); err != nil {
		return fmt.Errorf("revoke tokens of user %s: %w", id, err)
	}
	return nil
}

// SetLastSeen moves the user's LastSeenAt forward to at (never back);
// store.ErrNotFound if the user does not exist.
func (a *appStore) SetLastSeen(ctx context.Context, id string, at time.Time) error {
	res, err := a.exec(ctx,
		`UPDATE users SET last_seen_at = max(last_seen_at, ?3) WHERE app_id = ?1 AND id = ?2`,
		id, ms(at))
	if err := mustAffect(res, err); err != nil {
		return fmt.Errorf("set last seen of user %s: %w", id, err)
	}
	return nil
}

func scanUser(r scanner) (store.User, error) {
	var u store.User
	var meta string
	var tokens, created, updated, seen int64
	err := r.Scan(&u.ID, &u.Name, &u.AvatarURL, &meta, &u.Blocked, &tokens, &created, &updated, &seen)
	if err != nil {
		return u, err
	}
	if u.Metadata, err = parseMetadata(meta); err != nil {
		return u, fmt.Errorf("decode metadata: %w", err)
	}
	u.TokensValidAfter = fromMS(tokens)
	u.CreatedAt, u.UpdatedAt, u.LastSeenAt = fromMS(created), fromMS(updated), fromMS(seen)
	return u, nil
}

const idempotencyColumns = `key, request_hash, status, body, created_at`

// PutIdempotency stores r unless the key exists; it returns the stored
// record and whether this call created it.
func (a *appStore) PutIdempotency(ctx context.Context, r store.Idempotency) (store.Idempotency, bool, error) {
	res, err := a.exec(ctx,
		`INSERT INTO idempotency (app_id, `+idempotencyColumns+`) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
		ON CONFLICT (app_id, key) DO NOTHING`,
		r.Key, r.RequestHash, r.Status, r.Body, ms(r.CreatedAt))
	n, err := affected(res, err)
	if err != nil {
		return store.Idempotency{}, false, fmt.Errorf("put idempotency: %w", err)
	}
	if n == 1 {
		return r, true, nil
	}
	// The key exists. Read it through the write connection: it saw the
	// conflicting row, so it cannot miss it.
	row := a.s.write.QueryRowContext(ctx,
		`SELECT `+idempotencyColumns+` FROM idempotency WHERE app_id = ?1 AND key = ?2`,
		a.bind([]any{r.Key})...)
	stored, err := scanIdempotency(row)
	if err != nil {
		return store.Idempotency{}, false, fmt.Errorf("put idempotency: %w", translate(err))
	}
	return stored, false, nil
}

// GetIdempotency returns the record for key, or store.ErrNotFound.
func (a *appStore) GetIdempotency(ctx context.Context, key string) (store.Idempotency, error) {
	row := a.queryRow(ctx,
		`SELECT `+idempotencyColumns+` FROM idempotency WHERE app_id = ?1 AND key = ?2`, key)
	r, err := scanIdempotency(row)
	if err != nil {
		return store.Idempotency{}, fmt.Errorf("get idempotency: %w", translate(err))
	}
	return r, nil
}

func scanIdempotency(r scanner) (store.Idempotency, error) {
	var rec store.Idempotency
	var created int64
	if err := r.Scan(&rec.Key, &rec.RequestHash, &rec.Status, &rec.Body, &created); err != nil {
		return rec, err
	}
	rec.CreatedAt = fromMS(created)
	return rec, nil
}
