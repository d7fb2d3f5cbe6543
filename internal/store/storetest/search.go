package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/magpie-im/magpie/internal/store"
)

var searchTests = []test{
	{"Finds", testSearchFinds},
	{"CJK", testSearchCJK},
	{"Membership", testSearchMembership},
	{"FirstSeq", testSearchFirstSeq},
	{"ClearedHistory", testSearchCleared},
	{"Recalled", testSearchRecalled},
	{"Edited", testSearchEdited},
	{"Filters", testSearchFilters},
	{"Pagination", testSearchPagination},
	{"OtherApp", testSearchOtherApp},
	{"HostileQueries", testSearchHostile},
	{"DeleteUser", testSearchDeleteUser},
}

// say appends one message of sender to conv (members alice and bob unless
// the conversation exists) and returns it.
func say(t *testing.T, a store.AppStore, conv, sender, typ, body string, sec int64) store.Message {
	t.Helper()
	d := store.Draft{ConvID: conv, Members: dm, SenderID: sender, ClientMsgID: fmt.Sprintf("%s-%d-%s", conv, sec, sender),
		Type: typ, Body: []byte(body), CreatedAt: at(sec)}
	switch kind, rest, _ := strings.Cut(conv, ":"); kind {
	case "g":
		d.Members = []string{"alice", "bob", "carol"}
	case "p":
		d.Members = strings.Split(rest, ":")
	case "s":
		d.Members = []string{rest}
	}
	return appendAll(t, a, d)[0].Message
}

// search runs a search and returns the found messages as "conv/seq".
func search(t *testing.T, a store.AppStore, q store.MessageSearch, query string) []string {
	t.Helper()
	terms, err := store.ParseSearchQuery(query)
	if err != nil {
		t.Fatalf("ParseSearchQuery(%q): %v", query, err)
	}
	q.Terms = terms
	if q.Limit == 0 {
		q.Limit = 100
	}
	ms, err := a.SearchMessages(t.Context(), q)
	if err != nil {
		t.Fatalf("SearchMessages(%+v, %q): %v", q, query, err)
	}
	return keys(ms)
}

func keys(ms []store.Message) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%s/%d", m.ConvID, m.Seq))
	}
	return out
}

func wantFound(t *testing.T, a store.AppStore, q store.MessageSearch, query string, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if got := search(t, a, q, query); !slices.Equal(got, want) {
		t.Errorf("search %q as %s (conv %q) = %v, want %v", query, q.UserID, q.ConvID, got, want)
	}
}

func testSearchFinds(t *testing.T, s store.Store) {
	a := s.App("A")
	say(t, a, "c1", "alice", "text", "Hello World, let's grab a Café au lait", 1)                                         // c1/1
	say(t, a, "c1", "bob", "text", "the e-mail is in my INBOX", 2)                                                        // c1/2
	say(t, a, "c1", "alice", "file", `{"url":"https://x.test/f","name":"Quarterly_Report.pdf","size":1,"mime":"a/b"}`, 3) // c1/3
	say(t, a, "c1", "bob", "location", `{"latitude":1,"longitude":2,"name":"Łódź Fabryczna","address":"Plac Sałacińskiego 1"}`, 4)
	say(t, a, "c1", "alice", "custom", `{"text":"poll: pizza tonight?","options":["yes","no"]}`, 5)
	say(t, a, "c1", "bob", "image", `{"url":"https://x.test/hello.png","width":1,"height":1,"size":1,"mime":"image/png"}`, 6)
	say(t, a, "c1", "alice", "custom", `{"kind":"hello"}`, 7)
	say(t, a, "c1", "bob", "text", "ＦＵＬＬＷＩＤＴＨ ﬁne résumé", 8)

	alice := store.MessageSearch{UserID: "alice"}
	wantFound(t, a, alice, "hello", "c1/1")       // not the image's URL, not a custom field other than text
	wantFound(t, a, alice, "HEL", "c1/1")         // a prefix, any case
	wantFound(t, a, alice, "cafe", "c1/1")        // diacritics ignored
	wantFound(t, a, alice, "café AU", "c1/1")     // every term
	wantFound(t, a, alice, "hello pizza")         // ... must match
	wantFound(t, a, alice, "world hello", "c1/1") // in any order
	wantFound(t, a, alice, "e-mail", "c1/2")      // a term with punctuation is a phrase
	wantFound(t, a, alice, "e mail", "c1/2")      // two terms
	wantFound(t, a, alice, "mail e-", "c1/2")     // "e" alone is dropped
	wantFound(t, a, alice, "quarterly report", "c1/3")
	wantFound(t, a, alice, "lodz", "c1/4")          // ł folds to l, ó to o
	wantFound(t, a, alice, "salacinskiego", "c1/4") // the address
	wantFound(t, a, alice, "pizza", "c1/5")         // a custom message's text
	wantFound(t, a, alice, "fullwidth fine resume", "c1/8")
	wantFound(t, a, alice, "ello") // no infix match
	wantFound(t, a, alice, "let", "c1/1")
	wantFound(t, a, alice, "lets") // "let's" is let + s
	wantFound(t, a, alice, "let's", "c1/1")
}

