package store

import (
	"context"
	"time"
)

// ContactStore persists an app's contacts: friend requests, friendships
// (each side with its own remark) and blocklists. It is part of AppStore,
// so every method is scoped to one app. It does not check that the users
// exist: the contacts service does.
//
// A friendship is two records, one per side (the remark is the owner's
// only). Engines without transactions (MongoDB) write the two sides one
// after the other and check MaxFriends by counting before the write, so
// that concurrent additions to one user may pass the limit by the number of
// writers; on SQLite every call is one transaction.
type ContactStore interface {
	// PutFriendRequest stores a request from r.FromID to r.ToID, replacing
	// an earlier one between the same two users in the same direction.
	PutFriendRequest(ctx context.Context, r FriendRequest) error
	// GetFriendRequest returns the request from one user to another, or
	// ErrNotFound.
	GetFriendRequest(ctx context.Context, fromID, toID string) (FriendRequest, error)
	// DeleteFriendRequest removes a request; ErrNotFound if there is none.
	DeleteFriendRequest(ctx context.Context, fromID, toID string) error
	// ListFriendRequests returns up to limit of a user's incoming requests
	// (ToID is the user; by FromID) or outgoing ones (FromID is the user;
	// by ToID), with the other user's id > after.
	ListFriendRequests(ctx context.Context, userID string, incoming bool, after string, limit int) ([]FriendRequest, error)

	// AddFriendship makes two distinct users friends both ways (empty
	// remarks) at the given time and removes the requests between them, in
	// both directions. Sides that already exist are kept as they are (with
	// their remark and time); ErrLimit, and nothing is written, if a user
	// who gains a friend would then have more than maxFriends (0: no
	// limit).
	AddFriendship(ctx context.Context, userID, friendID string, at time.Time, maxFriends int) error
	// RemoveFriendship removes both sides of a friendship; ErrNotFound if
	// neither existed.
	RemoveFriendship(ctx context.Context, userID, friendID string) error
	// GetFriend returns a user's side of a friendship, or ErrNotFound.
	GetFriend(ctx context.Context, userID, friendID string) (Friend, error)
	// SetFriendRemark replaces a user's remark of a friend; ErrNotFound if
	// they are not friends.
	SetFriendRemark(ctx context.Context, userID, friendID, remark string) error
	// ListFriends returns up to limit of a user's friends with id > after,
	// by id.
	ListFriends(ctx context.Context, userID, after string, limit int) ([]Friend, error)

	// PutBlock records that UserID blocks TargetID; blocking again keeps
	// the first time.
	PutBlock(ctx context.Context, b Block) error
	// DeleteBlock removes a block; ErrNotFound if there is none.
	DeleteBlock(ctx context.Context, userID, targetID string) error
	// ListBlocks returns up to limit of the users a user blocks with id >
	// after, by id.
	ListBlocks(ctx context.Context, userID, after string, limit int) ([]Block, error)

	// GetRelation returns, in one read where the engine allows, how two
	// users stand: whether from has to as a friend and who blocks whom.
	// The messaging core's contact check reads it.
	GetRelation(ctx context.Context, fromID, toID string) (Relation, error)
}

// FriendRequest is a user's request to become another's friend.
type FriendRequest struct {
	FromID    string
	ToID      string
	Message   string
	CreatedAt time.Time
}

// Friend is one side of a friendship: FriendID as UserID's friend.
type Friend struct {
	UserID   string
	FriendID string
	// Remark is UserID's name for the friend, seen by UserID only.
	Remark    string
	CreatedAt time.Time
}

// Block is UserID blocking TargetID.
type Block struct {
	UserID    string
	TargetID  string
	CreatedAt time.Time
}

// Relation is how one user (from) stands to another (to).
type Relation struct {
	// Friends: from has to as a friend.
	Friends bool
	// Blocked: to blocks from. Blocking: from blocks to.
	Blocked, Blocking bool
}
