package store

import (
	"context"
	"time"
)

// RoomStore persists an app's chat rooms (see package rooms): the room
// records only. A room's membership is not stored: it is the connections
// that joined it, kept in memory by the gateway nodes and counted in the
// presence registry; its messages are not stored either (a recent history
// lives in the presence registry). It is part of AppStore, so every method
// is scoped to one app.
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
	// DeleteRoom removes a room; ErrNotFound if it does not exist.
	DeleteRoom(ctx context.Context, id string) error
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
