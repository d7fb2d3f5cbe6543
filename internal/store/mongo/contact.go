package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/magpie-im/magpie/internal/store"
)

// Contacts without transactions. Every contact record is a document of the
// contacts collection keyed {app, user, kind, other}:
//
//   - kind "f": other is user's friend (remark, at); a friendship is two
//     documents, written one after the other.
//   - kind "r": user asked other to be friends (msg, at); incoming requests
//     are read through the app_other_kind_user index.
//   - kind "b": user blocks other (at).
//
// AddFriendship counts a user's friends before it writes a side, so that
// concurrent additions to one user may pass the limit by the number of
// writers (the contract allows it on engines without transactions).
// AddFriendship writes both sides before it removes the requests, and
// RemoveFriendship removes both: a crash in between leaves one side, which
// the next AddFriendship or RemoveFriendship completes.

const (
	contactFriend  = "f"
	contactRequest = "r"
	contactBlock   = "b"
)

type contactKey struct {
	App   string `bson:"app"`
	User  string `bson:"user"`
	Kind  string `bson:"kind"`
	Other string `bson:"other"`
}

type contactDoc struct {
	ID     contactKey `bson:"_id"`
	Remark string     `bson:"remark,omitempty"`
	Msg    string     `bson:"msg,omitempty"`
	At     time.Time  `bson:"at"`
}

func (a *appStore) contactKey(user, kind, other string) contactKey {
	return contactKey{App: a.id, User: user, Kind: kind, Other: other}
}

// PutFriendRequest stores a request, replacing one in the same direction.
func (a *appStore) PutFriendRequest(ctx context.Context, r store.FriendRequest) error {
	k := a.contactKey(r.FromID, contactRequest, r.ToID)
	_, err := a.s.c.contacts.ReplaceOne(ctx, byID(k), contactDoc{ID: k, Msg: r.Message, At: r.CreatedAt},
		options.Replace().SetUpsert(true))
	if err != nil {
		return errorf(err, "put friend request %s -> %s", r.FromID, r.ToID)
	}
	return nil
}

func requestOf(d contactDoc) store.FriendRequest {
	return store.FriendRequest{FromID: d.ID.User, ToID: d.ID.Other, Message: d.Msg, CreatedAt: d.At}
}

// GetFriendRequest returns a request or store.ErrNotFound.
func (a *appStore) GetFriendRequest(ctx context.Context, fromID, toID string) (store.FriendRequest, error) {
	d, err := findOne[contactDoc](ctx, a.s.c.contacts, byID(a.contactKey(fromID, contactRequest, toID)))
	if err != nil {
		return store.FriendRequest{}, fmt.Errorf("get friend request %s -> %s: %w", fromID, toID, err)
	}
	return requestOf(d), nil
}

// deleteContact removes one document; store.ErrNotFound if none.
func (a *appStore) deleteContact(ctx context.Context, k contactKey) error {
	res, err := a.s.c.contacts.DeleteOne(ctx, byID(k))
	if err != nil {
		return translate(err)
	}
	if res.DeletedCount == 0 {
		return store.ErrNotFound
	}
	return nil
}

// DeleteFriendRequest removes a request; store.ErrNotFound if none.
func (a *appStore) DeleteFriendRequest(ctx context.Context, fromID, toID string) error {
	if err := a.deleteContact(ctx, a.contactKey(fromID, contactRequest, toID)); err != nil {
		return fmt.Errorf("delete friend request %s -> %s: %w", fromID, toID, err)
	}
	return nil
}

// listContacts returns a page of a user's documents of a kind by the other
// id, or (reverse) of the documents naming the user as other, by user.
func (a *appStore) listContacts(ctx context.Context, userID, kind string, reverse bool, after string, limit int) ([]contactDoc, error) {
	self, other := "_id.user", "_id.other"
	if reverse {
		self, other = other, self
	}
	filter := a.scope(bson.E{Key: self, Value: userID}, bson.E{Key: "_id.kind", Value: kind},
		bson.E{Key: other, Value: bson.D{{Key: "$gt", Value: after}}})
	return findAll[contactDoc](ctx, a.s.c.contacts, filter,
		options.Find().SetSort(bson.D{{Key: other, Value: 1}}).SetLimit(int64(limit)))
}