func testSearchCJK(t *testing.T, s store.Store) {
	a := s.App("A")
	say(t, a, "c1", "alice", "text", "我们今天去北京吃烤鸭", 1)       // c1/1
	say(t, a, "c1", "bob", "text", "明天见！iPhone手机坏了", 2)     // c1/2
	say(t, a, "c1", "alice", "text", "東京タワーでコーヒーを飲みました", 3) // c1/3
	say(t, a, "c1", "bob", "text", "한국어 검색이 됩니다", 4)        // c1/4
	say(t, a, "c1", "alice", "text", "北", 5)                // c1/5

	alice := store.MessageSearch{UserID: "alice"}
	wantFound(t, a, alice, "北京", "c1/1")
	wantFound(t, a, alice, "今天去北京", "c1/1")
	wantFound(t, a, alice, "烤鸭", "c1/1") // the end of a run
	wantFound(t, a, alice, "我们", "c1/1") // the start
	wantFound(t, a, alice, "京北")         // not these characters in another order
	wantFound(t, a, alice, "北", "c1/5", "c1/1")
	wantFound(t, a, alice, "鸭", "c1/1") // a single character at the end of a run
	wantFound(t, a, alice, "手机", "c1/2")
	wantFound(t, a, alice, "iphone手机", "c1/2")
	wantFound(t, a, alice, "iphone", "c1/2")
	wantFound(t, a, alice, "明天见", "c1/2")
	wantFound(t, a, alice, "コーヒー", "c1/3")
	wantFound(t, a, alice, "東京", "c1/3")
	wantFound(t, a, alice, "タワー", "c1/3")
	wantFound(t, a, alice, "검색", "c1/4")
	wantFound(t, a, alice, "북경")
	wantFound(t, a, alice, "北京 手机")
}

func testSearchMembership(t *testing.T, s store.Store) {
	a := s.App("A")
	must(t, a.CreateGroup(t.Context(), newGroup("team", "carol"), []store.GroupMember{
		member("carol", store.GroupRoleOwner, 1), member("alice", store.GroupRoleMember, 1), member("bob", store.GroupRoleMember, 1),
	}), "CreateGroup(team)")
	say(t, a, "p:alice:bob", "alice", "text", "secret plan", 1)
	say(t, a, "p:bob:carol", "bob", "text", "secret party", 2)
	say(t, a, "g:team", "carol", "text", "secret team", 3)
	say(t, a, "s:alice", "", "text", "secret system notice", 4)

	wantFound(t, a, store.MessageSearch{UserID: "alice"}, "secret", "s:alice/1", "g:team/1", "p:alice:bob/1")
	wantFound(t, a, store.MessageSearch{UserID: "bob"}, "secret", "g:team/1", "p:bob:carol/1", "p:alice:bob/1")
	wantFound(t, a, store.MessageSearch{UserID: "carol"}, "secret", "g:team/1", "p:bob:carol/1")
	wantFound(t, a, store.MessageSearch{UserID: "dave"}, "secret")
	wantFound(t, a, store.MessageSearch{UserID: "alice", ConvID: "p:alice:bob"}, "secret", "p:alice:bob/1")
	// A conversation the user is not in, or that does not exist.
	wantFound(t, a, store.MessageSearch{UserID: "alice", ConvID: "p:bob:carol"}, "secret")
	wantFound(t, a, store.MessageSearch{UserID: "alice", ConvID: "p:x:y"}, "secret")
}

