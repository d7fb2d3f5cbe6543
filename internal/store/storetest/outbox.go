package storetest

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/magpie-im/magpie/internal/store"
)

var outboxTests = []test{
	{"AddList", testOutboxAddList},
	{"AddTwice", testOutboxAddTwice},
	{"UnknownUser", testOutboxUnknownUser},
	{"Pages", testOutboxPages},
	{"DeleteUser", testOutboxDeleteUser},
	{"Expire", testOutboxExpire},
	{"ConcurrentAdds", testOutboxConcurrentAdds},
}

// outboxEntry returns an entry of user for seq of c1, created at second
// created.
func outboxEntry(id, user string, seq, created int64) store.OutboxEntry {
	return store.OutboxEntry{
		ID: id, UserID: user, ConvID: "c1", Seq: seq, SenderID: "alice",
		Type: "text", Preview: fmt.Sprintf("message %d ✓", seq), CreatedAt: at(created),
	}
}

func normOutbox(x store.OutboxEntry) store.OutboxEntry {
	x.CreatedAt = normTime(x.CreatedAt)
	x.Payload = nilIfEmpty(x.Payload)
	return x
}

// createUsers creates users in a.
func createUsers(t *testing.T, a store.AppStore, users ...string) {
	t.Helper()
	for _, u := range users {
		must(t, a.CreateUser(t.Context(), newUser(u)), "%s.CreateUser(%s)", a.AppID(), u)
	}
}

// addOutbox adds entries that must be new.
func addOutbox(t *testing.T, a store.AppStore, es ...store.OutboxEntry) {
	t.Helper()
	for _, e := range es {
		added, err := a.AddOutbox(t.Context(), e)
		if err != nil || !added {
			t.Fatalf("%s.AddOutbox(%s) = %v, %v, want true, nil", a.AppID(), e.ID, added, err)
		}
	}
}

// listOutbox returns every entry of user (all users if empty), in one page.
func listOutbox(t *testing.T, a store.AppStore, user string) []store.OutboxEntry {
	t.Helper()
	es, err := a.ListOutbox(t.Context(), user, "", 1000)
	must(t, err, "%s.ListOutbox(%q)", a.AppID(), user)
	return es
}

func outboxIDs(es []store.OutboxEntry) []string {
	return ids(es, func(e store.OutboxEntry) string { return e.ID })
}

func testOutboxAddList(t *testing.T, s store.Store) {
	a := s.App("A")
	createUsers(t, a, "bob")
	full := outboxEntry("j1", "bob", 1, 10)
	system := store.OutboxEntry{ID: "j2", UserID: "bob", ConvID: "s:bob", Seq: 4, Type: "text", CreatedAt: at(11)}
	addOutbox(t, a, full, system)
	got := listOutbox(t, a, "bob")
	if want := []store.OutboxEntry{full, system}; !sameAll(got, want, normOutbox) {
		t.Errorf("ListOutbox(bob) = %+v, want %+v", got, want)
	}
	if es, err := a.ListOutbox(t.Context(), "bob", "", 0); err != nil || len(es) != 0 {
		t.Errorf("ListOutbox(limit 0) = %+v, %v, want none", es, err)
	}
}

// testOutboxAddTwice checks idempotency: an id added again stores nothing,
// whatever the second entry says, and reports false without an error.
func testOutboxAddTwice(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	createUsers(t, a, "bob", "carol")
	first := outboxEntry("j1", "bob", 1, 10)
	addOutbox(t, a, first)
	again := outboxEntry("j1", "carol", 2, 20)
	again.Preview = "changed"
	for range 2 {
		if added, err := a.AddOutbox(ctx, again); err != nil || added {
			t.Fatalf("AddOutbox(j1 again) = %v, %v, want false, nil", added, err)
		}
	}
	if got := listOutbox(t, a, ""); !sameAll(got, []store.OutboxEntry{first}, normOutbox) {
		t.Errorf("ListOutbox after adding j1 thrice = %+v, want only the first", got)
	}
	if got := listOutbox(t, a, "carol"); len(got) != 0 {
		t.Errorf("ListOutbox(carol) = %+v, want none", got)
	}
}

