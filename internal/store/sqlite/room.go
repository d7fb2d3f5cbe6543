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

// DeleteRoom removes a room; store.ErrNotFound if none.
func (a *appStore) DeleteRoom(ctx context.Context, id string) error {
	res, err := a.exec(ctx, `DELETE FROM rooms WHERE app_id = ?1 AND id = ?2`, id)
	if err := mustAffect(res, err); err != nil {
		return fmt.Errorf("delete room %s: %w", id, err)
	}
	return nil
}
