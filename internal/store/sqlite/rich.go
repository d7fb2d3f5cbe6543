package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// EditMessage replaces the body of a message that is not recalled; see
// store.RichStore.
func (a *appStore) EditMessage(ctx context.Context, convID string, seq int64, body []byte, at time.Time) (store.Message, error) {
	var m store.Message
	err := a.inTx(ctx, func(t *appTx) error {
		if _, err := t.txExec(ctx, `UPDATE messages SET body = ?4, edited_at = ?5
			WHERE app_id = ?1 AND conv_id = ?2 AND seq = ?3 AND recalled_at = 0`, convID, seq, body, ms(at)); err != nil {
			return err
		}
		var err error
		if m, err = scanMessage(t.queryRow(ctx, stmtGetMessage, convID, seq)); err != nil {
			return translate(err)
		}
		if !m.RecalledAt.IsZero() {
			return store.ErrConflict
		}
		// Searchable by the new text only.
		return t.reindex(ctx, m)
	})
	if err != nil {
		return store.Message{}, fmt.Errorf("edit message %s/%d: %w", convID, seq, err)
	}
	return m, nil
}

// AddReaction records a reaction; see store.RichStore.
func (a *appStore) AddReaction(ctx context.Context, r store.Reaction, maxEmoji int) (bool, error) {
	added := false
	err := a.inTx(ctx, func(t *appTx) error {
		var n int
		if err := t.txQueryRow(ctx, `SELECT COUNT(*) FROM messages WHERE app_id = ?1 AND conv_id = ?2 AND seq = ?3`,
			r.ConvID, r.Seq).Scan(&n); err != nil {
			return translate(err)
		}
		if n == 0 {
			return store.ErrNotFound
		}
		if maxEmoji > 0 {
			var distinct, same int
			if err := t.txQueryRow(ctx, `SELECT COUNT(DISTINCT emoji), COUNT(CASE WHEN emoji = ?4 THEN 1 END)
				FROM message_reactions WHERE app_id = ?1 AND conv_id = ?2 AND seq = ?3`,
				r.ConvID, r.Seq, r.Emoji).Scan(&distinct, &same); err != nil {
				return translate(err)
			}
			if same == 0 && distinct >= maxEmoji {
				return store.ErrLimit
			}
		}
		res, err := t.txExec(ctx, `INSERT INTO message_reactions (app_id, conv_id, seq, emoji, user_id, created_at)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING`, r.ConvID, r.Seq, r.Emoji, r.UserID, ms(r.CreatedAt))
		k, err := affected(res, err)
		added = k > 0
		return err
	})
	if err != nil {
		return false, fmt.Errorf("add reaction to %s/%d: %w", r.ConvID, r.Seq, err)
	}
	return added, nil
}

// RemoveReaction removes a reaction; see store.RichStore.
func (a *appStore) RemoveReaction(ctx context.Context, convID string, seq int64, emoji, userID string) (bool, error) {
	res, err := a.exec(ctx, `DELETE FROM message_reactions
		WHERE app_id = ?1 AND conv_id = ?2 AND seq = ?3 AND emoji = ?4 AND user_id = ?5`, convID, seq, emoji, userID)
	n, err := affected(res, err)
	if err != nil {
		return false, fmt.Errorf("remove reaction from %s/%d: %w", convID, seq, err)
	}
	return n > 0, nil
}

// ListReactions returns the reactions to messages; see store.RichStore.
func (a *appStore) ListReactions(ctx context.Context, convID string, seqs []int64) ([]store.Reaction, error) {
	if len(seqs) == 0 {
		return nil, nil
	}
	args := []any{convID}
	marks := make([]string, len(seqs))
	for i, s := range seqs {
		args = append(args, s)
		marks[i] = fmt.Sprintf("?%d", i+3)
	}
	rows, err := a.query(ctx, `SELECT conv_id, seq, emoji, user_id, created_at FROM message_reactions
		WHERE app_id = ?1 AND conv_id = ?2 AND seq IN (`+strings.Join(marks, ", ")+`)
		ORDER BY seq, emoji, created_at, user_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list reactions of %s: %w", convID, translate(err))
	}
	out, err := collect(rows, func(r scanner) (store.Reaction, error) {
		var x store.Reaction
		var created int64
		err := r.Scan(&x.ConvID, &x.Seq, &x.Emoji, &x.UserID, &created)
		x.CreatedAt = fromMS(created)
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("list reactions of %s: %w", convID, translate(err))
	}
	return out, nil
}
