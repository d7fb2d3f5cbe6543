package mongo

import (
	"testing"

	"github.com/magpie-im/magpie/internal/store"
)

// richAppData writes a record to each collection of rich messaging for
// TestIndexesStartWithApp (message c1/1 exists) and returns their names.
func richAppData(t *testing.T, a store.AppStore) []string {
	t.Helper()
	if _, err := a.AddReaction(t.Context(), store.Reaction{ConvID: "c1", Seq: 1, Emoji: "👍", UserID: "alice", CreatedAt: t0}, 20); err != nil {
		t.Fatal(err)
	}
	return []string{collReactions}
}
