package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

const roomColumns = `id, name, owner_id, history_size, rate_limit, max_members, muted, created_at, updated_at`

func scanRoom(r scanner) (store.Room, error) {
	var x store.Room
	var muted string
	var created, updated int64
	err := r.Scan(&x.ID, &x.Name, &x.OwnerID, &x.HistorySize, &x.RateLimit, &x.MaxMembers, &muted, &created, &updated)
	if err != nil {
		return x, err
	}
	if err := json.Unmarshal([]byte(muted), &x.Muted); err != nil {
		return x, fmt.Errorf("decode muted users: %w", err)
	}
	if len(x.Muted) == 0 {
		x.Muted = nil
	}
	x.CreatedAt, x.UpdatedAt = fromMS(created), fromMS(updated)
	return x, nil
}

func encodeMuted(users []string) string {
	if len(users) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(users) // strings always encode
	return string(b)
}

// CreateRoom stores a room; store.ErrConflict if the id is taken.
func (a *appStore) CreateRoom(ctx context.Context, r store.Room) error {
	muted := slices.Sorted(slices.Values(r.Muted))
	_, err := a.exec(ctx, `INSERT INTO rooms (app_id, `+roomColumns+`)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)`,
		r.ID, r.Name, r.OwnerID, r.HistorySize, r.RateLimit, r.MaxMembers, encodeMuted(slices.Compact(muted)),
		ms(r.CreatedAt), ms(r.UpdatedAt))
	if err != nil {
		return fmt.Errorf("create room %s: %w", r.ID, translate(err))
	}
	return nil
}

// GetRoom returns a room or store.ErrNotFound.
func (a *appStore) GetRoom(ctx context.Context, id string) (store.Room, error) {
	r, err := scanRoom(a.queryRow(ctx, `SELECT `+roomColumns+` FROM rooms WHERE app_id = ?1 AND id = ?2`, id))
	if err != nil {
		return store.Room{}, fmt.Errorf("get room %s: %w", id, translate(err))
	}
	return r, nil
}

