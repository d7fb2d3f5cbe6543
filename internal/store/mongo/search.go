package mongo

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/magpie-im/magpie/internal/store"
)

// Keyword search (store.SearchStore) without a text index: FerretDB has
// none, and MongoDB's text indexes know neither prefixes nor CJK text.
// Each message keeps its search tokens in st (store.IndexTokens, each
// after a space), written with the message and changed with it (edit,
// recall, erasure). A term is then the literal " tok1 tok2 pre" in st: a
// phrase whose last token is a prefix, exactly what the SQLite engine's
// FTS5 query matches, since both index the same tokens. The literal is
// escaped (regexp.QuoteMeta) and needs no regex option: st and the terms
// are folded already.
//
// The scan is bounded by the index: each of the user's conversations is
// one branch of an $or on (app, conversation, seq >= first visible), served
// by the app_conv_seq index, so a search reads the user's own visible
// messages and never the app's others. A deployment on MongoDB proper can
// add an Atlas Search or text index on st later without changing the
// contract.

// searchField is the st field of a message: its tokens, each after a
// space; "" when it has none.
func searchField(typ string, body []byte) string {
	if t := store.MessageIndexTokens(typ, body); t != "" {
		return " " + t
	}
	return ""
}

// SearchMessages finds a user's messages by keyword; see store.SearchStore.
func (a *appStore) SearchMessages(ctx context.Context, q store.MessageSearch) ([]store.Message, error) {
	if q.Limit <= 0 || len(q.Terms) == 0 || q.UserID == "" {
		return nil, errors.New("search messages: need a user, terms and a positive limit")
	}
	filter := bson.D{{Key: "_id.user", Value: q.UserID}}
	if q.ConvID != "" {
		filter = append(filter, bson.E{Key: "_id.conv", Value: q.ConvID})
	}
	entries, err := findAll[entryDoc](ctx, a.s.c.entries, a.scope(filter...))
	if err != nil {
		return nil, fmt.Errorf("search messages of %s: %w", q.UserID, err)
	}
	if len(entries) == 0 {
		return nil, nil
	}
	convs := make(bson.A, len(entries))
	for i, e := range entries {
		convs[i] = bson.D{{Key: "_id.app", Value: a.id}, {Key: "_id.conv", Value: e.ID.Conv},
			{Key: "_id.seq", Value: bson.D{{Key: "$gte", Value: max(e.FirstSeq, e.ClearedSeq+1, 1)}}}}
	}
	and := bson.A{bson.D{{Key: "$or", Value: convs}}}
	for _, t := range q.Terms {
		and = append(and, bson.D{{Key: "st", Value: bson.Regex{Pattern: regexp.QuoteMeta(" " + strings.Join(t, " "))}}})
	}
	if q.SenderID != "" {
		and = append(and, bson.D{{Key: "sender", Value: q.SenderID}})
	}
	if len(q.Types) > 0 {
		and = append(and, bson.D{{Key: "type", Value: in(q.Types)}})
	}
	if !q.From.IsZero() {
		and = append(and, bson.D{{Key: "created_at", Value: bson.D{{Key: "$gte", Value: q.From}}}})
	}
	if !q.To.IsZero() {
		and = append(and, bson.D{{Key: "created_at", Value: bson.D{{Key: "$lte", Value: q.To}}}})
	}
	if k := q.After; k != nil {
		and = append(and, bson.D{{Key: "$or", Value: bson.A{
			bson.D{{Key: "created_at", Value: bson.D{{Key: "$lt", Value: k.CreatedAt}}}},
			bson.D{{Key: "created_at", Value: k.CreatedAt}, {Key: "_id.conv", Value: bson.D{{Key: "$lt", Value: k.ConvID}}}},
			bson.D{{Key: "created_at", Value: k.CreatedAt}, {Key: "_id.conv", Value: k.ConvID},
				{Key: "_id.seq", Value: bson.D{{Key: "$lt", Value: k.Seq}}}},
		}}})
	}
	// Recalled messages have no st, so the terms leave them out already;
	// the condition says it all the same.
	and = append(and, bson.D{{Key: "recalled_at", Value: bson.D{{Key: "$exists", Value: false}}}})
	ds, err := findAll[messageDoc](ctx, a.s.c.messages, bson.D{{Key: "$and", Value: and}},
		options.Find().SetSort(bson.D{{Key: "created_at", Value: -1}, {Key: "_id.conv", Value: -1}, {Key: "_id.seq", Value: -1}}).
			SetLimit(int64(q.Limit)))
	if err != nil {
		return nil, fmt.Errorf("search messages of %s: %w", q.UserID, err)
	}
	return records(ds, messageDoc.record), nil
}

// metaSearchBackfill marks a database whose messages from before search
// have their st field.
const metaSearchBackfill = "search_backfill"

// backfillSearch gives st to the messages stored before search, once per
// database (EnsureIndexes runs it; a second run finds the marker).
func (s *Store) backfillSearch(ctx context.Context) error {
	if v, err := s.GetMeta(ctx, metaSearchBackfill); err == nil && v == "1" {
		return nil
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	filter := bson.D{
		{Key: "st", Value: bson.D{{Key: "$exists", Value: false}}},
		{Key: "recalled_at", Value: bson.D{{Key: "$exists", Value: false}}},
		{Key: "type", Value: in([]string{"text", "file", "location", "custom"})},
	}
	cur, err := s.c.messages.Find(ctx, filter, options.Find().SetProjection(
		bson.D{{Key: "_id", Value: 1}, {Key: "type", Value: 1}, {Key: "body", Value: 1}}))
	if err != nil {
		return fmt.Errorf("backfill search: %w", translate(err))
	}
	defer func() { _ = cur.Close(ctx) }()
	for cur.Next(ctx) {
		var d messageDoc
		if err := cur.Decode(&d); err != nil {
			return fmt.Errorf("backfill search: %w", translate(err))
		}
		st := searchField(d.Type, d.Body)
		if st == "" {
			continue
		}
		// Only if the body is still the one read: an edit meanwhile wrote
		// its own st.
		_, err := s.c.messages.UpdateOne(ctx, bson.D{{Key: "_id", Value: d.ID}, {Key: "body", Value: d.Body},
			{Key: "st", Value: bson.D{{Key: "$exists", Value: false}}}}, set(bson.E{Key: "st", Value: st}))
		if err != nil {
			return fmt.Errorf("backfill search: %w", translate(err))
		}
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("backfill search: %w", translate(err))
	}
	return s.PutMeta(ctx, metaSearchBackfill, "1")
}
