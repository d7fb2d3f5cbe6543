package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/magpie-im/magpie/internal/store"
)

// AddOutbox records e unless the app holds its id already (the unique _id),
// and only while its user exists; see store.OutboxStore. Without a
// transaction the entry is inserted first and the user looked up after: if
// the user is gone, the entry is taken back. A DeleteUser that deletes the
// user's document after that lookup deletes the user's entries after it
// too (deleteUserEntries), so either way no entry outlives its user.
func (a *appStore) AddOutbox(ctx context.Context, e store.OutboxEntry) (bool, error) {
	doc := outboxDoc{
		ID: a.key(e.ID), User: e.UserID, Conv: e.ConvID, Seq: e.Seq, Sender: e.SenderID,
		Type: e.Type, Preview: e.Preview, Badge: e.Badge, Payload: e.Payload, CreatedAt: e.CreatedAt,
	}
	_, err := a.s.c.outbox.InsertOne(ctx, doc)
	if mongo.IsDuplicateKeyError(err) {
		return false, nil
	}
	if err != nil {
		return false, errorf(err, "add outbox entry %s", e.ID)
	}
	// Read locally: a deletion of the user that has returned is seen.
	_, err = findOne[userDoc](ctx, a.s.l.users, byID(a.key(e.UserID)))
	if errors.Is(err, store.ErrNotFound) {
		if _, derr := a.s.c.outbox.DeleteOne(context.WithoutCancel(ctx), byID(doc.ID)); derr != nil {
			return false, errorf(derr, "add outbox entry %s: take back the entry of a missing user", e.ID)
		}
		return false, fmt.Errorf("add outbox entry %s: user %s: %w", e.ID, e.UserID, store.ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("add outbox entry %s: check user: %w", e.ID, err)
	}
	return true, nil
}

// ListOutbox returns up to limit entries with id > after, by id, of one
// user or (userID empty) of all.
func (a *appStore) ListOutbox(ctx context.Context, userID, after string, limit int) ([]store.OutboxEntry, error) {
	if limit <= 0 {
		return nil, nil
	}
	var conds []bson.E
	if userID != "" {
		conds = append(conds, bson.E{Key: "user", Value: userID})
	}
	conds = append(conds, bson.E{Key: "_id.id", Value: bson.D{{Key: "$gt", Value: after}}})
	ds, err := findAll[outboxDoc](ctx, a.s.c.outbox, a.scope(conds...), page("_id.id", limit))
	if err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	return records(ds, outboxDoc.record), nil
}

// DeleteOutboxBefore removes, in every app, the outbox entries created
// before the given time and the push log entries logged before it, app by
// app.
func (s *Store) DeleteOutboxBefore(ctx context.Context, before time.Time) (int64, error) {
	n, err := s.sweep(ctx, s.c.outbox, bson.E{Key: "created_at", Value: bson.D{{Key: "$lt", Value: before}}})
	if err != nil {
		return n, fmt.Errorf("delete outbox entries: %w", err)
	}
	m, err := s.sweep(ctx, s.c.pushLog, bson.E{Key: "at", Value: bson.D{{Key: "$lt", Value: before}}})
	if err != nil {
		return n + m, fmt.Errorf("delete push log entries: %w", err)
	}
	return n + m, nil
}
