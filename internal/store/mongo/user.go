package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/magpie-im/magpie/internal/store"
)

var _ store.AppStore = (*appStore)(nil)

// appStore is the store.AppStore of one app. Tenancy rule: every filter on
// app data is built by its key constructors (key, messageKey, entryKey,
// cursorKey, deviceKey, joinKey), which put the app id first in an _id, or by scope,
// which adds the app id condition; nothing else in the package names app
// data.
type appStore struct {
	s  *Store
	id string
}

// AppID returns the app this handle is scoped to.
func (a *appStore) AppID() string { return a.id }

func (a *appStore) key(id string) appKey { return appKey{App: a.id, ID: id} }

func (a *appStore) messageKey(conv string, seq int64) messageKey {
	return messageKey{App: a.id, Conv: conv, Seq: seq}
}

func (a *appStore) entryKey(user, conv string) entryKey {
	return entryKey{App: a.id, User: user, Conv: conv}
}

func (a *appStore) cursorKey(user, device, conv string) cursorKey {
	return cursorKey{App: a.id, User: user, Device: device, Conv: conv}
}

func (a *appStore) deviceKey(user, device string) deviceKey {
	return deviceKey{App: a.id, User: user, Device: device}
}

// scope returns a filter on the app's documents (those whose _id.app is the
// app id) and the given conditions, which name _id fields by their dotted
// paths (_id.conv).
func (a *appStore) scope(conds ...bson.E) bson.D {
	return append(bson.D{{Key: "_id.app", Value: a.id}}, conds...)
}

// in is the condition {$in: vs}.
func in[T any](vs []T) bson.D { return bson.D{{Key: "$in", Value: vs}} }

// CreateUser adds a user; store.ErrConflict if the id is taken.
func (a *appStore) CreateUser(ctx context.Context, u store.User) error {
	errs, err := a.CreateUsers(ctx, []store.User{u})
	if err == nil {
		err = errs[0]
	}
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.ID, err)
	}
	return nil
}

// CreateUsers adds users in one unordered bulk insert; for each it returns
// nil, store.ErrConflict or another error, in input order. An id repeated
// within the batch conflicts with its first occurrence. The tombstone of a
// deleted user's id raises the new user's TokensValidAfter and goes.
func (a *appStore) CreateUsers(ctx context.Context, us []store.User) ([]error, error) {
	if len(us) == 0 {
		return nil, nil
	}
	errs := make([]error, len(us))
	ids := make([]appKey, 0, len(us))
	seen := make(map[string]bool, len(us))
	for i, u := range us {
		if seen[u.ID] {
			errs[i] = store.ErrConflict
			continue
		}
		seen[u.ID] = true
		ids = append(ids, a.key(u.ID))
	}
	tombs, err := findAll[tombstoneDoc](ctx, a.s.c.tombstones, bson.D{{Key: "_id", Value: in(ids)}})
	if err != nil {
		return nil, fmt.Errorf("create users: read tombstones: %w", err)
	}
	deleted := make(map[string]time.Time, len(tombs))
	for _, t := range tombs {
		deleted[t.ID.ID] = t.DeletedAt
	}
	var docs []any
	var at []int // input index of each document
	for i, u := range us {
		if errs[i] != nil {
			continue
		}
		if d, ok := deleted[u.ID]; ok {
			u.TokensValidAfter = latest(u.TokensValidAfter, d, u.CreatedAt.Truncate(time.Second))
		}
		docs = append(docs, userDoc{
			ID: a.key(u.ID), Name: u.Name, AvatarURL: u.AvatarURL, Metadata: pairs(u.Metadata),
			Blocked: u.Blocked, TokensValidAfter: u.TokensValidAfter, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt,
		})
		at = append(at, i)
	}
	_, err = a.s.c.users.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err != nil {
		wes, err := writeErrors(err)
		if err != nil {
			return nil, errorf(err, "create users")
		}
		for _, we := range wes {
			errs[at[we.Index]] = translate(we.WriteError)
		}
	}
	for _, i := range at {
		d, ok := deleted[us[i].ID]
		if !ok || errs[i] != nil {
			continue
		}
		// Only the tombstone read: a later deletion's stays.
		filter := bson.D{{Key: "_id", Value: a.key(us[i].ID)}, {Key: "deleted_at", Value: d}}
		if _, err := a.s.c.tombstones.DeleteOne(ctx, filter); err != nil {
			return nil, errorf(err, "create users: remove tombstone of %s", us[i].ID)
		}
	}
	return errs, nil
}

