package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// PutFriendRequest stores a request, replacing one in the same direction;
// see store.ContactStore.
func (a *appStore) PutFriendRequest(ctx context.Context, r store.FriendRequest) error {
	_, err := a.exec(ctx, `INSERT INTO friend_requests (app_id, from_id, to_id, message, created_at)
		VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (app_id, from_id, to_id)
		DO UPDATE SET message = excluded.message, created_at = excluded.created_at`,
		r.FromID, r.ToID, r.Message, ms(r.CreatedAt))
	if err != nil {
		return fmt.Errorf("put friend request %s -> %s: %w", r.FromID, r.ToID, translate(err))
	}
	return nil
}

const friendRequestColumns = `from_id, to_id, message, created_at`

func scanFriendRequest(r scanner) (store.FriendRequest, error) {
	var x store.FriendRequest
	var at int64
	err := r.Scan(&x.FromID, &x.ToID, &x.Message, &at)
	x.CreatedAt = fromMS(at)
	return x, err
}

// GetFriendRequest returns a request or store.ErrNotFound.
func (a *appStore) GetFriendRequest(ctx context.Context, fromID, toID string) (store.FriendRequest, error) {
	x, err := scanFriendRequest(a.queryRow(ctx, `SELECT `+friendRequestColumns+` FROM friend_requests
		WHERE app_id = ?1 AND from_id = ?2 AND to_id = ?3`, fromID, toID))
	if err != nil {
		return x, fmt.Errorf("get friend request %s -> %s: %w", fromID, toID, translate(err))
	}
	return x, nil
}

// DeleteFriendRequest removes a request; store.ErrNotFound if none.
func (a *appStore) DeleteFriendRequest(ctx context.Context, fromID, toID string) error {
	res, err := a.exec(ctx, `DELETE FROM friend_requests WHERE app_id = ?1 AND from_id = ?2 AND to_id = ?3`, fromID, toID)
	if err := mustAffect(res, err); err != nil {
		return fmt.Errorf("delete friend request %s -> %s: %w", fromID, toID, err)
	}
	return nil
}

// ListFriendRequests returns a page of a user's incoming or outgoing
// requests, by the other user's id.
func (a *appStore) ListFriendRequests(ctx context.Context, userID string, incoming bool, after string, limit int) ([]store.FriendRequest, error) {
	q := `SELECT ` + friendRequestColumns + ` FROM friend_requests
		WHERE app_id = ?1 AND from_id = ?2 AND to_id > ?3 ORDER BY to_id LIMIT ?4`
	if incoming {
		q = `SELECT ` + friendRequestColumns + ` FROM friend_requests INDEXED BY friend_requests_to
		WHERE app_id = ?1 AND to_id = ?2 AND from_id > ?3 ORDER BY from_id LIMIT ?4`
	}
	rows, err := a.query(ctx, q, userID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list friend requests of %s: %w", userID, translate(err))
	}
	out, err := collect(rows, scanFriendRequest)
	if err != nil {
		return nil, fmt.Errorf("list friend requests of %s: %w", userID, err)
	}
	return out, nil
}

// AddFriendship writes both sides and removes the requests between the two
// users in one transaction; see store.ContactStore.
func (a *appStore) AddFriendship(ctx context.Context, userID, friendID string, at time.Time, maxFriends int) error {
	err := a.inTx(ctx, func(t *appTx) error {
		for _, side := range [][2]string{{userID, friendID}, {friendID, userID}} {
			var have, n int
			if err := t.txQueryRow(ctx, `SELECT
				(SELECT COUNT(*) FROM friends WHERE app_id = ?1 AND user_id = ?2 AND friend_id = ?3),
				(SELECT COUNT(*) FROM friends WHERE app_id = ?1 AND user_id = ?2)`, side[0], side[1]).Scan(&have, &n); err != nil {
				return translate(err)
			}
			if have > 0 {
				continue
			}
			if maxFriends > 0 && n >= maxFriends {
				return store.ErrLimit
			}
			if _, err := t.txExec(ctx, `INSERT INTO friends (app_id, user_id, friend_id, remark, created_at)
				VALUES (?1, ?2, ?3, '', ?4)`, side[0], side[1], ms(at)); err != nil {
				return err
			}
		}
		_, err := t.txExec(ctx, `DELETE FROM friend_requests WHERE app_id = ?1
			AND ((from_id = ?2 AND to_id = ?3) OR (from_id = ?3 AND to_id = ?2))`, userID, friendID)
		return err
	})
	if err != nil {
		return fmt.Errorf("add friendship %s, %s: %w", userID, friendID, err)
	}
	return nil
}

// RemoveFriendship removes both sides; store.ErrNotFound if neither
// existed.
func (a *appStore) RemoveFriendship(ctx context.Context, userID, friendID string) error {
	res, err := a.exec(ctx, `DELETE FROM friends WHERE app_id = ?1
		AND ((user_id = ?2 AND friend_id = ?3) OR (user_id = ?3 AND friend_id = ?2))`, userID, friendID)
	if err := mustAffect(res, err); err != nil {
		return fmt.Errorf("remove friendship %s, %s: %w", userID, friendID, err)
	}
	return nil
}

