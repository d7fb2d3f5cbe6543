package store

import (
	"context"
	"time"
)

// RoomStore persists an app's chat rooms (see package rooms): the room
// records and their bans. A room's membership is not stored: it is the
// connections that joined it, kept in memory by the gateway nodes and
// counted in the presence registry; its messages are not stored either (a
// recent history lives in the presence registry). It is part of AppStore,
// so every method is scoped to one app.
type RoomStore interface {
	// CreateRoom stores a new room; ErrConflict if the id is taken.
	CreateRoom(ctx context.Context, r Room) error
	// GetRoom returns a room, or ErrNotFound.
	GetRoom(ctx context.Context, id string) (Room, error)
	// ListRooms returns up to limit rooms with id > after, by id.
	ListRooms(ctx context.Context, after string, limit int) ([]Room, error)
	// SetRoomMuted adds userID to the room's muted users (muted) or
	// removes it, sets UpdatedAt to at, and returns the room as it is
	// afterwards. Muting a muted user, or unmuting one who is not, only
	// moves UpdatedAt. ErrNotFound if the room does not exist.
	SetRoomMuted(ctx context.Context, roomID, userID string, muted bool, at time.Time) (Room, error)
	// UpdateRoom changes the settings that u sets (its nil fields stay as
	// they are) in one atomic write, sets UpdatedAt to at, and returns the
	// room as it is afterwards. ErrNotFound if the room does not exist.
	UpdateRoom(ctx context.Context, roomID string, u RoomUpdate, at time.Time) (Room, error)
	// DeleteRoom removes a room and its bans; ErrNotFound if it does not
	// exist.
	DeleteRoom(ctx context.Context, id string) error

	// PutRoomBan stores a ban, replacing the user's earlier ban of the
	// room if there is one. ErrNotFound if the room does not exist.
	PutRoomBan(ctx context.Context, b RoomBan) error
	// GetRoomBan returns the user's ban of the room, or ErrNotFound.
	GetRoomBan(ctx context.Context, roomID, userID string) (RoomBan, error)
	// DeleteRoomBan lifts the user's ban of the room; ErrNotFound if the
	// user is not banned from it.
	DeleteRoomBan(ctx context.Context, roomID, userID string) error
	// ListRoomBans returns up to limit bans of the room with user id >
	// after, by user id.
	ListRoomBans(ctx context.Context, roomID, after string, limit int) ([]RoomBan, error)
}

// RoomUpdate is a change of a room's settings: each non-nil field
// replaces the room's (a zero value means the default, as in Room).
type RoomUpdate struct {
	Name        *string
	OwnerID     *string
	HistorySize *int
	RateLimit   *float64
	MaxMembers  *int
}

// Apply returns r with the settings u sets.
func (u RoomUpdate) Apply(r Room) Room {
	if u.Name != nil {
		r.Name = *u.Name
	}
	if u.OwnerID != nil {
		r.OwnerID = *u.OwnerID
	}
	if u.HistorySize != nil {
		r.HistorySize = *u.HistorySize
	}
	if u.RateLimit != nil {
		r.RateLimit = *u.RateLimit
	}
	if u.MaxMembers != nil {
		r.MaxMembers = *u.MaxMembers
	}
	return r
}

// RoomBan keeps a user out of a room: the user cannot join it until the
// ban is lifted. It outlives the user's connections and the server's
// restarts, and goes with the room (DeleteRoom) or the user (DeleteUser).
type RoomBan struct {
	RoomID string
	UserID string
	// Reason is the app's note on the ban; may be empty.
	Reason    string
	CreatedAt time.Time
}

// Room is a chat room: a live, presence-based audience (see package
// rooms). Zero settings mean the defaults that package rooms documents.
type Room struct {
	ID      string
	Name    string
	OwnerID string // the user whose messages keep priority; may be empty
	// HistorySize is how many recent messages a member gets on joining.
	HistorySize int
	// RateLimit is the room's messages per second (burst twice that).
	RateLimit float64
	// MaxMembers caps the room's joined connections; 0 means no cap.
	MaxMembers int
	// Muted are the users who may not send, sorted.
	Muted     []string
	CreatedAt time.Time
	UpdatedAt time.Time
}