// ListRooms returns a page of the app's rooms by id.
func (a *appStore) ListRooms(ctx context.Context, after string, limit int) ([]store.Room, error) {
	rows, err := a.query(ctx, `SELECT `+roomColumns+` FROM rooms WHERE app_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list rooms: %w", translate(err))
	}
	out, err := collect(rows, scanRoom)
	if err != nil {
		return nil, fmt.Errorf("list rooms: %w", err)
	}
	return out, nil
}

// SetRoomMuted adds or removes a muted user in one transaction.
func (a *appStore) SetRoomMuted(ctx context.Context, roomID, userID string, muted bool, at time.Time) (store.Room, error) {
	var out store.Room
	err := a.inTx(ctx, func(t *appTx) error {
		r, err := scanRoom(t.txQueryRow(ctx, `SELECT `+roomColumns+` FROM rooms WHERE app_id = ?1 AND id = ?2`, roomID))
		if err != nil {
			return translate(err)
		}
		r.Muted = slices.DeleteFunc(r.Muted, func(u string) bool { return u == userID })
		if muted {
			r.Muted = append(r.Muted, userID)
			slices.Sort(r.Muted)
		}
		if len(r.Muted) == 0 {
			r.Muted = nil
		}
		r.UpdatedAt = at
		if _, err := t.txExec(ctx, `UPDATE rooms SET muted = ?3, updated_at = ?4 WHERE app_id = ?1 AND id = ?2`,
			roomID, encodeMuted(r.Muted), ms(at)); err != nil {
			return err
		}
		out = r
		return nil
	})
	if err != nil {
		return store.Room{}, fmt.Errorf("set room %s mute of %s: %w", roomID, userID, err)
	}
	return out, nil
}

// UpdateRoom changes a room's settings in one transaction.
func (a *appStore) UpdateRoom(ctx context.Context, roomID string, u store.RoomUpdate, at time.Time) (store.Room, error) {
	var out store.Room
	err := a.inTx(ctx, func(t *appTx) error {
		r, err := scanRoom(t.txQueryRow(ctx, `SELECT `+roomColumns+` FROM rooms WHERE app_id = ?1 AND id = ?2`, roomID))
		if err != nil {
			return translate(err)
		}
		r = u.Apply(r)
		r.UpdatedAt = at
		if _, err := t.txExec(ctx, `UPDATE rooms SET name = ?3, owner_id = ?4, history_size = ?5, rate_limit = ?6,
			max_members = ?7, updated_at = ?8 WHERE app_id = ?1 AND id = ?2`,
			roomID, r.Name, r.OwnerID, r.HistorySize, r.RateLimit, r.MaxMembers, ms(at)); err != nil {
			return err
		}
		out = r
		return nil
	})
	if err != nil {
		return store.Room{}, fmt.Errorf("update room %s: %w", roomID, err)
	}
	return out, nil
}

// DeleteRoom removes a room and its bans in one transaction;
// store.ErrNotFound if none.
func (a *appStore) DeleteRoom(ctx context.Context, id string) error {
	err := a.inTx(ctx, func(t *appTx) error {
		res, err := t.txExec(ctx, `DELETE FROM rooms WHERE app_id = ?1 AND id = ?2`, id)
		if err := mustAffect(res, err); err != nil {
			return err
		}
		_, err = t.txExec(ctx, `DELETE FROM room_bans WHERE app_id = ?1 AND room_id = ?2`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete room %s: %w", id, err)
	}
	return nil
}

const roomBanColumns = `room_id, user_id, reason, created_at`

func scanRoomBan(r scanner) (store.RoomBan, error) {
	var b store.RoomBan
	var created int64
	if err := r.Scan(&b.RoomID, &b.UserID, &b.Reason, &created); err != nil {
		return b, err
	}
	b.CreatedAt = fromMS(created)
	return b, nil
}

// PutRoomBan stores a ban of an existing room, in one statement: a
// concurrent DeleteRoom (one transaction) runs wholly before or after it.
func (a *appStore) PutRoomBan(ctx context.Context, b store.RoomBan) error {
	res, err := a.exec(ctx, `INSERT INTO room_bans (app_id, `+roomBanColumns+`)
		SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM rooms WHERE app_id = ?1 AND id = ?2)
		ON CONFLICT (app_id, room_id, user_id) DO UPDATE SET reason = excluded.reason, created_at = excluded.created_at`,
		b.RoomID, b.UserID, b.Reason, ms(b.CreatedAt))
	if err := mustAffect(res, err); err != nil {
		return fmt.Errorf("ban %s from room %s: %w", b.UserID, b.RoomID, err)
	}
	return nil
}

// GetRoomBan returns a user's ban of a room or store.ErrNotFound.
func (a *appStore) GetRoomBan(ctx context.Context, roomID, userID string) (store.RoomBan, error) {
	b, err := scanRoomBan(a.queryRow(ctx, `SELECT `+roomBanColumns+` FROM room_bans
		WHERE app_id = ?1 AND room_id = ?2 AND user_id = ?3`, roomID, userID))
	if err != nil {
		return store.RoomBan{}, fmt.Errorf("get ban of %s from room %s: %w", userID, roomID, translate(err))
	}
	return b, nil
}

// DeleteRoomBan lifts a ban; store.ErrNotFound if none.
func (a *appStore) DeleteRoomBan(ctx context.Context, roomID, userID string) error {
	res, err := a.exec(ctx, `DELETE FROM room_bans WHERE app_id = ?1 AND room_id = ?2 AND user_id = ?3`, roomID, userID)
	if err := mustAffect(res, err); err != nil {
		return fmt.Errorf("lift ban of %s from room %s: %w", userID, roomID, err)
	}
	return nil
}

// ListRoomBans returns a page of a room's bans by user id.
func (a *appStore) ListRoomBans(ctx context.Context, roomID, after string, limit int) ([]store.RoomBan, error) {
	rows, err := a.query(ctx, `SELECT `+roomBanColumns+` FROM room_bans
		WHERE app_id = ?1 AND room_id = ?2 AND user_id > ?3 ORDER BY user_id LIMIT ?4`, roomID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list bans of room %s: %w", roomID, translate(err))
	}
	out, err := collect(rows, scanRoomBan)
	if err != nil {
		return nil, fmt.Errorf("list bans of room %s: %w", roomID, err)
	}
	return out, nil
}
