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
