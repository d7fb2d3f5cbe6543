package observe

import (
	"context"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

func (a *appStore) CreateRoom(ctx context.Context, r store.Room) error {
	ctx, c := a.begin(ctx, "CreateRoom")
	return c.end(ctx, a.as.CreateRoom(ctx, r))
}

func (a *appStore) GetRoom(ctx context.Context, id string) (store.Room, error) {
	ctx, c := a.begin(ctx, "GetRoom")
	r, err := a.as.GetRoom(ctx, id)
	return r, c.end(ctx, err)
}

func (a *appStore) ListRooms(ctx context.Context, after string, limit int) ([]store.Room, error) {
	ctx, c := a.begin(ctx, "ListRooms")
	rs, err := a.as.ListRooms(ctx, after, limit)
	return rs, c.end(ctx, err)
}

func (a *appStore) SetRoomMuted(ctx context.Context, roomID, userID string, muted bool, at time.Time) (store.Room, error) {
	ctx, c := a.begin(ctx, "SetRoomMuted")
	r, err := a.as.SetRoomMuted(ctx, roomID, userID, muted, at)
	return r, c.end(ctx, err)
}

func (a *appStore) DeleteRoom(ctx context.Context, id string) error {
	ctx, c := a.begin(ctx, "DeleteRoom")
	return c.end(ctx, a.as.DeleteRoom(ctx, id))
}

func (a *appStore) UpdateRoom(ctx context.Context, roomID string, u store.RoomUpdate, at time.Time) (store.Room, error) {
	ctx, c := a.begin(ctx, "UpdateRoom")
	r, err := a.as.UpdateRoom(ctx, roomID, u, at)
	return r, c.end(ctx, err)
}

func (a *appStore) PutRoomBan(ctx context.Context, b store.RoomBan) error {
	ctx, c := a.begin(ctx, "PutRoomBan")
	return c.end(ctx, a.as.PutRoomBan(ctx, b))
}

func (a *appStore) GetRoomBan(ctx context.Context, roomID, userID string) (store.RoomBan, error) {
	ctx, c := a.begin(ctx, "GetRoomBan")
	b, err := a.as.GetRoomBan(ctx, roomID, userID)
	return b, c.end(ctx, err)
}

func (a *appStore) DeleteRoomBan(ctx context.Context, roomID, userID string) error {
	ctx, c := a.begin(ctx, "DeleteRoomBan")
	return c.end(ctx, a.as.DeleteRoomBan(ctx, roomID, userID))
}

func (a *appStore) ListRoomBans(ctx context.Context, roomID, after string, limit int) ([]store.RoomBan, error) {
	ctx, c := a.begin(ctx, "ListRoomBans")
	bs, err := a.as.ListRoomBans(ctx, roomID, after, limit)
	return bs, c.end(ctx, err)
}