func latest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if t.After(out) {
			out = t
		}
	}
	return out
}

// GetUser returns a user, or store.ErrNotFound.
func (a *appStore) GetUser(ctx context.Context, id string) (store.User, error) {
	d, err := findOne[userDoc](ctx, a.s.c.users, byID(a.key(id)))
	if err != nil {
		return store.User{}, fmt.Errorf("get user %s: %w", id, err)
	}
	return d.record(), nil
}

// UpdateUser replaces the name, avatar URL, metadata and updated time;
// store.ErrNotFound if the user does not exist.
func (a *appStore) UpdateUser(ctx context.Context, u store.User) error {
	update := bson.D{{Key: "$set", Value: bson.D{
		{Key: "name", Value: u.Name},
		{Key: "avatar_url", Value: u.AvatarURL},
		{Key: "updated_at", Value: u.UpdatedAt},
	}}}
	if md := pairs(u.Metadata); md != nil {
		update[0].Value = append(update[0].Value.(bson.D), bson.E{Key: "metadata", Value: md})
	} else {
		update = append(update, bson.E{Key: "$unset", Value: bson.D{{Key: "metadata", Value: ""}}})
	}
	res, err := a.s.c.users.UpdateOne(ctx, byID(a.key(u.ID)), update)
	if err := matched(res, err); err != nil {
		return fmt.Errorf("update user %s: %w", u.ID, err)
	}
	return nil
}

// ListUsers returns up to limit users with id > after, by id.
func (a *appStore) ListUsers(ctx context.Context, after string, limit int) ([]store.User, error) {
	if limit <= 0 {
		return nil, nil
	}
	ds, err := findAll[userDoc](ctx, a.s.c.users,
		a.scope(bson.E{Key: "_id.id", Value: bson.D{{Key: "$gt", Value: after}}}), page("_id.id", limit))
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return records(ds, userDoc.record), nil
}

// SetUserBlocked sets or clears the blocked flag and sets the updated time
// to at; store.ErrNotFound if the user does not exist.
func (a *appStore) SetUserBlocked(ctx context.Context, id string, blocked bool, at time.Time) error {
	res, err := a.s.c.users.UpdateOne(ctx, byID(a.key(id)),
		set(bson.E{Key: "blocked", Value: blocked}, bson.E{Key: "updated_at", Value: at}))
	if err := matched(res, err); err != nil {
		return fmt.Errorf("set user %s blocked: %w", id, err)
	}
	return nil
}

// RevokeTokens moves the user's TokensValidAfter forward to before (never
// back); store.ErrNotFound if the user does not exist.
func (a *appStore) RevokeTokens(ctx context.Context, id string, before time.Time) error {
	res, err := a.s.c.users.UpdateOne(ctx, byID(a.key(id)),
		bson.D{{Key: "$max", Value: bson.D{{Key: "tokens_valid_after", Value: before}}}})
	if err := matched(res, err); err != nil {
		return fmt.Errorf("revoke tokens of user %s: %w", id, err)
	}
	return nil
}

// SetLastSeen moves the user's LastSeenAt forward to at (never back);
// store.ErrNotFound if the user does not exist.
func (a *appStore) SetLastSeen(ctx context.Context, id string, at time.Time) error {
	res, err := a.s.c.users.UpdateOne(ctx, byID(a.key(id)),
		bson.D{{Key: "$max", Value: bson.D{{Key: "last_seen_at", Value: at}}}})
	if err := matched(res, err); err != nil {
		return fmt.Errorf("set last seen of user %s: %w", id, err)
	}
	return nil
}

