package storetest

import (
	"fmt"
	"testing"

	"github.com/magpie-im/magpie/internal/store"
)

var richTests = []test{
	{"EditMessage", testEditMessage},
	{"Reactions", testReactions},
	{"ReactionLimit", testReactionLimit},
	{"DeleteUserReactions", testDeleteUserReactions},
}

// testDeleteUserReactions: a deleted user's reactions go with it; the
// others' stay.
func testDeleteUserReactions(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	fill(t, a, "p:alice:bob", 1)
	for _, u := range []string{"alice", "bob"} {
		must(t, a.CreateUser(ctx, newUser(u)), "CreateUser(%s)", u)
		if _, err := a.AddReaction(ctx, store.Reaction{ConvID: "p:alice:bob", Seq: 1, Emoji: "👍", UserID: u, CreatedAt: at(5)}, 20); err != nil {
			t.Fatal(err)
		}
	}
	must(t, a.DeleteUser(ctx, "bob", store.UserDeletion{At: at(6)}), "DeleteUser(bob)")
	rs, err := a.ListReactions(ctx, "p:alice:bob", []int64{1})
	if err != nil || len(rs) != 1 || rs[0].UserID != "alice" {
		t.Errorf("reactions after bob's deletion = %+v, %v, want alice's only", rs, err)
	}
}

func testEditMessage(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	msgs := fill(t, a, "c1", 2)

	want := msgs[0]
	want.Body, want.EditedAt = []byte("edited"), at(30)
	got, err := a.EditMessage(ctx, "c1", 1, []byte("edited"), at(30))
	if err != nil || !same(got, want, normMessage) {
		t.Fatalf("EditMessage(c1, 1) = %+v, %v, want %+v", got, err, want)
	}
	// A second edit replaces the body and the time.
	want.Body, want.EditedAt = []byte("again"), at(31)
	if got, err = a.EditMessage(ctx, "c1", 1, []byte("again"), at(31)); err != nil || !same(got, want, normMessage) {
		t.Errorf("EditMessage(c1, 1) again = %+v, %v, want %+v", got, err, want)
	}
	if got, err = a.GetMessage(ctx, "c1", 1); err != nil || !same(got, want, normMessage) {
		t.Errorf("GetMessage(c1, 1) = %+v, %v, want %+v", got, err, want)
	}
	if list, err := a.ListMessages(ctx, "c1", store.Range{Limit: 10}); err != nil || len(list) != 2 ||
		!same(list[0], want, normMessage) || !list[1].EditedAt.IsZero() {
		t.Errorf("ListMessages(c1) = %+v, %v, want the edit on seq 1 only", list, err)
	}
	// A recalled message cannot be edited, and keeps no body.
	if _, err := a.RecallMessage(ctx, "c1", 2, at(40)); err != nil {
		t.Fatal(err)
	}
	_, err = a.EditMessage(ctx, "c1", 2, []byte("x"), at(41))
	wantErr(t, err, store.ErrConflict, "EditMessage(recalled)")
	if m, err := a.GetMessage(ctx, "c1", 2); err != nil || len(m.Body) != 0 || !m.EditedAt.IsZero() {
		t.Errorf("recalled message after an edit = %+v, %v", m, err)
	}
	_, err = a.EditMessage(ctx, "c1", 9, []byte("x"), at(41))
	wantErr(t, err, store.ErrNotFound, "EditMessage(c1, 9)")
	_, err = a.EditMessage(ctx, "c9", 1, []byte("x"), at(41))
	wantErr(t, err, store.ErrNotFound, "EditMessage(c9, 1)")
	// Another app sees neither the message nor the edit.
	_, err = s.App("B").EditMessage(ctx, "c1", 1, []byte("x"), at(42))
	wantErr(t, err, store.ErrNotFound, "B.EditMessage(c1, 1)")
}

func reactionsString(rs []store.Reaction) string {
	out := ""
	for _, r := range rs {
		out += fmt.Sprintf("%s/%d/%s/%s@%d ", r.ConvID, r.Seq, r.Emoji, r.UserID, r.CreatedAt.Sub(base).Milliseconds()/1000)
	}
	return out
}