const friendColumns = `user_id, friend_id, remark, created_at`

func scanFriend(r scanner) (store.Friend, error) {
	var x store.Friend
	var at int64
	err := r.Scan(&x.UserID, &x.FriendID, &x.Remark, &at)
	x.CreatedAt = fromMS(at)
	return x, err
}

// GetFriend returns a user's side of a friendship or store.ErrNotFound.
func (a *appStore) GetFriend(ctx context.Context, userID, friendID string) (store.Friend, error) {
	x, err := scanFriend(a.queryRow(ctx, `SELECT `+friendColumns+` FROM friends
		WHERE app_id = ?1 AND user_id = ?2 AND friend_id = ?3`, userID, friendID))
	if err != nil {
		return x, fmt.Errorf("get friend %s of %s: %w", friendID, userID, translate(err))
	}
	return x, nil
}

// SetFriendRemark replaces a remark; store.ErrNotFound if not friends.
func (a *appStore) SetFriendRemark(ctx context.Context, userID, friendID, remark string) error {
	res, err := a.exec(ctx, `UPDATE friends SET remark = ?4 WHERE app_id = ?1 AND user_id = ?2 AND friend_id = ?3`,
		userID, friendID, remark)
	if err := mustAffect(res, err); err != nil {
		return fmt.Errorf("set remark of %s for %s: %w", friendID, userID, err)
	}
	return nil
}

// ListFriends returns a page of a user's friends by id.
func (a *appStore) ListFriends(ctx context.Context, userID, after string, limit int) ([]store.Friend, error) {
	rows, err := a.query(ctx, `SELECT `+friendColumns+` FROM friends
		WHERE app_id = ?1 AND user_id = ?2 AND friend_id > ?3 ORDER BY friend_id LIMIT ?4`, userID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list friends of %s: %w", userID, translate(err))
	}
	out, err := collect(rows, scanFriend)
	if err != nil {
		return nil, fmt.Errorf("list friends of %s: %w", userID, err)
	}
	return out, nil
}

// PutBlock records a block, keeping the first time.
func (a *appStore) PutBlock(ctx context.Context, b store.Block) error {
	_, err := a.exec(ctx, `INSERT INTO blocks (app_id, user_id, target_id, created_at) VALUES (?1, ?2, ?3, ?4)
		ON CONFLICT (app_id, user_id, target_id) DO NOTHING`, b.UserID, b.TargetID, ms(b.CreatedAt))
	if err != nil {
		return fmt.Errorf("block %s by %s: %w", b.TargetID, b.UserID, translate(err))
	}
	return nil
}

// DeleteBlock removes a block; store.ErrNotFound if none.
func (a *appStore) DeleteBlock(ctx context.Context, userID, targetID string) error {
	res, err := a.exec(ctx, `DELETE FROM blocks WHERE app_id = ?1 AND user_id = ?2 AND target_id = ?3`, userID, targetID)
	if err := mustAffect(res, err); err != nil {
		return fmt.Errorf("unblock %s by %s: %w", targetID, userID, err)
	}
	return nil
}

// ListBlocks returns a page of the users a user blocks, by id.
func (a *appStore) ListBlocks(ctx context.Context, userID, after string, limit int) ([]store.Block, error) {
	rows, err := a.query(ctx, `SELECT user_id, target_id, created_at FROM blocks
		WHERE app_id = ?1 AND user_id = ?2 AND target_id > ?3 ORDER BY target_id LIMIT ?4`, userID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list blocks of %s: %w", userID, translate(err))
	}
	out, err := collect(rows, func(r scanner) (store.Block, error) {
		var x store.Block
		var at int64
		err := r.Scan(&x.UserID, &x.TargetID, &at)
		x.CreatedAt = fromMS(at)
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("list blocks of %s: %w", userID, err)
	}
	return out, nil
}

// GetRelation reads how from stands to to in one query.
func (a *appStore) GetRelation(ctx context.Context, fromID, toID string) (store.Relation, error) {
	var r store.Relation
	err := a.queryRow(ctx, `SELECT
		EXISTS (SELECT 1 FROM friends WHERE app_id = ?1 AND user_id = ?2 AND friend_id = ?3),
		EXISTS (SELECT 1 FROM blocks WHERE app_id = ?1 AND user_id = ?3 AND target_id = ?2),
		EXISTS (SELECT 1 FROM blocks WHERE app_id = ?1 AND user_id = ?2 AND target_id = ?3)`,
		fromID, toID).Scan(&r.Friends, &r.Blocked, &r.Blocking)
	if err != nil {
		return r, fmt.Errorf("get relation %s -> %s: %w", fromID, toID, translate(err))
	}
	return r, nil
}
