package storetest

import (
	"slices"
	"testing"

	"github.com/magpie-im/magpie/internal/store"
)

var clientIDTests = []test{
	{"Stored", testClientMsgIDsStored},
}

// testClientMsgIDsStored: the batched question of GetMessageByClientID
// gives its answers, key by key, in the app only; a deleted sender's client
// ids are forgotten.
func testClientMsgIDsStored(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	must(t, a.CreateUser(ctx, newUser("alice")), "CreateUser")
	appendAll(t, a, draft("p:alice:bob", "alice", "c1", 1), draft("p:alice:carol", "alice", "c2", 2),
		store.Draft{ConvID: "p:alice:bob", Members: dm, SenderID: "bob", ClientMsgID: "c1", Type: "text", Body: []byte("bob's"), CreatedAt: at(3)})
	keys := []store.ClientMsgKey{
		{SenderID: "alice", ClientMsgID: "c1"}, {SenderID: "alice", ClientMsgID: "nope"}, {SenderID: "bob", ClientMsgID: "c1"},
		{SenderID: "carol", ClientMsgID: "c1"}, {SenderID: "alice", ClientMsgID: ""}, {SenderID: "alice", ClientMsgID: "c2"},
		{SenderID: "alice", ClientMsgID: "c1"}, // asked twice
	}
	want := []bool{true, false, true, false, false, true, true}
	check := func(st store.AppStore, keys []store.ClientMsgKey, want []bool, what string) {
		t.Helper()
		got, err := st.ClientMsgIDsStored(ctx, keys)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: ClientMsgIDsStored(%v) = %v, %v, want %v", what, keys, got, err, want)
		}
	}
	check(a, keys, want, "A")
	check(a, nil, []bool{}, "A, no keys")
	check(s.App("B"), keys, make([]bool, len(keys)), "B")
	// Many keys at once, most of them new sends.
	many := make([]store.ClientMsgKey, 0, 600)
	wantMany := make([]bool, 0, 600)
	for i := range 600 {
		k := store.ClientMsgKey{SenderID: "alice", ClientMsgID: "n" + string(rune('a'+i%26)) + string(rune('a'+i/26))}
		if i == 300 {
			k.ClientMsgID = "c2"
		}
		many, wantMany = append(many, k), append(wantMany, i == 300)
	}
	check(a, many, wantMany, "A, 600 keys")
	must(t, a.DeleteUser(ctx, "alice", store.UserDeletion{At: at(4)}), "DeleteUser")
	check(a, keys, []bool{false, false, true, false, false, false, false}, "A, alice deleted")
}