// DeleteUser removes a user and what is only the user's; see
// store.AppStore. Without a transaction it runs as steps that a retry may
// repeat: the user's document goes last, so a call that failed half-way is
// finished by the next (which still finds the user), and a call that
// returned nil has done every step.
//
// The user's messages keep their sender but lose their client ids: their
// deduplication sender (ds) becomes a new ObjectID, which no sender id can
// equal, so a new user with the same id is not deduplicated against them.
func (a *appStore) DeleteUser(ctx context.Context, id string, d store.UserDeletion) error {
	if err := a.deleteUser(ctx, id, d); err != nil {
		return fmt.Errorf("delete user %s: %w", id, err)
	}
	return nil
}

func (a *appStore) deleteUser(ctx context.Context, id string, d store.UserDeletion) error {
	c := a.s.c
	if _, err := findOne[userDoc](ctx, c.users, byID(a.key(id))); err != nil {
		return err
	}
	_, err := c.tombstones.UpdateOne(ctx, byID(a.key(id)), set(bson.E{Key: "deleted_at", Value: d.At}),
		options.UpdateOne().SetUpsert(true))
	if err != nil {
		return errorf(err, "write tombstone")
	}
	entries, err := findAll[entryDoc](ctx, c.entries, a.scope(bson.E{Key: "_id.user", Value: id}))
	if err != nil {
		return fmt.Errorf("list conversations: %w", err)
	}
	var convs []appKey // a group's conversation has no member list to rejoin
	for _, e := range entries {
		if !isGroupConv(e.ID.Conv) {
			convs = append(convs, a.key(e.ID.Conv))
		}
	}
	sent := bson.E{Key: "ds", Value: id}
	if d.EraseMessages {
		filter := a.scope(sent, bson.E{Key: "recalled_at", Value: bson.D{{Key: "$exists", Value: false}}})
		update := bson.D{
			{Key: "$set", Value: bson.D{{Key: "recalled_at", Value: d.At}}},
			{Key: "$unset", Value: bson.D{{Key: "body", Value: ""}, {Key: "push", Value: ""}, {Key: "st", Value: ""}}},
		}
		if _, err := c.messages.UpdateMany(ctx, filter, update); err != nil {
			return errorf(err, "erase messages")
		}
	}
	update := set(bson.E{Key: "cid", Value: ""}, bson.E{Key: "ds", Value: bson.NewObjectID()})
	if _, err := c.messages.UpdateMany(ctx, a.scope(sent), update); err != nil {
		return errorf(err, "clear client message ids")
	}
	if len(convs) > 0 {
		// Flag the conversations before their entries go, so that an
		// append never sees a conversation without the entry and without
		// the flag.
		_, err := c.conversations.UpdateMany(ctx, bson.D{{Key: "_id", Value: in(convs)}},
			bson.D{{Key: "$inc", Value: bson.D{{Key: "rejoin", Value: int64(1)}}}})
		if err != nil {
			return errorf(err, "flag conversations")
		}
	}
	sys := "s:" + id
	if _, err := c.messages.DeleteMany(ctx, a.scope(bson.E{Key: "_id.conv", Value: sys})); err != nil {
		return errorf(err, "delete system messages")
	}
	if _, err := c.conversations.DeleteOne(ctx, byID(a.key(sys))); err != nil {
		return errorf(err, "delete system conversation")
	}
	if err := a.deleteUserEntries(ctx, id); err != nil {
		return err
	}
	if _, err := a.reactions().DeleteMany(ctx, a.scope(bson.E{Key: "_id.user", Value: id})); err != nil {
		return errorf(err, "delete reactions")
	}
	if _, err := a.roomBans().DeleteMany(ctx, a.scope(bson.E{Key: "_id.user", Value: id})); err != nil {
		return errorf(err, "delete room bans")
	}
	res, err := c.users.DeleteOne(ctx, byID(a.key(id)))
	if err != nil {
		return errorf(err, "delete user document")
	}
	if res.DeletedCount == 0 {
		return store.ErrNotFound // a concurrent DeleteUser finished first
	}
	// An append that saw the user still there may have re-created an
	// entry meanwhile (see appendBatch.rejoin), and an AddOutbox,
	// PutDevice, AddPushLog, PutPushSettings or PutAgent may have written a
	// record of the user (see outbox.go, push.go and support.go): sweep
	// again.
	return a.deleteUserEntries(ctx, id)
}

