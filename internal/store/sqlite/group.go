package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

const groupColumns = `id, name, avatar_url, notice, metadata, owner_id, policy, mute_all, history_visible,
	member_count, created_at, updated_at, dismissed_at, version`

// A member is its entry in the group's conversation.
const groupMemberColumns = `user_id, role, muted_until, joined_at, first_seq, read_seq`

// txExec runs q in the transaction, binding the app id as ?1.
func (t *appTx) txExec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	res, err := t.tx.ExecContext(ctx, q, t.a.bind(args)...)
	return res, translate(err)
}

func (t *appTx) txQueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, q, t.a.bind(args)...)
}

// distinctMembers returns ms without repeated user ids, first kept.
func distinctMembers(ms []store.GroupMember) []store.GroupMember {
	out := make([]store.GroupMember, 0, len(ms))
	for _, m := range ms {
		if !slices.ContainsFunc(out, func(o store.GroupMember) bool { return o.UserID == m.UserID }) {
			out = append(out, m)
		}
	}
	return out
}

// CreateGroup stores a group, its conversation and its members' entries in
// one transaction; see store.GroupStore.
func (a *appStore) CreateGroup(ctx context.Context, g store.Group, members []store.GroupMember) error {
	distinct := distinctMembers(members)
	meta, err := metadataJSON(g.Metadata)
	if err != nil {
		return fmt.Errorf("create group %s: encode metadata: %w", g.ID, err)
	}
	err = a.inTx(ctx, func(t *appTx) error {
		res, err := t.txExec(ctx, `INSERT INTO groups (app_id, `+groupColumns+`)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 0, 1)
			ON CONFLICT (app_id, id) DO NOTHING`,
			g.ID, g.Name, g.AvatarURL, g.Notice, meta, g.OwnerID, string(g.Policy), g.MuteAll, g.HistoryVisible,
			len(distinct), ms(g.CreatedAt), ms(g.UpdatedAt))
		if n, err := affected(res, err); err != nil {
			return err
		} else if n == 0 {
			return store.ErrConflict
		}
		conv := store.GroupConvID(g.ID)
		if _, err := t.txExec(ctx, `INSERT INTO conversations (app_id, id, members, max_seq, created_at, updated_at)
			VALUES (?1, ?2, '[]', 0, ?3, ?3)`, conv, ms(g.CreatedAt)); err != nil {
			return err
		}
		return insertEntries(ctx, t, conv, distinct, 1)
	})
	if err != nil {
		return fmt.Errorf("create group %s: %w", g.ID, err)
	}
	return nil
}

// insertEntries adds the members' entries to a group conversation, starting
// at firstSeq.
func insertEntries(ctx context.Context, t *appTx, conv string, members []store.GroupMember, firstSeq int64) error {
	for _, m := range members {
		if _, err := t.txExec(ctx, `INSERT INTO user_conversations (app_id, user_id, conv_id, read_seq, delivered_seq,
			first_seq, role, muted_until, joined_at) VALUES (?1, ?2, ?3, ?4 - 1, ?4 - 1, ?4, ?5, ?6, ?7)`,
			m.UserID, conv, firstSeq, string(m.Role), ms(m.MutedUntil), ms(m.JoinedAt)); err != nil {
			return fmt.Errorf("add member %s: %w", m.UserID, err)
		}
	}
	return nil
}

// GetGroup returns a group, dismissed or not; store.ErrNotFound if none.
func (a *appStore) GetGroup(ctx context.Context, id string) (store.Group, error) {
	g, err := scanGroup(a.queryRow(ctx, `SELECT `+groupColumns+` FROM groups WHERE app_id = ?1 AND id = ?2`, id))
	if err != nil {
		return store.Group{}, fmt.Errorf("get group %s: %w", id, translate(err))
	}
	return g, nil
}

func scanGroup(r scanner) (store.Group, error) {
	var g store.Group
	var meta, policy string
	var created, updated, dismissed int64
	err := r.Scan(&g.ID, &g.Name, &g.AvatarURL, &g.Notice, &meta, &g.OwnerID, &policy, &g.MuteAll, &g.HistoryVisible,
		&g.MemberCount, &created, &updated, &dismissed, &g.Version)
	if err != nil {
		return g, err
	}
	if g.Metadata, err = parseMetadata(meta); err != nil {
		return g, fmt.Errorf("decode metadata: %w", err)
	}
	g.Policy = store.JoinPolicy(policy)
	g.CreatedAt, g.UpdatedAt, g.DismissedAt = fromMS(created), fromMS(updated), fromMS(dismissed)
	return g, nil
}