// testOutboxUnknownUser checks that an entry is recorded only for a user
// of the app.
func testOutboxUnknownUser(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	createUsers(t, a, "bob")
	added, err := a.AddOutbox(ctx, outboxEntry("j1", "nobody", 1, 10))
	wantErr(t, err, store.ErrNotFound, "AddOutbox(user nobody)")
	if added {
		t.Errorf("AddOutbox(user nobody) reported the entry added")
	}
	if got := listOutbox(t, a, ""); len(got) != 0 {
		t.Errorf("ListOutbox after adding for an unknown user = %+v, want none", got)
	}
	// The id is free: the same id for an existing user is recorded.
	addOutbox(t, a, outboxEntry("j1", "bob", 1, 10))
}

func testOutboxPages(t *testing.T, s store.Store) {
	a := s.App("A")
	createUsers(t, a, "bob", "carol")
	var all, bobs []string
	for i, id := range []string{"j4", "j2", "j7", "j1", "j5", "j3", "j6"} {
		user := "bob"
		if i%3 == 2 {
			user = "carol"
		} else {
			bobs = append(bobs, id)
		}
		all = append(all, id)
		addOutbox(t, a, outboxEntry(id, user, int64(i+1), int64(100-i)))
	}
	slices.Sort(all)
	slices.Sort(bobs)
	list := func(user string) func(after string, limit int) ([]string, error) {
		return func(after string, limit int) ([]string, error) {
			es, err := a.ListOutbox(t.Context(), user, after, limit)
			for _, e := range es {
				if user != "" && e.UserID != user {
					t.Errorf("ListOutbox(%q) returned %s of %s", user, e.ID, e.UserID)
				}
			}
			return outboxIDs(es), err
		}
	}
	checkPaging(t, "ListOutbox(all)", all, list(""))
	checkPaging(t, "ListOutbox(bob)", bobs, list("bob"))
	if got := listOutbox(t, a, "dave"); len(got) != 0 {
		t.Errorf("ListOutbox(dave) = %+v, want none", got)
	}
}

// testOutboxDeleteUser checks that deleting a user deletes its entries
// and only those, and that the user's id used again starts empty.
func testOutboxDeleteUser(t *testing.T, s store.Store) {
	a, b, ctx := s.App("A"), s.App("B"), t.Context()
	createUsers(t, a, "bob", "carol")
	createUsers(t, b, "bob")
	addOutbox(t, a, outboxEntry("j1", "bob", 1, 10), outboxEntry("j2", "carol", 2, 10), outboxEntry("j3", "bob", 3, 10))
	addOutbox(t, b, outboxEntry("j1", "bob", 1, 10))
	must(t, a.DeleteUser(ctx, "bob", store.UserDeletion{At: at(20)}), "A.DeleteUser(bob)")
	if got := outboxIDs(listOutbox(t, a, "")); !slices.Equal(got, []string{"j2"}) {
		t.Errorf("A.ListOutbox after deleting bob = %q, want [j2]", got)
	}
	if got := outboxIDs(listOutbox(t, b, "bob")); !slices.Equal(got, []string{"j1"}) {
		t.Errorf("B.ListOutbox(bob) after A deleted its bob = %q, want [j1]", got)
	}
	_, err := a.AddOutbox(ctx, outboxEntry("j4", "bob", 4, 30))
	wantErr(t, err, store.ErrNotFound, "A.AddOutbox(deleted bob)")

	createUsers(t, a, "bob")
	if got := listOutbox(t, a, "bob"); len(got) != 0 {
		t.Errorf("ListOutbox(new bob) = %+v, want none", got)
	}
	addOutbox(t, a, outboxEntry("j1", "bob", 1, 30)) // the id is free again
}

