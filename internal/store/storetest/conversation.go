package storetest

import (
	"fmt"
	"testing"

	"github.com/magpie-im/magpie/internal/store"
)

// userConv returns a's view of conv for user, failing if it is missing.
func userConv(t *testing.T, a store.AppStore, user, conv string) store.UserConversation {
	t.Helper()
	ucs, err := a.ListUserConversations(t.Context(), user, "", 1000)
	must(t, err, "ListUserConversations(%q)", user)
	for _, uc := range ucs {
		if uc.ConvID == conv {
			return uc
		}
	}
	t.Fatalf("ListUserConversations(%q) has no %q", user, conv)
	return store.UserConversation{}
}

var conversationTests = []test{
	{"Prefs", testConversationPrefs},
	{"CreatedOnFirstMessage", testConversationCreated},
	{"SenderReadCursor", func(t *testing.T, s store.Store) {
		a := s.App("A")
		appendAll(t, a, draft("c1", "alice", "m1", 1))
		appendAll(t, a, draft("c1", "bob", "m2", 2), draft("c1", "bob", "m3", 3))
		for _, tc := range []struct {
			user         string
			read, unread int64
		}{{"alice", 1, 2}, {"bob", 3, 0}} {
			uc := userConv(t, a, tc.user, "c1")
			if uc.ReadSeq != tc.read || uc.Unread() != tc.unread {
				t.Errorf("%s's c1: ReadSeq %d, Unread() %d, want %d, %d",
					tc.user, uc.ReadSeq, uc.Unread(), tc.read, tc.unread)
			}
		}
	}},
	{"SystemMessage", func(t *testing.T, s store.Store) {
		a := s.App("A")
		d := draft("g1", "", "", 1)
		d.Members, d.Type = []string{"carol", "alice", "bob"}, "system"
		appendAll(t, a, d)
		c, err := a.GetConversation(t.Context(), "g1")
		want := []string{"alice", "bob", "carol"}
		if err != nil || fmt.Sprint(c.Members) != fmt.Sprint(want) {
			t.Errorf("GetConversation(g1).Members = %q, %v, want %q", c.Members, err, want)
		}
		for _, u := range want {
			if uc := userConv(t, a, u, "g1"); uc.ReadSeq != 0 || uc.Unread() != 1 {
				t.Errorf("%s's g1: ReadSeq %d, Unread() %d, want 0, 1", u, uc.ReadSeq, uc.Unread())
			}
		}
	}},
	{"Missing", func(t *testing.T, s store.Store) {
		_, err := s.App("A").GetConversation(t.Context(), "c1")
		wantErr(t, err, store.ErrNotFound, "GetConversation(%q)", "c1")
	}},
	{"GetUserConversation", func(t *testing.T, s store.Store) {
		a := s.App("A")
		appendAll(t, a, draft("c1", "alice", "m1", 1), draft("c1", "bob", "m2", 2))
		for _, u := range []string{"alice", "bob"} {
			got, err := a.GetUserConversation(t.Context(), u, "c1")
			want := userConv(t, a, u, "c1")
			if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("GetUserConversation(%q, c1) = %+v, %v, want %+v", u, got, err, want)
			}
		}
		_, err := a.GetUserConversation(t.Context(), "carol", "c1")
		wantErr(t, err, store.ErrNotFound, "GetUserConversation(%q, %q)", "carol", "c1")
		_, err = a.GetUserConversation(t.Context(), "alice", "c2")
		wantErr(t, err, store.ErrNotFound, "GetUserConversation(%q, %q)", "alice", "c2")
		_, err = s.App("B").GetUserConversation(t.Context(), "alice", "c1")
		wantErr(t, err, store.ErrNotFound, "App(B).GetUserConversation(%q, %q)", "alice", "c1")
	}},
	{"ListPages", testListUserConversations},
	{"Unread", func(t *testing.T, _ store.Store) {
		for _, tc := range []struct{ max, read, want int64 }{{5, 3, 2}, {5, 5, 0}, {0, 0, 0}, {3, 5, 0}} {
			uc := store.UserConversation{MaxSeq: tc.max, ReadSeq: tc.read}
			if got := uc.Unread(); got != tc.want {
				t.Errorf("UserConversation{MaxSeq: %d, ReadSeq: %d}.Unread() = %d, want %d",
					tc.max, tc.read, got, tc.want)
			}
		}
	}},
}

