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

// collReactions holds one document per (message, emoji, user).
const collReactions = "message_reactions"

func init() {
	collectionNames = append(collectionNames, collReactions)
	indexes[collReactions] = []index{
		// A message's reactions in order (ListReactions, the emoji limit).
		{name: "app_conv_seq_emoji_created", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "_id.conv", Value: 1},
			{Key: "_id.seq", Value: 1}, {Key: "_id.emoji", Value: 1}, {Key: "created_at", Value: 1}, {Key: "_id.user", Value: 1}}},
		// A user's reactions (DeleteUser).
		{name: "app_user", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "_id.user", Value: 1}}},
	}
}

// reactionKey is the _id of a reaction.
type reactionKey struct {
	App   string `bson:"app"`
	Conv  string `bson:"conv"`
	Seq   int64  `bson:"seq"`
	Emoji string `bson:"emoji"`
	User  string `bson:"user"`
}

type reactionDoc struct {
	ID        reactionKey `bson:"_id"`
	CreatedAt time.Time   `bson:"created_at"`
}

func (a *appStore) reactions() *mongo.Collection {
	return a.s.client.Database(a.s.dbName).Collection(collReactions)
}

// EditMessage replaces the body of a message that is not recalled; see
// store.RichStore.
func (a *appStore) EditMessage(ctx context.Context, convID string, seq int64, body []byte, at time.Time) (store.Message, error) {
	k := a.messageKey(convID, seq)
	// The search text follows the body; it depends on the type, which
	// never changes.
	old, err := findOne[messageDoc](ctx, a.s.l.messages, byID(k),
		options.FindOne().SetProjection(bson.D{{Key: "type", Value: 1}}))
	if err != nil {
		return store.Message{}, fmt.Errorf("edit message %s/%d: %w", convID, seq, err)
	}
	update := set(bson.E{Key: "body", Value: body}, bson.E{Key: "edited_at", Value: at})
	if st := searchField(old.Type, body); st != "" {
		update = set(bson.E{Key: "body", Value: body}, bson.E{Key: "edited_at", Value: at}, bson.E{Key: "st", Value: st})
	} else {
		update = append(update, bson.E{Key: "$unset", Value: bson.D{{Key: "st", Value: ""}}})
	}
	_, err = a.s.c.messages.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: k}, {Key: "recalled_at", Value: bson.D{{Key: "$exists", Value: false}}}}, update)
	if err != nil {
		return store.Message{}, errorf(err, "edit message %s/%d", convID, seq)
	}
	d, err := findOne[messageDoc](ctx, a.s.l.messages, byID(k))
	if err != nil {
		return store.Message{}, fmt.Errorf("edit message %s/%d: %w", convID, seq, err)
	}
	if !d.RecalledAt.IsZero() {
		return store.Message{}, fmt.Errorf("edit message %s/%d: %w", convID, seq, store.ErrConflict)
	}
	return d.record(), nil
}

// AddReaction records a reaction; see store.RichStore. Without a
// transaction the emoji limit is checked before the insert.
func (a *appStore) AddReaction(ctx context.Context, r store.Reaction, maxEmoji int) (bool, error) {
	if _, err := findOne[bson.Raw](ctx, a.s.l.messages, byID(a.messageKey(r.ConvID, r.Seq)),
		options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})); err != nil {
		return false, fmt.Errorf("add reaction to %s/%d: %w", r.ConvID, r.Seq, err)
	}
	k := reactionKey{App: a.id, Conv: r.ConvID, Seq: r.Seq, Emoji: r.Emoji, User: r.UserID}
	if maxEmoji > 0 {
		emoji, err := a.reactions().Distinct(ctx, "_id.emoji", a.messageFilter(r.ConvID, r.Seq)).Raw()
		if err != nil {
			return false, errorf(err, "add reaction to %s/%d", r.ConvID, r.Seq)
		}
		vals, err := emoji.Values()
		if err != nil {
			return false, fmt.Errorf("add reaction to %s/%d: decode emoji: %w", r.ConvID, r.Seq, err)
		}
		have := false
		for _, v := range vals {
			if s, ok := v.StringValueOK(); ok && s == r.Emoji {
				have = true
			}
		}
		if !have && len(vals) >= maxEmoji {
			return false, fmt.Errorf("add reaction to %s/%d: %w", r.ConvID, r.Seq, store.ErrLimit)
		}
	}
	_, err := a.reactions().InsertOne(ctx, reactionDoc{ID: k, CreatedAt: r.CreatedAt})
	if err != nil {
		if errors.Is(translate(err), store.ErrConflict) {
			return false, nil
		}
		return false, errorf(err, "add reaction to %s/%d", r.ConvID, r.Seq)
	}
	return true, nil
}

// messageFilter selects the reactions of one message.
func (a *appStore) messageFilter(convID string, seq int64) bson.D {
	return bson.D{{Key: "_id.app", Value: a.id}, {Key: "_id.conv", Value: convID}, {Key: "_id.seq", Value: seq}}
}

// RemoveReaction removes a reaction; see store.RichStore.
func (a *appStore) RemoveReaction(ctx context.Context, convID string, seq int64, emoji, userID string) (bool, error) {
	res, err := a.reactions().DeleteOne(ctx, byID(reactionKey{App: a.id, Conv: convID, Seq: seq, Emoji: emoji, User: userID}))
	if err != nil {
		return false, errorf(err, "remove reaction from %s/%d", convID, seq)
	}
	return res.DeletedCount > 0, nil
}

// ListReactions returns the reactions to messages; see store.RichStore.
func (a *appStore) ListReactions(ctx context.Context, convID string, seqs []int64) ([]store.Reaction, error) {
	if len(seqs) == 0 {
		return nil, nil
	}
	cur, err := a.reactions().Find(ctx,
		bson.D{{Key: "_id.app", Value: a.id}, {Key: "_id.conv", Value: convID}, {Key: "_id.seq", Value: bson.D{{Key: "$in", Value: seqs}}}},
		options.Find().SetSort(bson.D{{Key: "_id.app", Value: 1}, {Key: "_id.conv", Value: 1}, {Key: "_id.seq", Value: 1},
			{Key: "_id.emoji", Value: 1}, {Key: "created_at", Value: 1}, {Key: "_id.user", Value: 1}}))
	if err != nil {
		return nil, errorf(err, "list reactions of %s", convID)
	}
	var docs []reactionDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, errorf(err, "list reactions of %s", convID)
	}
	out := make([]store.Reaction, len(docs))
	for i, d := range docs {
		out[i] = store.Reaction{ConvID: d.ID.Conv, Seq: d.ID.Seq, Emoji: d.ID.Emoji, UserID: d.ID.User, CreatedAt: utc(d.CreatedAt)}
	}
	return out, nil
}