func testSearchFirstSeq(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	for _, u := range dm {
		must(t, a.CreateUser(ctx, newUser(u)), "CreateUser(%s)", u)
	}
	say(t, a, "c1", "bob", "text", "before alice went away", 1)
	say(t, a, "c1", "alice", "text", "alice before", 2)
	must(t, a.DeleteUser(ctx, "alice", store.UserDeletion{At: at(10)}), "DeleteUser(alice)")
	must(t, a.CreateUser(ctx, newUser("alice")), "CreateUser(alice again)")
	say(t, a, "c1", "bob", "text", "before and after", 11) // c1/3, the new alice's first

	wantFound(t, a, store.MessageSearch{UserID: "alice"}, "before", "c1/3")
	wantFound(t, a, store.MessageSearch{UserID: "bob"}, "before", "c1/3", "c1/2", "c1/1")
}

func testSearchCleared(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	say(t, a, "c1", "alice", "text", "note one", 1)
	say(t, a, "c1", "bob", "text", "note two", 2)
	say(t, a, "c1", "bob", "text", "note three", 3)
	if _, err := a.SetConversationPrefs(ctx, "alice", "c1", store.ConvPrefs{ClearTo: 2, At: at(4)}); err != nil {
		t.Fatal(err)
	}
	wantFound(t, a, store.MessageSearch{UserID: "alice"}, "note", "c1/3")
	wantFound(t, a, store.MessageSearch{UserID: "alice", ConvID: "c1"}, "note", "c1/3")
	wantFound(t, a, store.MessageSearch{UserID: "bob"}, "note", "c1/3", "c1/2", "c1/1")
}

func testSearchRecalled(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	say(t, a, "c1", "alice", "text", "oops wrong chat", 1)
	say(t, a, "c1", "alice", "text", "oops again", 2)
	if _, err := a.RecallMessage(ctx, "c1", 1, at(3)); err != nil {
		t.Fatal(err)
	}
	wantFound(t, a, store.MessageSearch{UserID: "bob"}, "oops", "c1/2")
	wantFound(t, a, store.MessageSearch{UserID: "bob"}, "wrong")
	// A recalled message cannot be edited back into the index.
	if _, err := a.EditMessage(ctx, "c1", 1, []byte("oops edited"), at(4)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("EditMessage(recalled) = %v, want ErrConflict", err)
	}
	wantFound(t, a, store.MessageSearch{UserID: "bob"}, "edited")
}

