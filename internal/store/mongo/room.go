package mongo

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/magpie-im/magpie/internal/store"
)

// Rooms: a room is a document of the rooms collection (_id {app, id}).
// SetRoomMuted is one atomic update ($addToSet or $pull), so concurrent
// mutes of one room never lose each other; the muted list is sorted when
// read.

type roomDoc struct {
	ID          appKey    `bson:"_id"`
	Name        string    `bson:"name"`
	OwnerID     string    `bson:"owner_id,omitempty"`
	HistorySize int       `bson:"history_size"`
	RateLimit   float64   `bson:"rate_limit"`
	MaxMembers  int       `bson:"max_members"`
	Muted       []string  `bson:"muted"`
	CreatedAt   time.Time `bson:"created_at"`
	UpdatedAt   time.Time `bson:"updated_at"`
}

func (d roomDoc) record() store.Room {
	muted := slices.Sorted(slices.Values(d.Muted))
	if len(muted) == 0 {
		muted = nil
	}
	return store.Room{ID: d.ID.ID, Name: d.Name, OwnerID: d.OwnerID, HistorySize: d.HistorySize, RateLimit: d.RateLimit,
		MaxMembers: d.MaxMembers, Muted: muted, CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC()}
}

// CreateRoom stores a room; store.ErrConflict if the id is taken.
func (a *appStore) CreateRoom(ctx context.Context, r store.Room) error {
	muted := slices.Compact(slices.Sorted(slices.Values(r.Muted)))
	if muted == nil {
		muted = []string{}
	}
	_, err := a.s.c.rooms.InsertOne(ctx, roomDoc{ID: a.key(r.ID), Name: r.Name, OwnerID: r.OwnerID, HistorySize: r.HistorySize,
		RateLimit: r.RateLimit, MaxMembers: r.MaxMembers, Muted: muted, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt})
	if err != nil {
		return errorf(err, "create room %s", r.ID)
	}
	return nil
}

// GetRoom returns a room or store.ErrNotFound.
func (a *appStore) GetRoom(ctx context.Context, id string) (store.Room, error) {
	d, err := findOne[roomDoc](ctx, a.s.c.rooms, byID(a.key(id)))
	if err != nil {
		return store.Room{}, fmt.Errorf("get room %s: %w", id, err)
	}
	return d.record(), nil
}

// ListRooms returns a page of the app's rooms by id.
func (a *appStore) ListRooms(ctx context.Context, after string, limit int) ([]store.Room, error) {
	docs, err := findAll[roomDoc](ctx, a.s.c.rooms, a.scope(bson.E{Key: "_id.id", Value: bson.D{{Key: "$gt", Value: after}}}),
		page("_id.id", limit))
	if err != nil {
		return nil, fmt.Errorf("list rooms: %w", err)
	}
	return records(docs, roomDoc.record), nil
}

// SetRoomMuted adds or removes a muted user with one atomic update.
func (a *appStore) SetRoomMuted(ctx context.Context, roomID, userID string, muted bool, at time.Time) (store.Room, error) {
	op := "$pull"
	if muted {
		op = "$addToSet"
	}
	update := bson.D{{Key: op, Value: bson.D{{Key: "muted", Value: userID}}}, {Key: "$set", Value: bson.D{{Key: "updated_at", Value: at}}}}
	var d roomDoc
	err := a.s.c.rooms.FindOneAndUpdate(ctx, byID(a.key(roomID)), update,
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
	if err != nil {
		return store.Room{}, errorf(err, "set room %s mute of %s", roomID, userID)
	}
	return d.record(), nil
}

// DeleteRoom removes a room; store.ErrNotFound if none.
func (a *appStore) DeleteRoom(ctx context.Context, id string) error {
	res, err := a.s.c.rooms.DeleteOne(ctx, byID(a.key(id)))
	if err != nil {
		return errorf(err, "delete room %s", id)
	}
	if res.DeletedCount == 0 {
		return fmt.Errorf("delete room %s: %w", id, store.ErrNotFound)
	}
	return nil
}