// ListFriendRequests returns a page of a user's incoming or outgoing
// requests, by the other user's id.
func (a *appStore) ListFriendRequests(ctx context.Context, userID string, incoming bool, after string, limit int) ([]store.FriendRequest, error) {
	docs, err := a.listContacts(ctx, userID, contactRequest, incoming, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list friend requests of %s: %w", userID, err)
	}
	out := make([]store.FriendRequest, len(docs))
	for i, d := range docs {
		out[i] = requestOf(d)
	}
	return out, nil
}

// AddFriendship writes the missing sides, each after a count of the user's
// friends, then removes the requests; see the comment at the top.
func (a *appStore) AddFriendship(ctx context.Context, userID, friendID string, at time.Time, maxFriends int) error {
	if err := a.addFriendship(ctx, userID, friendID, at, maxFriends); err != nil {
		return fmt.Errorf("add friendship %s, %s: %w", userID, friendID, err)
	}
	return nil
}

func (a *appStore) addFriendship(ctx context.Context, userID, friendID string, at time.Time, maxFriends int) error {
	c := a.s.c.contacts
	sides := [][2]string{{userID, friendID}, {friendID, userID}}
	var missing []contactKey
	for _, side := range sides {
		k := a.contactKey(side[0], contactFriend, side[1])
		n, err := c.CountDocuments(ctx, byID(k))
		if err != nil {
			return translate(err)
		}
		if n > 0 {
			continue
		}
		if maxFriends > 0 {
			have, err := c.CountDocuments(ctx, a.scope(bson.E{Key: "_id.user", Value: side[0]},
				bson.E{Key: "_id.kind", Value: contactFriend}))
			if err != nil {
				return translate(err)
			}
			if have >= int64(maxFriends) {
				return store.ErrLimit
			}
		}
		missing = append(missing, k)
	}
	for _, k := range missing {
		_, err := c.UpdateOne(ctx, byID(k), bson.D{{Key: "$setOnInsert", Value: bson.D{{Key: "at", Value: at}}}},
			options.UpdateOne().SetUpsert(true))
		if err != nil {
			return translate(err)
		}
	}
	_, err := c.DeleteMany(ctx, bson.D{{Key: "_id", Value: in([]contactKey{
		a.contactKey(userID, contactRequest, friendID), a.contactKey(friendID, contactRequest, userID),
	})}})
	return translate(err)
}

// RemoveFriendship removes both sides; store.ErrNotFound if neither
// existed.
func (a *appStore) RemoveFriendship(ctx context.Context, userID, friendID string) error {
	res, err := a.s.c.contacts.DeleteMany(ctx, bson.D{{Key: "_id", Value: in([]contactKey{
		a.contactKey(userID, contactFriend, friendID), a.contactKey(friendID, contactFriend, userID),
	})}})
	if err == nil && res.DeletedCount == 0 {
		return fmt.Errorf("remove friendship %s, %s: %w", userID, friendID, store.ErrNotFound)
	}
	if err != nil {
		return errorf(err, "remove friendship %s, %s", userID, friendID)
	}
	return nil
}

func friendOf(d contactDoc) store.Friend {
	return store.Friend{UserID: d.ID.User, FriendID: d.ID.Other, Remark: d.Remark, CreatedAt: d.At}
}

// GetFriend returns a user's side of a friendship or store.ErrNotFound.
func (a *appStore) GetFriend(ctx context.Context, userID, friendID string) (store.Friend, error) {
	d, err := findOne[contactDoc](ctx, a.s.c.contacts, byID(a.contactKey(userID, contactFriend, friendID)))
	if err != nil {
		return store.Friend{}, fmt.Errorf("get friend %s of %s: %w", friendID, userID, err)
	}
	return friendOf(d), nil
}