func testConversationCreated(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	d1 := draft("c1", "bob", "m1", 1)
	d1.Members = []string{"bob", "alice"} // unsorted
	d2 := draft("c1", "bob", "m2", 2)
	d2.Members = []string{"bob", "mallory"} // ignored: c1 exists
	appendAll(t, a, d1)
	appendAll(t, a, d2)

	want := store.Conversation{ID: "c1", Members: dm, MaxSeq: 2, CreatedAt: at(1), UpdatedAt: at(2)}
	got, err := a.GetConversation(ctx, "c1")
	if err != nil || !same(got, want, normConversation) {
		t.Errorf("GetConversation(%q) = %+v, %v, want %+v", "c1", got, err, want)
	}
	for user, read := range map[string]int64{"alice": 0, "bob": 2} {
		want := store.UserConversation{ConvID: "c1", Members: dm, MaxSeq: 2, ReadSeq: read, FirstSeq: 1, UpdatedAt: at(2)}
		got, err := a.ListUserConversations(ctx, user, "", 10)
		if err != nil || !sameAll(got, []store.UserConversation{want}, normUserConversation) {
			t.Errorf("ListUserConversations(%q) = %+v, %v, want [%+v]", user, got, err, want)
		}
	}
	got2, err := a.ListUserConversations(ctx, "mallory", "", 10)
	if err != nil || len(got2) != 0 {
		t.Errorf("ListUserConversations(%q) = %+v, %v, want none", "mallory", got2, err)
	}

	// Created and continued within one batch.
	appendAll(t, a, draft("c2", "alice", "n1", 5), draft("c2", "bob", "n2", 6), draft("c2", "alice", "n3", 7))
	want = store.Conversation{ID: "c2", Members: dm, MaxSeq: 3, CreatedAt: at(5), UpdatedAt: at(7)}
	got, err = a.GetConversation(ctx, "c2")
	if err != nil || !same(got, want, normConversation) {
		t.Errorf("GetConversation(%q) = %+v, %v, want %+v", "c2", got, err, want)
	}
}

func testListUserConversations(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	all := []string{"c1", "c2", "c3", "c4", "c5", "c6", "c7"}
	for i, c := range []string{"c5", "c2", "c7", "c1", "c4", "c6", "c3"} { // not in id order
		members := []string{"alice", "dan"}
		if c == "c2" || c == "c4" {
			members = append(members, "bob")
		}
		d := draft(c, "alice", "m"+c, int64(i))
		d.Members = members
		appendAll(t, a, d)
	}
	for user, want := range map[string][]string{"alice": all, "bob": {"c2", "c4"}, "carol": nil} {
		checkPaging(t, fmt.Sprintf("ListUserConversations(%q)", user), want,
			func(after string, limit int) ([]string, error) {
				ucs, err := a.ListUserConversations(ctx, user, after, limit)
				return ids(ucs, func(uc store.UserConversation) string { return uc.ConvID }), err
			})
	}
}

// testConversationPrefs: a user's pin, draft and cleared history are its
// own, kept in its entry; the clear moves forward only, clamped to the max
// seq, and moves the read cursor with it.
func testConversationPrefs(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	fill(t, a, "p:alice:bob", 3)
	yes, no, draft, empty := true, false, "half a thought", ""
	set := func(p store.ConvPrefs) store.UserConversation {
		t.Helper()
		uc, err := a.SetConversationPrefs(ctx, "bob", "p:alice:bob", p)
		if err != nil {
			t.Fatalf("SetConversationPrefs(%+v): %v", p, err)
		}
		return uc
	}
	if uc := set(store.ConvPrefs{Pinned: &yes, Draft: &draft, At: at(10)}); !uc.PinnedAt.Equal(at(10)) || uc.Draft != draft || uc.ClearedSeq != 0 {
		t.Errorf("after pin and draft: %+v", uc)
	}
	if uc := set(store.ConvPrefs{Pinned: &yes, At: at(20)}); !uc.PinnedAt.Equal(at(10)) || uc.Draft != draft {
		t.Errorf("pinned again: %+v, want the first pin time and the draft kept", uc)
	}
	if uc := set(store.ConvPrefs{ClearTo: 2, At: at(21)}); uc.ClearedSeq != 2 || uc.ReadSeq != 2 || !uc.PinnedAt.Equal(at(10)) {
		t.Errorf("after clearing to 2: %+v", uc)
	}
	if uc := set(store.ConvPrefs{ClearTo: 1, At: at(22)}); uc.ClearedSeq != 2 {
		t.Errorf("clearing back to 1: cleared seq %d, want 2", uc.ClearedSeq)
	}
	if uc := set(store.ConvPrefs{ClearTo: 99, Draft: &empty, Pinned: &no, At: at(23)}); uc.ClearedSeq != 3 || uc.ReadSeq != 3 || uc.Draft != "" || !uc.PinnedAt.IsZero() {
		t.Errorf("after clearing past the end, unpinning and dropping the draft: %+v", uc)
	}
	uc, err := a.GetUserConversation(ctx, "alice", "p:alice:bob")
	if err != nil || uc.ClearedSeq != 0 || uc.Draft != "" || !uc.PinnedAt.IsZero() {
		t.Errorf("alice's entry = %+v, %v; bob's settings are his own", uc, err)
	}
	_, err = a.SetConversationPrefs(ctx, "carol", "p:alice:bob", store.ConvPrefs{Pinned: &yes, At: at(30)})
	wantErr(t, err, store.ErrNotFound, "SetConversationPrefs(carol)")
	_, err = s.App("B").SetConversationPrefs(ctx, "bob", "p:alice:bob", store.ConvPrefs{Draft: &draft, At: at(30)})
	wantErr(t, err, store.ErrNotFound, "B.SetConversationPrefs(bob)")
}