// UpdateGroup is a conditional write on the version; see store.GroupStore.
func (a *appStore) UpdateGroup(ctx context.Context, g store.Group) error {
	meta, err := metadataJSON(g.Metadata)
	if err != nil {
		return fmt.Errorf("update group %s: encode metadata: %w", g.ID, err)
	}
	res, err := a.exec(ctx, `UPDATE groups SET name = ?3, avatar_url = ?4, notice = ?5, metadata = ?6, owner_id = ?7,
		policy = ?8, mute_all = ?9, history_visible = ?10, updated_at = ?11, version = version + 1
		WHERE app_id = ?1 AND id = ?2 AND version = ?12 AND dismissed_at = 0`,
		g.ID, g.Name, g.AvatarURL, g.Notice, meta, g.OwnerID, string(g.Policy), g.MuteAll, g.HistoryVisible,
		ms(g.UpdatedAt), g.Version)
	n, err := affected(res, err)
	if err == nil && n == 0 {
		err = store.ErrNotFound
		if cur, gerr := a.GetGroup(ctx, g.ID); gerr == nil && !cur.Dismissed() {
			err = store.ErrConflict
		}
	}
	if err != nil {
		return fmt.Errorf("update group %s: %w", g.ID, err)
	}
	return nil
}

// groupState reads what a transaction needs of a group: whether new
// members see the history, its member count and whether it was dismissed.
func groupState(ctx context.Context, t *appTx, id string) (history bool, count int, dismissed bool, err error) {
	var at int64
	err = t.txQueryRow(ctx, `SELECT history_visible, member_count, dismissed_at FROM groups WHERE app_id = ?1 AND id = ?2`, id).
		Scan(&history, &count, &at)
	return history, count, at != 0, translate(err)
}