func testReactions(t *testing.T, s store.Store) {
	a, b, ctx := s.App("A"), s.App("B"), t.Context()
	fill(t, a, "c1", 3)
	add := func(seq int64, emoji, user string, sec int64, want bool) {
		t.Helper()
		added, err := a.AddReaction(ctx, store.Reaction{ConvID: "c1", Seq: seq, Emoji: emoji, UserID: user, CreatedAt: at(sec)}, 20)
		if err != nil || added != want {
			t.Errorf("AddReaction(%d, %s, %s) = %v, %v, want %v", seq, emoji, user, added, err, want)
		}
	}
	add(1, "👍", "bob", 10, true)
	add(1, "👍", "alice", 11, true)
	add(1, "👍", "bob", 12, false) // once per user: the first time stays
	add(1, "❤️", "bob", 13, true)
	add(2, "👍", "alice", 14, true)
	_, err := a.AddReaction(ctx, store.Reaction{ConvID: "c1", Seq: 9, Emoji: "👍", UserID: "bob", CreatedAt: at(1)}, 20)
	wantErr(t, err, store.ErrNotFound, "AddReaction(c1, 9)")
	_, err = b.AddReaction(ctx, store.Reaction{ConvID: "c1", Seq: 1, Emoji: "👍", UserID: "bob", CreatedAt: at(1)}, 20)
	wantErr(t, err, store.ErrNotFound, "B.AddReaction(c1, 1)")

	got, err := a.ListReactions(ctx, "c1", []int64{2, 1, 3})
	want := "c1/1/❤️/bob@13 c1/1/👍/bob@10 c1/1/👍/alice@11 c1/2/👍/alice@14 "
	if err != nil || reactionsString(got) != want {
		t.Errorf("ListReactions(c1, 2 1 3) = %s, %v, want %s", reactionsString(got), err, want)
	}
	if got, err := a.ListReactions(ctx, "c1", []int64{3}); err != nil || len(got) != 0 {
		t.Errorf("ListReactions(c1, 3) = %s, %v, want none", reactionsString(got), err)
	}
	if got, err := b.ListReactions(ctx, "c1", []int64{1, 2}); err != nil || len(got) != 0 {
		t.Errorf("B.ListReactions(c1) = %s, %v, want none", reactionsString(got), err)
	}
	if removed, err := b.RemoveReaction(ctx, "c1", 1, "👍", "bob"); err != nil || removed {
		t.Errorf("B.RemoveReaction = %v, %v, want false", removed, err)
	}
	if removed, err := a.RemoveReaction(ctx, "c1", 1, "👍", "bob"); err != nil || !removed {
		t.Errorf("RemoveReaction = %v, %v, want true", removed, err)
	}
	if removed, err := a.RemoveReaction(ctx, "c1", 1, "👍", "bob"); err != nil || removed {
		t.Errorf("RemoveReaction again = %v, %v, want false", removed, err)
	}
	got, err = a.ListReactions(ctx, "c1", []int64{1})
	if want := "c1/1/❤️/bob@13 c1/1/👍/alice@11 "; err != nil || reactionsString(got) != want {
		t.Errorf("ListReactions(c1, 1) after removal = %s, %v, want %s", reactionsString(got), err, want)
	}
}

func testReactionLimit(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	fill(t, a, "c1", 1)
	r := func(emoji, user string) store.Reaction {
		return store.Reaction{ConvID: "c1", Seq: 1, Emoji: emoji, UserID: user, CreatedAt: at(5)}
	}
	for _, e := range []string{"a", "b", "c"} {
		if added, err := a.AddReaction(ctx, r(e, "alice"), 3); err != nil || !added {
			t.Fatalf("AddReaction(%s) = %v, %v", e, added, err)
		}
	}
	_, err := a.AddReaction(ctx, r("d", "alice"), 3)
	wantErr(t, err, store.ErrLimit, "AddReaction(4th emoji)")
	// An emoji the message has is not a new one.
	if added, err := a.AddReaction(ctx, r("a", "bob"), 3); err != nil || !added {
		t.Errorf("AddReaction(a, bob) = %v, %v, want true", added, err)
	}
	// Removing the last reaction with an emoji frees its place.
	if _, err := a.RemoveReaction(ctx, "c1", 1, "c", "alice"); err != nil {
		t.Fatal(err)
	}
	if added, err := a.AddReaction(ctx, r("d", "bob"), 3); err != nil || !added {
		t.Errorf("AddReaction(d) after a removal = %v, %v, want true", added, err)
	}
	// maxEmoji 0: no limit.
	if added, err := a.AddReaction(ctx, r("e", "bob"), 0); err != nil || !added {
		t.Errorf("AddReaction(e, no limit) = %v, %v, want true", added, err)
	}
}
