package mongo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/magpie-im/magpie/internal/store"
)

// Rooms: a room is a document of the rooms collection (_id {app, id}).
// SetRoomMuted is one atomic update ($addToSet or $pull), so concurrent
// mutes of one room never lose each other; the muted list is sorted when
// read. UpdateRoom is one atomic $set too. A ban is a document of the
// room_bans collection (_id {app, room, user}).

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

// UpdateRoom changes a room's settings with one atomic update.
func (a *appStore) UpdateRoom(ctx context.Context, roomID string, u store.RoomUpdate, at time.Time) (store.Room, error) {
	fields := bson.D{{Key: "updated_at", Value: at}}
	if u.Name != nil {
		fields = append(fields, bson.E{Key: "name", Value: *u.Name})
	}
	if u.OwnerID != nil {
		fields = append(fields, bson.E{Key: "owner_id", Value: *u.OwnerID})
	}
	if u.HistorySize != nil {
		fields = append(fields, bson.E{Key: "history_size", Value: *u.HistorySize})
	}
	if u.RateLimit != nil {
		fields = append(fields, bson.E{Key: "rate_limit", Value: *u.RateLimit})
	}
	if u.MaxMembers != nil {
		fields = append(fields, bson.E{Key: "max_members", Value: *u.MaxMembers})
	}
	var d roomDoc
	err := a.s.c.rooms.FindOneAndUpdate(ctx, byID(a.key(roomID)), bson.D{{Key: "$set", Value: fields}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
	if err != nil {
		return store.Room{}, errorf(err, "update room %s", roomID)
	}
	return d.record(), nil
}

// DeleteRoom removes a room and its bans; store.ErrNotFound if none. The
// bans go before the room, so that a call that fails can be made again,
// and once more after it, for a PutRoomBan that raced the first sweep
// (PutRoomBan checks the room after its write).
func (a *appStore) DeleteRoom(ctx context.Context, id string) error {
	if _, err := findOne[roomDoc](ctx, a.s.c.rooms, byID(a.key(id))); err != nil {
		return fmt.Errorf("delete room %s: %w", id, err)
	}
	if err := a.deleteRoomBans(ctx, id); err != nil {
		return err
	}
	res, err := a.s.c.rooms.DeleteOne(ctx, byID(a.key(id)))
	if err != nil {
		return errorf(err, "delete room %s", id)
	}
	if res.DeletedCount == 0 {
		return fmt.Errorf("delete room %s: %w", id, store.ErrNotFound)
	}
	return a.deleteRoomBans(ctx, id)
}

func (a *appStore) deleteRoomBans(ctx context.Context, roomID string) error {
	if _, err := a.roomBans().DeleteMany(ctx, a.scope(bson.E{Key: "_id.room", Value: roomID})); err != nil {
		return errorf(err, "delete bans of room %s", roomID)
	}
	return nil
}

// collRoomBans holds one document per (room, banned user).
const collRoomBans = "room_bans"

func init() {
	collectionNames = append(collectionNames, collRoomBans)
	indexes[collRoomBans] = []index{
		// A room's bans by user id (ListRoomBans, DeleteRoom).
		{name: "app_room_user", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "_id.room", Value: 1}, {Key: "_id.user", Value: 1}}},
		// A user's bans (DeleteUser).
		{name: "app_user", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "_id.user", Value: 1}}},
	}
}

// roomBanKey is the _id of a room ban.
type roomBanKey struct {
	App  string `bson:"app"`
	Room string `bson:"room"`
	User string `bson:"user"`
}

type roomBanDoc struct {
	ID        roomBanKey `bson:"_id"`
	Reason    string     `bson:"reason"`
	CreatedAt time.Time  `bson:"created_at"`
}

func (d roomBanDoc) record() store.RoomBan {
	return store.RoomBan{RoomID: d.ID.Room, UserID: d.ID.User, Reason: d.Reason, CreatedAt: d.CreatedAt.UTC()}
}

func (a *appStore) roomBans() *mongo.Collection {
	return a.s.client.Database(a.s.dbName).Collection(collRoomBans)
}

func (a *appStore) roomBanKey(roomID, userID string) roomBanKey {
	return roomBanKey{App: a.id, Room: roomID, User: userID}
}

// PutRoomBan upserts a ban, then checks that its room exists: a ban that
// raced a DeleteRoom past the room's removal is taken back (and
// store.ErrNotFound returned), one written before is swept by it.
func (a *appStore) PutRoomBan(ctx context.Context, b store.RoomBan) error {
	if _, err := findOne[roomDoc](ctx, a.s.c.rooms, byID(a.key(b.RoomID))); err != nil {
		return fmt.Errorf("ban %s from room %s: %w", b.UserID, b.RoomID, err)
	}
	key := a.roomBanKey(b.RoomID, b.UserID)
	_, err := a.roomBans().UpdateOne(ctx, byID(key),
		set(bson.E{Key: "reason", Value: b.Reason}, bson.E{Key: "created_at", Value: b.CreatedAt}), options.UpdateOne().SetUpsert(true))
	if err != nil {
		return errorf(err, "ban %s from room %s", b.UserID, b.RoomID)
	}
	if _, err := findOne[roomDoc](ctx, a.s.c.rooms, byID(a.key(b.RoomID))); errors.Is(err, store.ErrNotFound) {
		if _, err := a.roomBans().DeleteOne(ctx, byID(key)); err != nil {
			return errorf(err, "take back ban of %s from deleted room %s", b.UserID, b.RoomID)
		}
		return fmt.Errorf("ban %s from room %s: %w", b.UserID, b.RoomID, store.ErrNotFound)
	} else if err != nil {
		return fmt.Errorf("ban %s from room %s: %w", b.UserID, b.RoomID, err)
	}
	return nil
}

// GetRoomBan returns a user's ban of a room or store.ErrNotFound.
func (a *appStore) GetRoomBan(ctx context.Context, roomID, userID string) (store.RoomBan, error) {
	d, err := findOne[roomBanDoc](ctx, a.roomBans(), byID(a.roomBanKey(roomID, userID)))
	if err != nil {
		return store.RoomBan{}, fmt.Errorf("get ban of %s from room %s: %w", userID, roomID, err)
	}
	return d.record(), nil
}

// DeleteRoomBan lifts a ban; store.ErrNotFound if none.
func (a *appStore) DeleteRoomBan(ctx context.Context, roomID, userID string) error {
	res, err := a.roomBans().DeleteOne(ctx, byID(a.roomBanKey(roomID, userID)))
	if err != nil {
		return errorf(err, "lift ban of %s from room %s", userID, roomID)
	}
	if res.DeletedCount == 0 {
		return fmt.Errorf("lift ban of %s from room %s: %w", userID, roomID, store.ErrNotFound)
	}
	return nil
}

// ListRoomBans returns a page of a room's bans by user id.
func (a *appStore) ListRoomBans(ctx context.Context, roomID, after string, limit int) ([]store.RoomBan, error) {
	docs, err := findAll[roomBanDoc](ctx, a.roomBans(), a.scope(bson.E{Key: "_id.room", Value: roomID},
		bson.E{Key: "_id.user", Value: bson.D{{Key: "$gt", Value: after}}}), page("_id.user", limit))
	if err != nil {
		return nil, fmt.Errorf("list bans of room %s: %w", roomID, err)
	}
	return records(docs, roomBanDoc.record), nil
}