// DismissGroup marks the group dismissed and removes its members and join
// requests, in one transaction.
func (a *appStore) DismissGroup(ctx context.Context, id string, at time.Time) error {
	err := a.inTx(ctx, func(t *appTx) error {
		if _, _, dismissed, err := groupState(ctx, t, id); err != nil || dismissed {
			return err
		}
		conv := store.GroupConvID(id)
		for _, q := range []string{
			`UPDATE groups SET dismissed_at = ?3, member_count = 0 WHERE app_id = ?1 AND id = ?2`,
			`DELETE FROM device_cursors WHERE app_id = ?1 AND conv_id = 'g:' || ?2 AND user_id IN
				(SELECT user_id FROM user_conversations WHERE app_id = ?1 AND conv_id = 'g:' || ?2)`,
			`DELETE FROM user_conversations WHERE app_id = ?1 AND conv_id = 'g:' || ?2`,
			`DELETE FROM group_join_requests WHERE app_id = ?1 AND group_id = ?2`,
		} {
			if _, err := t.txExec(ctx, q, id, ms(at)); err != nil {
				return fmt.Errorf("%s: %w", conv, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("dismiss group %s: %w", id, err)
	}
	return nil
}

// AddGroupMembers adds the new members, all or none, in one transaction;
// see store.GroupStore.
func (a *appStore) AddGroupMembers(ctx context.Context, groupID string, members []store.GroupMember, maxMembers int) ([]store.GroupMember, error) {
	var added []store.GroupMember
	err := a.inTx(ctx, func(t *appTx) error {
		history, count, dismissed, err := groupState(ctx, t, groupID)
		if err != nil {
			return err
		}
		if dismissed {
			return store.ErrNotFound
		}
		conv := store.GroupConvID(groupID)
		for _, m := range distinctMembers(members) {
			var n int
			if err := t.queryRow(ctx, stmtMemberEntries, m.UserID, conv).Scan(&n); err != nil {
				return translate(err)
			}
			if n == 0 {
				added = append(added, m)
			}
		}
		if len(added) == 0 {
			return nil
		}
		if maxMembers > 0 && count+len(added) > maxMembers {
			err := fmt.Errorf("%d members and %d more: %w", count, len(added), store.ErrLimit)
			added = nil
			return err
		}
		first := int64(1)
		if !history {
			var maxSeq int64
			if err := t.txQueryRow(ctx, `SELECT max_seq FROM conversations WHERE app_id = ?1 AND id = ?2`, conv).Scan(&maxSeq); err != nil {
				return translate(err)
			}
			first = maxSeq + 1
		}
		if err := insertEntries(ctx, t, conv, added, first); err != nil {
			return err
		}
		for i := range added {
			added[i].FirstSeq, added[i].ReadSeq = first, first-1
			if _, err := t.txExec(ctx, `DELETE FROM group_join_requests WHERE app_id = ?1 AND group_id = ?2 AND user_id = ?3`,
				groupID, added[i].UserID); err != nil {
				return err
			}
		}
		_, err = t.txExec(ctx, `UPDATE groups SET member_count = member_count + ?3 WHERE app_id = ?1 AND id = ?2`,
			groupID, len(added))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("add members to group %s: %w", groupID, err)
	}
	return added, nil
}

// RemoveGroupMembers removes the members' entries and device cursors in one
// transaction.
func (a *appStore) RemoveGroupMembers(ctx context.Context, groupID string, userIDs []string) ([]string, error) {
	var removed []string
	err := a.inTx(ctx, func(t *appTx) error {
		if _, _, _, err := groupState(ctx, t, groupID); err != nil {
			return err
		}
		conv := store.GroupConvID(groupID)
		for _, u := range userIDs {
			if slices.Contains(removed, u) {
				continue
			}
			res, err := t.txExec(ctx, `DELETE FROM user_conversations WHERE app_id = ?1 AND user_id = ?2 AND conv_id = ?3`, u, conv)
			if n, err := affected(res, err); err != nil {
				return err
			} else if n == 0 {
				continue
			}
			removed = append(removed, u)
			if _, err := t.txExec(ctx, `DELETE FROM device_cursors WHERE app_id = ?1 AND user_id = ?2 AND conv_id = ?3`, u, conv); err != nil {
				return err
			}
		}
		if len(removed) == 0 {
			return nil
		}
		_, err := t.txExec(ctx, `UPDATE groups SET member_count = member_count - ?3 WHERE app_id = ?1 AND id = ?2`,
			groupID, len(removed))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("remove members from group %s: %w", groupID, err)
	}
	return removed, nil
}

// GetGroupMember returns a member; store.ErrNotFound if the user is none.
func (a *appStore) GetGroupMember(ctx context.Context, groupID, userID string) (store.GroupMember, error) {
	m, err := scanGroupMember(a.queryRow(ctx, `SELECT `+groupMemberColumns+` FROM user_conversations
		WHERE app_id = ?1 AND user_id = ?2 AND conv_id = ?3`, userID, store.GroupConvID(groupID)))
	if err != nil {
		return store.GroupMember{}, fmt.Errorf("get member %s of group %s: %w", userID, groupID, translate(err))
	}
	return m, nil
}

func scanGroupMember(r scanner) (store.GroupMember, error) {
	var m store.GroupMember
	var role string
	var muted, joined int64
	if err := r.Scan(&m.UserID, &role, &muted, &joined, &m.FirstSeq, &m.ReadSeq); err != nil {
		return m, err
	}
	m.Role, m.MutedUntil, m.JoinedAt = store.GroupRole(role), fromMS(muted), fromMS(joined)
	return m, nil
}

// UpdateGroupMember sets a member's role and mute.
func (a *appStore) UpdateGroupMember(ctx context.Context, groupID string, m store.GroupMember) error {
	res, err := a.exec(ctx, `UPDATE user_conversations SET role = ?4, muted_until = ?5
		WHERE app_id = ?1 AND user_id = ?2 AND conv_id = ?3`,
		m.UserID, store.GroupConvID(groupID), string(m.Role), ms(m.MutedUntil))
	if err := mustAffect(res, err); err != nil {
		return fmt.Errorf("update member %s of group %s: %w", m.UserID, groupID, err)
	}
	return nil
}

// ListGroupMembers returns a page of members by user id.
func (a *appStore) ListGroupMembers(ctx context.Context, groupID, after string, limit int) ([]store.GroupMember, error) {
	return a.listMembers(ctx, "list members of group "+groupID, `SELECT `+groupMemberColumns+`
		FROM user_conversations INDEXED BY user_conversations_conv
		WHERE app_id = ?1 AND conv_id = ?2 AND user_id > ?3 ORDER BY user_id LIMIT ?4`,
		store.GroupConvID(groupID), after, limit)
}

// ListGroupAdmins returns a page of the group's owner and admins, by user
// id, through the partial index of the entries with a role above member.
func (a *appStore) ListGroupAdmins(ctx context.Context, groupID, after string, limit int) ([]store.GroupMember, error) {
	return a.listMembers(ctx, "list admins of group "+groupID, `SELECT `+groupMemberColumns+`
		FROM user_conversations INDEXED BY user_conversations_admins
		WHERE app_id = ?1 AND conv_id = ?2 AND user_id > ?3 AND role IN ('owner', 'admin')
		ORDER BY user_id LIMIT ?4`,
		store.GroupConvID(groupID), after, limit)
}

// ListGroupReaders returns a page of the members who read seq (or did
// not), by user id.
func (a *appStore) ListGroupReaders(ctx context.Context, groupID string, seq int64, read bool, after string, limit int) ([]store.GroupMember, error) {
	return a.listMembers(ctx, "list readers of group "+groupID, `SELECT `+groupMemberColumns+`
		FROM user_conversations INDEXED BY user_conversations_conv
		WHERE app_id = ?1 AND conv_id = ?2 AND user_id > ?3 AND first_seq <= ?5 AND (read_seq >= ?5) = ?6
		ORDER BY user_id LIMIT ?4`,
		store.GroupConvID(groupID), after, limit, seq, read)
}

func (a *appStore) listMembers(ctx context.Context, what, q string, args ...any) ([]store.GroupMember, error) {
	rows, err := a.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, translate(err))
	}
	ms, err := collect(rows, scanGroupMember)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return ms, nil
}

// CountGroupReaders counts the members who read seq and those who could.
func (a *appStore) CountGroupReaders(ctx context.Context, groupID string, seq int64) (int, int, error) {
	var read, of int
	err := a.queryRow(ctx, `SELECT COALESCE(SUM(read_seq >= ?3), 0), COUNT(*)
		FROM user_conversations INDEXED BY user_conversations_conv
		WHERE app_id = ?1 AND conv_id = ?2 AND first_seq <= ?3`, store.GroupConvID(groupID), seq).Scan(&read, &of)
	if err != nil {
		return 0, 0, fmt.Errorf("count readers of group %s: %w", groupID, translate(err))
	}
	return read, of, nil
}

const joinRequestColumns = `group_id, user_id, inviter_id, message, created_at`

// PutJoinRequest stores a request while the group exists, replacing the
// user's earlier one.
func (a *appStore) PutJoinRequest(ctx context.Context, r store.JoinRequest) error {
	res, err := a.exec(ctx, `INSERT INTO group_join_requests (app_id, `+joinRequestColumns+`)
		SELECT ?1, ?2, ?3, ?4, ?5, ?6
		WHERE EXISTS (SELECT 1 FROM groups WHERE app_id = ?1 AND id = ?2 AND dismissed_at = 0)
		ON CONFLICT (app_id, group_id, user_id) DO UPDATE SET inviter_id = excluded.inviter_id,
			message = excluded.message, created_at = excluded.created_at`,
		r.GroupID, r.UserID, r.InviterID, r.Message, ms(r.CreatedAt))
	if err := mustAffect(res, err); err != nil {
		return fmt.Errorf("put join request of %s to group %s: %w", r.UserID, r.GroupID, err)
	}
	return nil
}

// GetJoinRequest returns a request, or store.ErrNotFound.
func (a *appStore) GetJoinRequest(ctx context.Context, groupID, userID string) (store.JoinRequest, error) {
	r, err := scanJoinRequest(a.queryRow(ctx, `SELECT `+joinRequestColumns+` FROM group_join_requests
		WHERE app_id = ?1 AND group_id = ?2 AND user_id = ?3`, groupID, userID))
	if err != nil {
		return store.JoinRequest{}, fmt.Errorf("get join request of %s to group %s: %w", userID, groupID, translate(err))
	}
	return r, nil
}

// ListJoinRequests returns a page of a group's requests by user id.
func (a *appStore) ListJoinRequests(ctx context.Context, groupID, after string, limit int) ([]store.JoinRequest, error) {
	rows, err := a.query(ctx, `SELECT `+joinRequestColumns+` FROM group_join_requests
		WHERE app_id = ?1 AND group_id = ?2 AND user_id > ?3 ORDER BY user_id LIMIT ?4`, groupID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list join requests of group %s: %w", groupID, translate(err))
	}
	rs, err := collect(rows, scanJoinRequest)
	if err != nil {
		return nil, fmt.Errorf("list join requests of group %s: %w", groupID, err)
	}
	return rs, nil
}

// DeleteJoinRequest removes a request; store.ErrNotFound if there is none.
func (a *appStore) DeleteJoinRequest(ctx context.Context, groupID, userID string) error {
	res, err := a.exec(ctx, `DELETE FROM group_join_requests WHERE app_id = ?1 AND group_id = ?2 AND user_id = ?3`,
		groupID, userID)
	if err := mustAffect(res, err); err != nil {
		return fmt.Errorf("delete join request of %s to group %s: %w", userID, groupID, err)
	}
	return nil
}

func scanJoinRequest(r scanner) (store.JoinRequest, error) {
	var jr store.JoinRequest
	var created int64
	if err := r.Scan(&jr.GroupID, &jr.UserID, &jr.InviterID, &jr.Message, &created); err != nil {
		return jr, err
	}
	jr.CreatedAt = fromMS(created)
	return jr, nil
}