// testOutboxExpire checks the sweep: entries created before the given time
// go, in every app; the others stay.
func testOutboxExpire(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, app := range []string{"A", "B"} {
		a := s.App(app)
		createUsers(t, a, "bob")
		addOutbox(t, a, outboxEntry("old", "bob", 1, 10), outboxEntry("edge", "bob", 2, 100), outboxEntry("new", "bob", 3, 500))
	}
	n, err := s.DeleteOutboxBefore(ctx, at(100))
	if err != nil || n != 2 {
		t.Fatalf("DeleteOutboxBefore = %d, %v, want 2, nil", n, err)
	}
	for _, app := range []string{"A", "B"} {
		if got := outboxIDs(listOutbox(t, s.App(app), "")); !slices.Equal(got, []string{"edge", "new"}) {
			t.Errorf("%s.ListOutbox after the sweep = %q, want [edge new]", app, got)
		}
	}
	// Swept, an id can be recorded again.
	addOutbox(t, s.App("A"), outboxEntry("old", "bob", 1, 600))
	if n, err := s.DeleteOutboxBefore(ctx, at(0)); err != nil || n != 0 {
		t.Errorf("DeleteOutboxBefore(nothing old) = %d, %v, want 0, nil", n, err)
	}
}

// testOutboxConcurrentAdds has goroutines add the same ids at once, as
// workers handling one job twice would: each id is reported added exactly
// once.
func testOutboxConcurrentAdds(t *testing.T, s store.Store) {
	const workers, jobs = 6, 10
	a := s.App("A")
	createUsers(t, a, "bob")
	var added [jobs]atomic.Int32
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				ok, err := a.AddOutbox(t.Context(), outboxEntry(fmt.Sprintf("j%02d", j), "bob", int64(j+1), 10))
				if err != nil {
					t.Errorf("AddOutbox(j%02d): %v", j, err)
					return
				}
				if ok {
					added[j].Add(1)
				}
			}
		})
	}
	wg.Wait()
	for j := range added {
		if n := added[j].Load(); n != 1 {
			t.Errorf("j%02d reported added %d times, want once", j, n)
		}
	}
	if got := listOutbox(t, a, "bob"); len(got) != jobs {
		t.Errorf("ListOutbox(bob) = %d entries, want %d", len(got), jobs)
	}
}

// testTenancyOutbox proves that app B neither sees nor dedups against app
// A's outbox, even under the same ids and user ids.
func testTenancyOutbox(t *testing.T, s store.Store) {
	a, b, ctx := s.App("A"), s.App("B"), t.Context()
	createUsers(t, a, "bob", "carol")
	ea := outboxEntry("j1", "bob", 1, 10)
	addOutbox(t, a, ea, outboxEntry("j2", "carol", 2, 10))

	if got := listOutbox(t, b, ""); len(got) != 0 {
		t.Errorf("B.ListOutbox = %+v, want none", got)
	}
	if got := listOutbox(t, b, "bob"); len(got) != 0 {
		t.Errorf("B.ListOutbox(bob) = %+v, want none", got)
	}
	// B has no bob: A's bob does not count.
	_, err := b.AddOutbox(ctx, outboxEntry("j9", "bob", 1, 10))
	wantErr(t, err, store.ErrNotFound, "B.AddOutbox(bob, who is only in A)")

	// The same id in B is B's own entry, not a duplicate of A's.
	createUsers(t, b, "bob")
	eb := outboxEntry("j1", "bob", 7, 20)
	eb.Preview = "B's"
	addOutbox(t, b, eb)
	if got := listOutbox(t, b, ""); !sameAll(got, []store.OutboxEntry{eb}, normOutbox) {
		t.Errorf("B.ListOutbox = %+v, want %+v", got, eb)
	}
	must(t, b.DeleteUser(ctx, "bob", store.UserDeletion{At: at(30)}), "B.DeleteUser(bob)")

	got := listOutbox(t, a, "bob")
	if !sameAll(got, []store.OutboxEntry{ea}, normOutbox) {
		t.Errorf("A.ListOutbox(bob) after B's writes = %+v, want %+v", got, ea)
	}
}
