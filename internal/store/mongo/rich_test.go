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

// fileAppData writes a record to the files collection for
// TestIndexesStartWithApp and returns its name.
func fileAppData(t *testing.T, a store.AppStore) []string {
	t.Helper()
	if err := a.CreateFile(t.Context(), store.File{ID: "f1", UploaderID: "alice", ConvID: "p:alice:bob", Name: "a.png",
		ContentType: "image/png", Size: 3, SHA256: "ab", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	return []string{collFiles}
}