// SetFriendRemark replaces a remark; store.ErrNotFound if not friends.
func (a *appStore) SetFriendRemark(ctx context.Context, userID, friendID, remark string) error {
	res, err := a.s.c.contacts.UpdateOne(ctx, byID(a.contactKey(userID, contactFriend, friendID)),
		set(bson.E{Key: "remark", Value: remark}))
	if err != nil {
		return errorf(err, "set remark of %s for %s", friendID, userID)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("set remark of %s for %s: %w", friendID, userID, store.ErrNotFound)
	}
	return nil
}

// ListFriends returns a page of a user's friends by id.
func (a *appStore) ListFriends(ctx context.Context, userID, after string, limit int) ([]store.Friend, error) {
	docs, err := a.listContacts(ctx, userID, contactFriend, false, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list friends of %s: %w", userID, err)
	}
	out := make([]store.Friend, len(docs))
	for i, d := range docs {
		out[i] = friendOf(d)
	}
	return out, nil
}

// PutBlock records a block, keeping the first time.
func (a *appStore) PutBlock(ctx context.Context, b store.Block) error {
	k := a.contactKey(b.UserID, contactBlock, b.TargetID)
	_, err := a.s.c.contacts.UpdateOne(ctx, byID(k),
		bson.D{{Key: "$setOnInsert", Value: bson.D{{Key: "at", Value: b.CreatedAt}}}}, options.UpdateOne().SetUpsert(true))
	if err != nil {
		return errorf(err, "block %s by %s", b.TargetID, b.UserID)
	}
	return nil
}

// DeleteBlock removes a block; store.ErrNotFound if none.
func (a *appStore) DeleteBlock(ctx context.Context, userID, targetID string) error {
	if err := a.deleteContact(ctx, a.contactKey(userID, contactBlock, targetID)); err != nil {
		return fmt.Errorf("unblock %s by %s: %w", targetID, userID, err)
	}
	return nil
}

// ListBlocks returns a page of the users a user blocks, by id.
func (a *appStore) ListBlocks(ctx context.Context, userID, after string, limit int) ([]store.Block, error) {
	docs, err := a.listContacts(ctx, userID, contactBlock, false, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list blocks of %s: %w", userID, err)
	}
	out := make([]store.Block, len(docs))
	for i, d := range docs {
		out[i] = store.Block{UserID: d.ID.User, TargetID: d.ID.Other, CreatedAt: d.At}
	}
	return out, nil
}

// GetRelation reads the three documents that decide a relation in one
// query.
func (a *appStore) GetRelation(ctx context.Context, fromID, toID string) (store.Relation, error) {
	friend, blocked, blocking := a.contactKey(fromID, contactFriend, toID),
		a.contactKey(toID, contactBlock, fromID), a.contactKey(fromID, contactBlock, toID)
	docs, err := findAll[contactDoc](ctx, a.s.c.contacts, bson.D{{Key: "_id", Value: in([]contactKey{friend, blocked, blocking})}})
	if err != nil {
		return store.Relation{}, fmt.Errorf("get relation %s -> %s: %w", fromID, toID, err)
	}
	var r store.Relation
	for _, d := range docs {
		switch d.ID {
		case friend:
			r.Friends = true
		case blocked:
			r.Blocked = true
		case blocking:
			r.Blocking = true
		}
	}
	return r, nil
}

// deleteUserContacts removes every contact record of a user or naming it
// (DeleteUser).
func (a *appStore) deleteUserContacts(ctx context.Context, id string) error {
	c := a.s.c.contacts
	if _, err := c.DeleteMany(ctx, a.scope(bson.E{Key: "_id.other", Value: id})); err != nil {
		return errorf(err, "delete contacts naming the user")
	}
	if _, err := c.DeleteMany(ctx, a.scope(bson.E{Key: "_id.user", Value: id})); err != nil {
		return errorf(err, "delete contacts")
	}
	return nil
}
