package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// The absorber (absorber.go): the messages file has a writer of its own.

// holdMessagesLock begins a transaction on the absorber's connection that
// holds the messages file's write lock until the returned func is called
// (or the test ends).
func holdMessagesLock(t *testing.T, s *Store) (release func()) {
	t.Helper()
	s.abs.mu.Lock()
	tx, err := s.abs.db.BeginTx(t.Context(), nil)
	if err != nil {
		s.abs.mu.Unlock()
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(t.Context(), lockMessagesSQL); err != nil {
		tx.Rollback()
		s.abs.mu.Unlock()
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			tx.Rollback()
			s.abs.mu.Unlock()
		})
	}
	t.Cleanup(release) // runs before the Store's Close, registered earlier
	return release
}

// TestAppendsDoNotWaitForTheMessagesFile: while the messages file is
// locked for writing (an absorb running), appends and acks commit; a
// write that changes messages waits and then succeeds.
func TestAppendsDoNotWaitForTheMessagesFile(t *testing.T) {
	s := openLogged(t)
	a := s.App("A")
	cacheUsers(t, a, "ann", "bob")
	appendOne(t, a, "p:ann:bob", "ann", "bob", "a")
	if err := s.absorb(); err != nil {
		t.Fatal(err)
	}
	release := holdMessagesLock(t, s)
	done := make(chan error, 1)
	go func() {
		// b is new; a is a resend found in messages: both read the
		// messages file, neither writes it.
		out, err := a.AppendMessages(context.Background(), []store.Draft{
			{ConvID: "p:ann:bob", Members: []string{"bob"}, SenderID: "ann", ClientMsgID: "b", Type: "text",
				Body: []byte(`{"text":"b"}`), CreatedAt: time.UnixMilli(1)},
			{ConvID: "p:ann:bob", Members: []string{"bob"}, SenderID: "ann", ClientMsgID: "a", Type: "text",
				Body: []byte(`{"text":"a"}`), CreatedAt: time.UnixMilli(1)},
		})
		if err == nil && (out[0].Seq != 2 || out[0].Duplicate || !out[1].Duplicate || out[1].Seq != 1) {
			t.Errorf("appends beside the absorber: %+v", out)
		}
		if err == nil {
			_, err = a.AckDelivered(context.Background(), []store.DeliveryAck{{UserID: "bob", DeviceID: "d1", ConvID: "p:ann:bob", Seq: 2}})
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		release()
		t.Fatal("an append waited for the messages file's write lock")
	}

	recalled := make(chan error, 1)
	go func() {
		_, err := a.RecallMessage(context.Background(), "p:ann:bob", 2, time.UnixMilli(2))
		recalled <- err
	}()
	release()
	if err := <-recalled; err != nil {
		t.Fatalf("a recall after the lock was released: %v", err)
	}
	if m, err := a.GetMessage(t.Context(), "p:ann:bob", 2); err != nil || m.RecalledAt.IsZero() {
		t.Fatalf("GetMessage(2) = %+v, %v; want it recalled", m, err)
	}
}

// TestASettleSeesAnotherStoresRows: a read on one Store right after
// another Store on the same files logged a message finds it, even when an
// absorb of the first Store that began before that message's commit is
// still running and, once done, counts all the first Store's own rows.
func TestASettleSeesAnotherStoresRows(t *testing.T) {
	s1 := openLogged(t)
	s2 := openAgain(t, s1, withAbsorbAge(time.Hour), WithIndexInterval(time.Hour))
	a1, a2 := s1.App("A"), s2.App("A")
	cacheUsers(t, a1, "ann", "bob")
	const conv = "p:ann:bob"
	appendOne(t, a1, conv, "ann", "bob", "m1")

	// s1's absorb runs: its snapshot holds m1 alone, and it has not yet
	// recorded what it covered when s2 logs m2 and the read begins.
	s1.abs.mu.Lock()
	var unlock sync.Once
	t.Cleanup(func() { unlock.Do(s1.abs.mu.Unlock) })
	hiBefore, absorbedBefore := s1.abs.hi.Load(), s1.abs.absorbed.Load()
	if err := s1.absorbLocked(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	hi, absorbed := s1.abs.hi.Load(), s1.abs.absorbed.Load()
	s1.abs.hi.Store(hiBefore)
	s1.abs.absorbed.Store(absorbedBefore)
	appendOne(t, a2, conv, "bob", "ann", "m2")

	waiting := make(chan struct{})
	var once sync.Once
	s1.abs.waitHook = func() { once.Do(func() { close(waiting) }) }
	type listed struct {
		msgs []store.Message
		err  error
	}
	got := make(chan listed, 1)
	go func() {
		msgs, err := a1.ListMessages(context.Background(), conv, store.Range{From: 1, Limit: 10})
		got <- listed{msgs, err}
	}()
	select {
	case <-waiting:
	case r := <-got: // it did not wait for the running absorb
		t.Fatalf("ListMessages returned beside a running absorb: %d messages, %v", len(r.msgs), r.err)
	case <-time.After(30 * time.Second):
		t.Fatal("ListMessages neither waited for the absorber nor returned")
	}
	s1.abs.hi.Store(hi)
	s1.abs.absorbed.Store(absorbed)
	unlock.Do(s1.abs.mu.Unlock)
	r := <-got
	if r.err != nil || len(r.msgs) != 2 || r.msgs[1].ClientMsgID != "m2" {
		t.Fatalf("ListMessages on s1 = %+v, %v; want m1 and s2's m2", r.msgs, r.err)
	}
}

// TestAnAbsorbIndexesWhatItMoves: an absorb gives the messages it moves
// their search ids and index entries in its own transaction, leaving none
// queued; one without search text gets 0; and rows another Store on the
// files absorbed first are not indexed twice.
func TestAnAbsorbIndexesWhatItMoves(t *testing.T) {
	s1 := openLogged(t)
	s2 := openAgain(t, s1, withAbsorbAge(time.Hour), WithIndexInterval(time.Hour))
	a := s1.App("A")
	cacheUsers(t, a, "ann", "bob")
	const conv = "p:ann:bob"
	for i, d := range []struct{ typ, body string }{
		{"text", "the zebra crossing"}, {"text", "!!! ..."}, {"image", `{"url":"https://x/zebra.png"}`}, {"text", "a zebra again"},
	} {
		if _, err := a.AppendMessages(t.Context(), []store.Draft{{ConvID: conv, Members: []string{"bob"}, SenderID: "ann",
			ClientMsgID: fmt.Sprint(i), Type: d.typ, Body: []byte(d.body), CreatedAt: time.UnixMilli(int64(i + 1))}}); err != nil {
			t.Fatal(err)
		}
	}
	s2.abs.mu.Lock() // s2 moves s1's rows, and leaves them in the log (no prune)
	err := s2.absorbLocked(t.Context(), 0)
	s2.abs.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.absorb(); err != nil { // finds them all in messages
		t.Fatal(err)
	}
	var queued, zero, indexed, entries int
	if err := s1.read.QueryRowContext(t.Context(), `SELECT count(*) FILTER (WHERE search_id IS NULL),
		count(*) FILTER (WHERE search_id = 0), count(*) FILTER (WHERE search_id > 0) FROM messages`).
		Scan(&queued, &zero, &indexed); err != nil {
		t.Fatal(err)
	}
	if err := s1.read.QueryRowContext(t.Context(), `SELECT count(*) FROM message_search WHERE message_search MATCH 'zebra'`).
		Scan(&entries); err != nil {
		t.Fatal(err)
	}
	if queued != 0 || zero != 2 || indexed != 2 || entries != 2 {
		t.Fatalf("after the absorbs: %d queued, %d without search text, %d indexed, %d entries for zebra; want 0, 2, 2, 2",
			queued, zero, indexed, entries)
	}
	got, err := a.SearchMessages(t.Context(), store.MessageSearch{UserID: "bob", Terms: []store.SearchTerm{{"zebra"}}, Limit: 10})
	if err != nil || len(got) != 2 {
		t.Fatalf("search zebra = %+v, %v; want 2 messages", got, err)
	}
}

// TestThePruneKeepsIDsGrowing: the writer deletes what the absorber
// copied, but for the log's newest row, so that a new row's id is never
// one the absorber took before.
func TestThePruneKeepsIDsGrowing(t *testing.T) {
	s := openLogged(t)
	a := s.App("A")
	cacheUsers(t, a, "ann", "bob")
	maxID := func() int64 {
		var id int64
		if err := s.write.QueryRowContext(t.Context(), `SELECT COALESCE(max(rowid), 0) FROM message_log`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	var last int64
	for round := range 3 {
		for i := range 3 {
			appendOne(t, a, "p:ann:bob", "ann", "bob", string(rune('a'+3*round+i)))
		}
		if id := maxID(); id <= last {
			t.Fatalf("round %d: newest log id %d, not above the last round's %d", round, id, last)
		}
		last = maxID()
		if err := s.absorb(); err != nil {
			t.Fatal(err)
		}
		if n := logTableRows(t, s); n != 1 {
			t.Fatalf("round %d: the log holds %d rows after absorb and prune, want its newest alone", round, n)
		}
		if n := logRows(t, s); n != 0 {
			t.Fatalf("round %d: %d log rows not absorbed", round, n)
		}
	}
	msgs, err := a.ListMessages(t.Context(), "p:ann:bob", store.Range{From: 1, Limit: 20})
	if err != nil || len(msgs) != 9 {
		t.Fatalf("ListMessages: %d messages, %v; want 9", len(msgs), err)
	}
	for i, m := range msgs {
		if m.Seq != int64(i+1) || m.ClientMsgID != string(rune('a'+i)) {
			t.Fatalf("message %d: seq %d, client id %q", i, m.Seq, m.ClientMsgID)
		}
	}
}

// oldDatabase creates a database at path with the steps before the
// messages file (up to 24) and two messages in its messages table, one of
// them indexed for search.
func oldDatabase(t *testing.T, path string) {
	t.Helper()
	databaseAt(t, path, messagesFileStep-1,
		`INSERT INTO main.messages (app_id, conv_id, seq, sender_id, client_msg_id, type, body, created_at, recalled_at, search_id)
			VALUES ('A', 'p:ann:bob', 1, 'ann', 'x', 'text', CAST('{"text":"hello old world"}' AS BLOB), 1, 0, 1)`,
		`INSERT INTO main.message_search (rowid, text, scope) VALUES (1, 'hello old world', 'k0')`,
		`INSERT INTO main.messages (app_id, conv_id, seq, sender_id, client_msg_id, type, body, created_at, recalled_at, search_id)
			VALUES ('A', 'p:ann:bob', 2, 'bob', 'y', 'text', CAST('{"text":"second"}' AS BLOB), 2, 0, NULL)`,
	)
}

func TestMigrationMovesMessages(t *testing.T) {
	for _, crashed := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "magpie.db")
		oldDatabase(t, path)
		if crashed {
			// The first of step 25's transactions committed, the second
			// not: the messages file holds the copy, the database file
			// still the old tables.
			db, err := openWrite(t.Context(), path, config{busyTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			ms, _ := loadMigrations()
			if err := inMessagesFile(t.Context(), db, ms[messagesFileStep-1], copyMessages); err != nil {
				t.Fatal(err)
			}
			db.Close()
		}
		s, err := Open(t.Context(), path, withAbsorbAge(time.Hour), WithIndexInterval(time.Hour))
		if err != nil {
			t.Fatalf("crashed=%v: Open: %v", crashed, err)
		}
		a := s.App("A")
		msgs := annBob(t, a, 2, fmt.Sprintf("crashed=%v: after the move", crashed))
		if string(msgs[0].Body) != `{"text":"hello old world"}` || msgs[1].ClientMsgID != "y" {
			t.Fatalf("crashed=%v: after the move: %+v", crashed, msgs)
		}
		var old int
		if err := s.write.QueryRowContext(t.Context(), `SELECT count(*) FROM main.sqlite_master WHERE name IN ('messages', 'message_search')`).Scan(&old); err != nil || old != 0 {
			t.Fatalf("crashed=%v: the database file still has %d of the old tables (%v)", crashed, old, err)
		}
		// Both are queued for the search index again, and indexed.
		if n, err := s.indexQueued(t.Context(), 0); err != nil || n != 2 {
			t.Fatalf("crashed=%v: indexed %d messages after the move, %v; want 2", crashed, n, err)
		}
		var indexed int
		if err := s.read.QueryRowContext(t.Context(), `SELECT count(*) FROM message_search WHERE message_search MATCH 'hello'`).Scan(&indexed); err != nil || indexed != 1 {
			t.Fatalf("crashed=%v: %d search entries for hello, %v; want 1", crashed, indexed, err)
		}
		// A resend of an old message is found; a new one follows it.
		if seq := appendOne(t, a, "p:ann:bob", "ann", "bob", "x"); seq != 1 {
			t.Fatalf("crashed=%v: resend of x got seq %d, want 1", crashed, seq)
		}
		s.Close()
	}
}

// TestAMissingMessagesFileStopsOpen: a database whose messages file is
// gone does not open as if it had no messages.
func TestAMissingMessagesFileStopsOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "magpie.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	cacheUsers(t, s.App("A"), "ann", "bob")
	appendOne(t, s.App("A"), "p:ann:bob", "ann", "bob", "x")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(MessagesPath(path) + suffix); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	if s, err := Open(t.Context(), path); err == nil || !strings.Contains(err.Error(), "messages file") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("Open without the messages file: %v; want an error naming it", err)
	}
}

func TestMessagesPath(t *testing.T) {
	for in, want := range map[string]string{
		"/d/magpie.db": "/d/magpie-messages.db",
		"/d/store":     "/d/store-messages",
		"x.sqlite":     "x-messages.sqlite",
	} {
		if got := MessagesPath(in); got != want {
			t.Errorf("MessagesPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestADeletedMessageStaysDeleted: a support conversation's messages go
// with their user (DeleteUser); the log's newest row, which a prune keeps,
// must not bring one back when the next process absorbs the log.
func TestADeletedMessageStaysDeleted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "magpie.db")
	s, err := Open(t.Context(), path, withAbsorbAge(time.Hour), WithIndexInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	a := s.App("A")
	cacheUsers(t, a, "ann", "agent")
	appendOne(t, a, "s:ann", "ann", "agent", "q") // the log's newest row
	if err := a.DeleteUser(t.Context(), "ann", store.UserDeletion{At: time.UnixMilli(2)}); err != nil {
		t.Fatal(err)
	}
	if n := logTableRows(t, s); n != 1 {
		t.Fatalf("the log holds %d rows, want its newest (absorbed) alone", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(t.Context(), path, withAbsorbAge(time.Hour), WithIndexInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	msgs, err := s.App("A").ListMessages(t.Context(), "s:ann", store.Range{From: 1, Limit: 10})
	if err != nil || len(msgs) != 0 {
		t.Fatalf("after a restart the deleted user's support conversation has %d messages (%v), want none", len(msgs), err)
	}
}

// TestRestoreFromAnOnlineBackup follows docs/operations.md: the database
// file copied first, the messages file later, then the two statements that
// drop what the messages file holds beyond the database file's heads
// (restoreSQL, quoted there). Without them a new message reuses a seq the
// later copy holds, and the absorb leaves it out.
func TestRestoreFromAnOnlineBackup(t *testing.T) {
	s, a := openAnnBob(t, 3)
	if err := s.absorb(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// T1: the database file.
	copyWithWAL(t, s.path, filepath.Join(dir, "magpie.db"))
	for i := range 3 {
		appendOne(t, a, "p:ann:bob", "ann", "bob", string(rune('d'+i)))
	}
	appendOne(t, a, "p:ann:eve", "ann", "eve", "z")
	if err := s.absorb(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.indexQueued(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	// T2: the messages file.
	copyWithWAL(t, MessagesPath(s.path), filepath.Join(dir, "magpie-messages.db"))
	r := restoreCopies(t, dir)
	b := r.App("A")
	annBob(t, b, 3, "restored (the first copy's)")
	if seq := appendOne(t, b, "p:ann:bob", "ann", "bob", "new"); seq != 4 {
		t.Fatalf("a new message after the restore got seq %d, want 4", seq)
	}
	if msgs := annBob(t, b, 4, "after the restore and a new message"); msgs[3].ClientMsgID != "new" {
		t.Fatalf("after the restore and a new message: %+v", msgs)
	}
	if msgs, err := b.ListMessages(t.Context(), "p:ann:eve", store.Range{From: 1, Limit: 10}); err != nil || len(msgs) != 0 {
		t.Fatalf("a conversation the first copy does not know kept %d messages (%v)", len(msgs), err)
	}
	if _, err := r.indexQueued(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := r.read.QueryRowContext(t.Context(), `SELECT count(*) FROM message_search`).Scan(&n); err != nil || n != 4 {
		t.Fatalf("%d search entries (%v), want 4: the three restored and the new one", n, err)
	}
}

// restoreCopies runs restoreSQL on the copies of the two files in dir
// and opens the restored pair.
func restoreCopies(t *testing.T, dir string) *Store {
	t.Helper()
	db, err := openWrite(t.Context(), filepath.Join(dir, "magpie.db"), config{busyTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range restoreSQL {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatal(q, err)
		}
	}
	db.Close()
	r, err := Open(t.Context(), filepath.Join(dir, "magpie.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// restoreSQL are the statements docs/operations.md gives for restoring an
// online backup, run on the database file with the messages file attached
// as msgs.
var restoreSQL = []string{
	`DELETE FROM msgs.message_search WHERE rowid IN (SELECT search_id FROM msgs.messages AS m WHERE search_id > 0
  AND seq > COALESCE((SELECT max_seq FROM conversations AS c WHERE c.app_id = m.app_id AND c.id = m.conv_id), 0))`,
	`DELETE FROM msgs.messages WHERE seq > COALESCE((SELECT max_seq FROM conversations AS c
  WHERE c.app_id = messages.app_id AND c.id = messages.conv_id), 0)`,
}

// TestAnAbsorbIndexesEveryMessage absorbs 46 searchable messages, with one
// that has no search text among them, and finds each by its own word.
func TestAnAbsorbIndexesEveryMessage(t *testing.T) {
	s := openLogged(t)
	a := s.App("A")
	cacheUsers(t, a, "ann", "bob")
	word := func(i int) string { return fmt.Sprintf("word%c%c", 'a'+i/26, 'a'+i%26) }
	var drafts []store.Draft
	for i := range 47 {
		body := `{"text":"` + word(i) + `"}`
		if i == 20 {
			body = `{"text":""}`
		}
		drafts = append(drafts, store.Draft{ConvID: "p:ann:bob", Members: []string{"bob"}, SenderID: "ann",
			ClientMsgID: word(i), Type: "text", Body: []byte(body), CreatedAt: time.UnixMilli(1)})
	}
	if _, err := a.AppendMessages(t.Context(), drafts); err != nil {
		t.Fatal(err)
	}
	absorbAlone(t, s)
	for i := range 47 {
		got, err := a.SearchMessages(t.Context(), store.MessageSearch{UserID: "bob", Terms: []store.SearchTerm{{word(i)}}, Limit: 10})
		want := 1
		if i == 20 {
			want = 0
		}
		if err != nil || len(got) != want || want == 1 && got[0].Seq != int64(i+1) {
			t.Fatalf("search %s = %+v, %v; want message %d", word(i), got, err, i+1)
		}
	}
}

// press sets s's absorber pressed (pressure.go), or not, until the next
// window closes: its moves leave the search work to the indexer.
func press(s *Store, on bool) {
	s.abs.mu.Lock()
	defer s.abs.mu.Unlock()
	s.abs.press = pressure{}
	if on {
		// A move that ends in the future keeps on true whatever the
		// test's pace.
		s.abs.press = pressure{pressed: true, start: time.Now(), last: time.Now().Add(time.Hour)}
	}
}

// searchCounts reads how many messages are queued for the search index,
// have nothing to index (search id 0) and are indexed, and how many index
// entries match term.
func searchCounts(t *testing.T, s *Store, term string) (queued, zero, indexed, entries int) {
	t.Helper()
	if err := s.read.QueryRowContext(t.Context(), `SELECT count(*) FILTER (WHERE search_id IS NULL),
		count(*) FILTER (WHERE search_id = 0), count(*) FILTER (WHERE search_id > 0) FROM messages`).
		Scan(&queued, &zero, &indexed); err != nil {
		t.Fatal(err)
	}
	if err := s.read.QueryRowContext(t.Context(), `SELECT count(*) FROM message_search WHERE message_search MATCH ?`, term).
		Scan(&entries); err != nil {
		t.Fatal(err)
	}
	return queued, zero, indexed, entries
}

// TestAPressedAbsorbLeavesSearchToTheIndexer: a pressed absorber moves
// the log into messages and leaves the searchable ones queued, with no
// index entry; a search still finds them (it catches up first). Once not pressed, an absorb indexes what it
// moves again.
func TestAPressedAbsorbLeavesSearchToTheIndexer(t *testing.T) {
	s := openLogged(t)
	a := s.App("A")
	cacheUsers(t, a, "ann", "bob")
	appendBodies := func(first int, bodies ...[2]string) {
		for i, b := range bodies {
			if _, err := a.AppendMessages(t.Context(), []store.Draft{{ConvID: "p:ann:bob", Members: []string{"bob"}, SenderID: "ann",
				ClientMsgID: fmt.Sprint(first + i), Type: b[0], Body: []byte(b[1]), CreatedAt: time.UnixMilli(int64(first + i))}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendBodies(0, [2]string{"text", "the zebra crossing"}, [2]string{"image", `{"url":"https://x/zebra.png"}`},
		[2]string{"text", "a zebra again"})

	press(s, true)
	s.abs.mu.Lock()
	err := s.absorbLocked(t.Context(), maxIndexPerAbsorb)
	s.abs.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if logRows(t, s) != 0 {
		t.Fatalf("%d log rows left after a pressed absorb; want 0", logRows(t, s))
	}
	if q, z, i, e := searchCounts(t, s, "zebra"); q != 2 || z != 1 || i != 0 || e != 0 {
		t.Fatalf("after a pressed absorb: %d queued, %d without search text, %d indexed, %d entries; want 2, 1, 0, 0", q, z, i, e)
	}
	if n, err := s.SearchQueue(t.Context()); err != nil || n != 2 {
		t.Fatalf("SearchQueue after a pressed absorb = %d, %v; want 2", n, err)
	}
	got, err := a.SearchMessages(t.Context(), store.MessageSearch{UserID: "bob", Terms: []store.SearchTerm{{"zebra"}}, Limit: 10})
	if err != nil || len(got) != 2 {
		t.Fatalf("search zebra while pressed = %+v, %v; want 2 messages", got, err)
	}

	press(s, false)
	appendBodies(3, [2]string{"text", "zebra three"})
	absorbAlone(t, s)
	if q, z, i, e := searchCounts(t, s, "zebra"); q != 0 || z != 1 || i != 3 || e != 3 {
		t.Fatalf("after an absorb not pressed: %d queued, %d without search text, %d indexed, %d entries; want 0, 1, 3, 3", q, z, i, e)
	}
	if n, err := s.SearchQueue(t.Context()); err != nil || n != 0 {
		t.Fatalf("SearchQueue once all is indexed = %d, %v; want 0", n, err)
	}
}

// TestTheIdleIndexerYields: the absorber loop's indexer indexes, while
// the absorber is pressed, for a tenth of the time since its last run (one
// chunk when that was just now, everything after an hour); it stops after
// a chunk when an absorb is due, and otherwise indexes the whole queue.
func TestTheIdleIndexerYields(t *testing.T) {
	s := openLogged(t)
	a := s.App("A")
	cacheUsers(t, a, "ann", "bob")
	sent := 0
	appendN := func(n int) {
		drafts := make([]store.Draft, n)
		for i := range drafts {
			sent++
			drafts[i] = store.Draft{ConvID: "p:ann:bob", Members: []string{"bob"}, SenderID: "ann",
				ClientMsgID: fmt.Sprint(sent), Type: "text", Body: []byte("zebra"), CreatedAt: time.UnixMilli(int64(sent))}
		}
		if _, err := a.AppendMessages(t.Context(), drafts); err != nil {
			t.Fatal(err)
		}
	}
	queued := func(want int, after string) {
		t.Helper()
		if q, _, _, _ := searchCounts(t, s, "zebra"); q != want {
			t.Fatalf("%d queued %s; want %d", q, after, want)
		}
	}
	const n = 3*indexChunk + 100
	appendN(n)
	press(s, true)
	absorbAlone(t, s)
	queued(n, "after a pressed absorb")
	s.indexIdle(t.Context(), time.Hour, 0)
	queued(n-indexChunk, "after the indexer ran pressed, just after its last run (one chunk)")

	press(s, false)
	appendN(1)                             // logged, not absorbed: an absorb is due at once
	s.indexIdle(t.Context(), 0, time.Hour) // so the indexer stops after a chunk
	queued(n-2*indexChunk, "after the indexer ran with an absorb due")

	press(s, true)
	absorbAlone(t, s)
	s.indexIdle(t.Context(), time.Hour, time.Hour)
	queued(0, "after the indexer ran pressed, an hour after its last run")

	appendN(n)
	absorbAlone(t, s)
	press(s, false)
	s.indexIdle(t.Context(), time.Hour, 0)
	if q, _, i, e := searchCounts(t, s, "zebra"); q != 0 || i != sent || e != sent {
		t.Fatalf("after the indexer ran, not pressed: %d queued, %d indexed, %d entries; want 0, %d, %d", q, i, e, sent, sent)
	}
}

// TestAnAbsorbInChunks: an absorb of more than absorbChunk rows copies
// them a statement per chunk in one transaction: every row arrives once,
// and, when not pressed, every searchable one gets a search id of its own
// and an index entry; when pressed, all of them are queued.
func TestAnAbsorbInChunks(t *testing.T) {
	for _, pressed := range []bool{false, true} {
		t.Run(fmt.Sprintf("pressed=%v", pressed), func(t *testing.T) {
			s := openLogged(t)
			a := s.App("A")
			cacheUsers(t, a, "ann", "bob")
			press(s, pressed)
			const n = absorbChunk + absorbChunk/2 + 1
			images := 0
			// The absorber's loop waits on its mutex: the test's absorb
			// below is the only one, of all n rows.
			s.abs.mu.Lock()
			locked := true
			defer func() {
				if locked {
					s.abs.mu.Unlock()
				}
			}()
			for first := 0; first < n; first += 512 {
				var drafts []store.Draft
				for i := first; i < min(n, first+512); i++ {
					d := store.Draft{ConvID: "p:ann:bob", Members: []string{"bob"}, SenderID: "ann",
						ClientMsgID: fmt.Sprint(i), Type: "text", Body: []byte(fmt.Sprintf("common word%d", i)), CreatedAt: time.UnixMilli(int64(i))}
					if i%7 == 0 {
						d.Type, d.Body = "image", []byte(`{"url":"https://x/y.png"}`)
						images++
					}
					drafts = append(drafts, d)
				}
				if _, err := a.AppendMessages(t.Context(), drafts); err != nil {
					t.Fatal(err)
				}
			}
			err := s.absorbLocked(t.Context(), 0)
			s.abs.mu.Unlock()
			locked = false
			if err != nil {
				t.Fatal(err)
			}
			if rows := logRows(t, s); rows != 0 {
				t.Fatalf("%d log rows left after the absorb", rows)
			}
			var count, maxSeq, ids int
			if err := s.read.QueryRowContext(t.Context(), `SELECT count(*), max(seq), count(DISTINCT search_id) FILTER (WHERE search_id > 0) FROM messages`).
				Scan(&count, &maxSeq, &ids); err != nil {
				t.Fatal(err)
			}
			if count != n || maxSeq != n {
				t.Fatalf("messages holds %d rows up to seq %d; want %d, %d", count, maxSeq, n, n)
			}
			q, z, i, e := searchCounts(t, s, "common")
			want := [4]int{0, images, n - images, n - images}
			if pressed {
				want = [4]int{n - images, images, 0, 0}
			}
			if got := [4]int{q, z, i, e}; got != want || !pressed && ids != n-images {
				t.Fatalf("queued, without search text, indexed, entries = %v (%d distinct search ids); want %v", got, ids, want)
			}
		})
	}
}

// TestSearchQueueLeavesTheLog: the search queue gauge counts what the
// messages file holds and does not absorb the log to do it (a scrape must
// not drive the store's writes).
func TestSearchQueueLeavesTheLog(t *testing.T) {
	s := openLogged(t)
	a := s.App("A")
	cacheUsers(t, a, "ann", "bob")
	appendOne(t, a, "p:ann:bob", "ann", "bob", "m1")
	if n, err := s.SearchQueue(t.Context()); err != nil || n != 0 {
		t.Fatalf("SearchQueue with the message in the log = %d, %v; want 0", n, err)
	}
	if n := logRows(t, s); n != 1 {
		t.Fatalf("%d log rows after SearchQueue; want 1 (not absorbed)", n)
	}
}

// withMaxLogBacklog sets how many logged rows the absorber may be behind
// by before Busy.
func withMaxLogBacklog(n int64) Option {
	return func(c *config) { c.maxBacklog = n }
}

// TestBusyWhileTheAbsorberIsFarBehind: Busy turns on once the absorber is
// the bound's rows behind the log, and off once an absorb caught up (how
// far it must catch up is TestStillBusy's). The writer still takes what
// reaches it meanwhile: Busy is the messaging core's cue to refuse new
// messages before it queues them.
func TestBusyWhileTheAbsorberIsFarBehind(t *testing.T) {
	// No timer absorbs: the test's absorbs are the only ones.
	s := openTemp(t, withAbsorbAge(time.Hour), WithIndexInterval(time.Hour), withMaxLogBacklog(10))
	a := s.App("A")
	cacheUsers(t, a, "ann", "bob")
	n := 0
	appendSome := func(k int) {
		t.Helper()
		for range k {
			n++
			if seq := appendOne(t, a, "p:ann:bob", "ann", "bob", fmt.Sprint("m", n)); seq != int64(n) {
				t.Fatalf("append %d got seq %d", n, seq)
			}
		}
	}
	appendSome(9)
	if s.Busy() {
		t.Fatal("Busy 9 rows behind; the bound is 10")
	}
	appendSome(1)
	if !s.Busy() {
		t.Fatal("not Busy 10 rows behind")
	}
	appendSome(1) // the writer still takes what reaches it
	if !s.Busy() {
		t.Fatal("not Busy 11 rows behind")
	}
	if err := s.absorb(); err != nil {
		t.Fatal(err)
	}
	if s.Busy() {
		t.Fatal("Busy after an absorb of the whole log")
	}
	// Counted from the last absorb, not from the start.
	for i := range 10 {
		if s.Busy() {
			t.Fatalf("Busy %d rows behind after the absorb", i)
		}
		appendSome(1)
	}
	if !s.Busy() {
		t.Fatal("not Busy 10 rows behind after the absorb")
	}
}

// TestStillBusy: busy from the bound on, and once busy until within half
// of it.
func TestStillBusy(t *testing.T) {
	for _, c := range []struct {
		was    bool
		behind int64
		want   bool
	}{
		{false, 0, false}, {false, 5, false}, {false, 9, false}, {false, 10, true}, {false, 11, true},
		{true, 11, true}, {true, 10, true}, {true, 6, true}, {true, 5, false}, {true, 0, false},
	} {
		if got := stillBusy(c.was, c.behind, 10); got != c.want {
			t.Errorf("stillBusy(%v, %d, 10) = %v; want %v", c.was, c.behind, got, c.want)
		}
	}
}