func (a *appStore) deleteUserEntries(ctx context.Context, id string) error {
	// Group memberships first, each with its group's count.
	if err := a.deleteUserGroups(ctx, id); err != nil {
		return err
	}
	if err := a.deleteUserContacts(ctx, id); err != nil {
		return err
	}
	if _, err := a.s.c.cursors.DeleteMany(ctx, a.scope(bson.E{Key: "_id.user", Value: id})); err != nil {
		return errorf(err, "delete device cursors")
	}
	if _, err := a.s.c.entries.DeleteMany(ctx, a.scope(bson.E{Key: "_id.user", Value: id})); err != nil {
		return errorf(err, "delete conversation entries")
	}
	if _, err := a.s.c.outbox.DeleteMany(ctx, a.scope(bson.E{Key: "user", Value: id})); err != nil {
		return errorf(err, "delete outbox entries")
	}
	if _, err := a.s.c.devices.DeleteMany(ctx, a.scope(bson.E{Key: "_id.user", Value: id})); err != nil {
		return errorf(err, "delete push devices")
	}
	if _, err := a.s.c.pushSettings.DeleteOne(ctx, byID(a.key(id))); err != nil {
		return errorf(err, "delete push settings")
	}
	if _, err := a.s.c.pushLog.DeleteMany(ctx, a.scope(bson.E{Key: "user", Value: id})); err != nil {
		return errorf(err, "delete push log entries")
	}
	// The agent record, even with active sessions; the sessions stay, as
	// history, with their agent id.
	if _, err := a.s.c.agents.DeleteOne(ctx, byID(a.key(id))); err != nil {
		return errorf(err, "delete agent")
	}
	return nil
}

// PutIdempotency stores r unless the key exists; it returns the stored
// record and whether this call created it.
func (a *appStore) PutIdempotency(ctx context.Context, r store.Idempotency) (store.Idempotency, bool, error) {
	doc := idempotencyDoc{ID: a.key(r.Key), RequestHash: r.RequestHash, Status: r.Status,
		Body: r.Body, CreatedAt: r.CreatedAt}
	// The stored record may be swept between the conflict and the read:
	// then insert again.
	for range 3 {
		_, err := a.s.c.idempotency.InsertOne(ctx, doc)
		if err == nil {
			return r, true, nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return store.Idempotency{}, false, errorf(err, "put idempotency")
		}
		stored, err := findOne[idempotencyDoc](ctx, a.s.l.idempotency, byID(doc.ID))
		if err == nil {
			return stored.record(), false, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return store.Idempotency{}, false, fmt.Errorf("put idempotency: %w", err)
		}
	}
	return store.Idempotency{}, false, errors.New("put idempotency: the key keeps conflicting and vanishing")
}

// GetIdempotency returns the record for key, or store.ErrNotFound.
func (a *appStore) GetIdempotency(ctx context.Context, key string) (store.Idempotency, error) {
	d, err := findOne[idempotencyDoc](ctx, a.s.c.idempotency, byID(a.key(key)))
	if err != nil {
		return store.Idempotency{}, fmt.Errorf("get idempotency: %w", err)
	}
	return d.record(), nil
}