func testSearchEdited(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	say(t, a, "c1", "alice", "text", "meet at the station", 1)
	say(t, a, "c1", "alice", "custom", `{"text":"vote now"}`, 2)
	if _, err := a.EditMessage(ctx, "c1", 1, []byte("meet at the airport"), at(3)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.EditMessage(ctx, "c1", 2, []byte(`{"choice":1}`), at(3)); err != nil {
		t.Fatal(err)
	}
	bob := store.MessageSearch{UserID: "bob"}
	wantFound(t, a, bob, "airport", "c1/1")
	wantFound(t, a, bob, "station")
	wantFound(t, a, bob, "meet", "c1/1")
	wantFound(t, a, bob, "vote")
	// Edited twice: the last text only.
	if _, err := a.EditMessage(ctx, "c1", 1, []byte("meet at the harbour"), at(4)); err != nil {
		t.Fatal(err)
	}
	wantFound(t, a, bob, "airport")
	wantFound(t, a, bob, "harbour", "c1/1")
	if _, err := a.EditMessage(ctx, "c1", 2, []byte(`{"text":"vote again"}`), at(5)); err != nil {
		t.Fatal(err)
	}
	wantFound(t, a, bob, "vote", "c1/2")
}

func testSearchFilters(t *testing.T, s store.Store) {
	a := s.App("A")
	say(t, a, "c1", "alice", "text", "report draft", 10)                                                       // c1/1
	say(t, a, "c1", "bob", "text", "report final", 20)                                                         // c1/2
	say(t, a, "c1", "bob", "file", `{"url":"https://x.test/r","name":"report.pdf","size":1,"mime":"a/b"}`, 30) // c1/3
	say(t, a, "c2", "alice", "text", "report elsewhere", 40)                                                   // c2/1

	bob := store.MessageSearch{UserID: "bob"}
	wantFound(t, a, bob, "report", "c2/1", "c1/3", "c1/2", "c1/1")
	f := bob
	f.SenderID = "bob"
	wantFound(t, a, f, "report", "c1/3", "c1/2")
	f = bob
	f.Types = []string{"file"}
	wantFound(t, a, f, "report", "c1/3")
	f.Types = []string{"file", "text"}
	wantFound(t, a, f, "report", "c2/1", "c1/3", "c1/2", "c1/1")
	f = bob
	f.From, f.To = at(20), at(30)
	wantFound(t, a, f, "report", "c1/3", "c1/2")
	f = bob
	f.From = at(25)
	wantFound(t, a, f, "report", "c2/1", "c1/3")
	f = bob
	f.To = at(10)
	wantFound(t, a, f, "report", "c1/1")
	f = bob
	f.ConvID, f.SenderID = "c1", "alice"
	wantFound(t, a, f, "report", "c1/1")
}

func testSearchPagination(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	// Ten matches in three conversations, some at the same time, and
	// messages that do not match in between.
	var want []store.Message
	for i := range 10 {
		conv := []string{"c1", "c2", "c3"}[i%3]
		want = append(want, say(t, a, conv, "alice", "text", fmt.Sprintf("ticket %d", i), int64(i/2)))
		say(t, a, conv, "bob", "text", "noise", int64(i/2))
	}
	slices.SortFunc(want, func(x, y store.Message) int {
		if x.Key().Before(y.Key()) {
			return -1
		}
		return 1
	})
	terms, _ := store.ParseSearchQuery("ticket")
	for _, limit := range []int{1, 3, 4, 10} {
		// Every match as the walk starts (the late ones of the walks
		// before included).
		all, err := a.SearchMessages(ctx, store.MessageSearch{UserID: "bob", Terms: terms, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if limit == 1 && !sameAll(all, want, normMessage) {
			t.Errorf("search = %v, want %v", keys(all), keys(want))
		}
		var got []store.Message
		var after *store.SearchKey
		for page := 0; page < 20; page++ {
			ms, err := a.SearchMessages(ctx, store.MessageSearch{UserID: "bob", Terms: terms, After: after, Limit: limit})
			if err != nil {
				t.Fatalf("SearchMessages(limit %d, page %d): %v", limit, page, err)
			}
			got = append(got, ms...)
			if len(ms) < limit {
				break
			}
			k := ms[len(ms)-1].Key()
			after = &k
			// New matches arrive between pages: newer than every page
			// walked, they never show up in this walk.
			say(t, a, "c1", "alice", "text", "ticket late", int64(100+page))
		}
		if !sameAll(got, all, normMessage) {
			t.Errorf("pages of %d = %v, want %v", limit, keys(got), keys(all))
		}
	}
}

func testSearchOtherApp(t *testing.T, s store.Store) {
	a, b := s.App("A"), s.App("B")
	say(t, a, "c1", "alice", "text", "app a confidential", 1)
	say(t, b, "c1", "alice", "text", "app b public", 1)
	wantFound(t, a, store.MessageSearch{UserID: "alice"}, "confidential", "c1/1")
	wantFound(t, b, store.MessageSearch{UserID: "alice"}, "confidential")
	wantFound(t, b, store.MessageSearch{UserID: "alice", ConvID: "c1"}, "confidential")
	wantFound(t, b, store.MessageSearch{UserID: "alice", ConvID: "c1"}, "app", "c1/1")
	if ms, _ := b.SearchMessages(t.Context(), store.MessageSearch{UserID: "alice", Terms: []store.SearchTerm{{"app"}}, Limit: 10}); len(ms) != 1 || string(ms[0].Body) != "app b public" {
		t.Errorf("B's search for app = %+v, want B's message only", ms)
	}
}

// testSearchHostile: what would be syntax to FTS5, SQL or a regex is
// punctuation; a query that folds to nothing or is too long is refused;
// nothing ever fails.
func testSearchHostile(t *testing.T, s store.Store) {
	a := s.App("A")
	say(t, a, "c1", "alice", "text", `he said "near" and OR-ed it: a*b (x) NOT ^start {col} [1] $end \ back`, 1)
	bob := store.MessageSearch{UserID: "bob"}
	for _, q := range []string{`"near"`, `NEAR( said )`, `near`, `OR-ed`, `or`, `-ed`, `NOT`, `a*b`, `*start`,
		`^start`, `{col}`, `col:`, `it:a`, `$end`, `\back`, `(said`, `said"`, `said AND`, `"said" "it"`, `said -it`} {
		got := search(t, a, bob, q)
		if !slices.Equal(got, []string{"c1/1"}) {
			t.Errorf("search %q = %v, want c1/1", q, got)
		}
	}
	for _, q := range []string{`'; DROP TABLE messages; --`, `(?i)xy`, `zzz" OR "a`, `scope:k00`, `x NEAR/2 y`} {
		search(t, a, bob, q) // no match, no error
	}
	for _, q := range []string{"", "   ", `"*"`, `* - ^ : ( )`, `.*`, "a", "a b c", "🙂🙂"} {
		if _, err := store.ParseSearchQuery(q); !errors.Is(err, store.ErrSearchEmpty) {
			t.Errorf("ParseSearchQuery(%q) = %v, want ErrSearchEmpty", q, err)
		}
	}
	if _, err := store.ParseSearchQuery(strings.Repeat("x", store.MaxSearchQueryBytes+1)); !errors.Is(err, store.ErrSearchTooLong) {
		t.Errorf("ParseSearchQuery(too long) = %v, want ErrSearchTooLong", err)
	}
	if _, err := store.ParseSearchQuery(strings.Repeat("ab ", store.MaxSearchTerms+1)); !errors.Is(err, store.ErrSearchTooLong) {
		t.Errorf("ParseSearchQuery(too many terms) = %v, want ErrSearchTooLong", err)
	}
	if _, err := store.ParseSearchQuery("a\xffb"); !errors.Is(err, store.ErrSearchInvalid) {
		t.Errorf("ParseSearchQuery(bad UTF-8) = %v, want ErrSearchInvalid", err)
	}
	// A long query within the limits: one long word.
	search(t, a, bob, strings.Repeat("x", store.MaxSearchQueryBytes))
	search(t, a, bob, strings.Repeat("北", store.MaxSearchQueryBytes/3))
}

func testSearchDeleteUser(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	for _, u := range []string{"alice", "bob", "carol"} {
		must(t, a.CreateUser(ctx, newUser(u)), "CreateUser(%s)", u)
	}
	say(t, a, "p:alice:bob", "alice", "text", "gdpr alice to bob", 1)
	say(t, a, "p:alice:bob", "bob", "text", "gdpr bob to alice", 2)
	say(t, a, "p:alice:carol", "alice", "text", "gdpr alice to carol", 3)
	say(t, a, "s:alice", "", "text", "gdpr system notice", 4)
	say(t, a, "s:bob", "", "text", "gdpr system notice", 5)

	must(t, a.DeleteUser(ctx, "carol", store.UserDeletion{At: at(6)}), "DeleteUser(carol)")
	// Without erasure the history stays searchable for the others.
	wantFound(t, a, store.MessageSearch{UserID: "alice"}, "gdpr", "s:alice/1", "p:alice:carol/1", "p:alice:bob/2", "p:alice:bob/1")
	wantFound(t, a, store.MessageSearch{UserID: "carol"}, "gdpr")

	must(t, a.DeleteUser(ctx, "alice", store.UserDeletion{At: at(7), EraseMessages: true}), "DeleteUser(alice, erase)")
	wantFound(t, a, store.MessageSearch{UserID: "bob"}, "gdpr", "s:bob/1", "p:alice:bob/2")
	wantFound(t, a, store.MessageSearch{UserID: "bob"}, "carol")
	// A new alice finds nothing of the old one: not her system
	// conversation, not the erased messages.
	must(t, a.CreateUser(ctx, newUser("alice")), "CreateUser(alice again)")
	say(t, a, "s:alice", "", "text", "gdpr welcome back", 8)
	wantFound(t, a, store.MessageSearch{UserID: "alice"}, "gdpr", "s:alice/1")
	wantFound(t, a, store.MessageSearch{UserID: "alice"}, "notice")
}
