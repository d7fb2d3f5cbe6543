package mongo

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/magpie-im/magpie/internal/store"
)

// TestSearchFieldLeavesNothingBehind: recalls, edits and erasures take the
// search tokens off their messages, not only out of the results; and
// messages from before search get theirs from EnsureIndexes.
func TestSearchFieldLeavesNothingBehind(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	a := s.App("A")
	for _, u := range []string{"ann", "bob"} {
		if err := a.CreateUser(ctx, store.User{ID: u}); err != nil {
			t.Fatal(err)
		}
	}
	for i, d := range []store.Draft{
		{ConvID: "p:ann:bob", Members: []string{"ann", "bob"}, SenderID: "ann", ClientMsgID: "1", Type: "text", Body: []byte("zebra one")},
		{ConvID: "p:ann:bob", SenderID: "ann", ClientMsgID: "2", Type: "text", Body: []byte("zebra two")},
		{ConvID: "p:ann:bob", SenderID: "ann", ClientMsgID: "3", Type: "text", Body: []byte("zebra three")},
		{ConvID: "s:bob", Members: []string{"bob"}, ClientMsgID: "4", Type: "text", Body: []byte("zebra notice")},
		{ConvID: "s:ann", Members: []string{"ann"}, ClientMsgID: "5", Type: "text", Body: []byte("zebra notice")},
	} {
		d.CreatedAt = time.UnixMilli(int64(i + 1))
		if _, err := a.AppendMessages(ctx, []store.Draft{d}); err != nil {
			t.Fatal(err)
		}
	}
	tokens := func() int64 {
		t.Helper()
		n, err := s.c.messages.CountDocuments(ctx, bson.D{{Key: "st", Value: bson.Regex{Pattern: " zebra"}}})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := tokens(); n != 5 {
		t.Fatalf("messages with tokens = %d, want 5", n)
	}
	if _, err := a.RecallMessage(ctx, "p:ann:bob", 1, time.UnixMilli(10)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.EditMessage(ctx, "p:ann:bob", 2, []byte("horse"), time.UnixMilli(11)); err != nil {
		t.Fatal(err)
	}
	if n := tokens(); n != 3 {
		t.Fatalf("messages with tokens after a recall and an edit = %d, want 3", n)
	}
	if err := a.DeleteUser(ctx, "ann", store.UserDeletion{At: time.UnixMilli(12), EraseMessages: true}); err != nil {
		t.Fatal(err)
	}
	if n := tokens(); n != 1 {
		t.Fatalf("messages with tokens after erasing ann = %d, want bob's notice only", n)
	}

	// A message from before search: no st, until EnsureIndexes (once per
	// database: the marker is cleared for the test).
	if _, err := s.c.messages.UpdateMany(ctx, bson.D{}, bson.D{{Key: "$unset", Value: bson.D{{Key: "st", Value: ""}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.c.meta.DeleteOne(ctx, byID(metaSearchBackfill)); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	if n := tokens(); n != 1 {
		t.Fatalf("messages with tokens after the backfill = %d, want 1", n)
	}
	got, err := s.App("A").SearchMessages(ctx, store.MessageSearch{UserID: "bob", Terms: []store.SearchTerm{{"zebra"}}, Limit: 10})
	if err != nil || len(got) != 1 || got[0].ConvID != "s:bob" {
		t.Errorf("search zebra after the backfill = %+v, %v", got, err)
	}
}
