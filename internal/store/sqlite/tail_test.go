package sqlite

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// The message log (tail.go): a message is durable and readable once
// AppendMessages returned, whether it is still in the log or was absorbed
// into messages.

// withAbsorbAge sets the tail's age at which the writer absorbs it.
func withAbsorbAge(d time.Duration) Option {
	return func(c *config) { c.absorbAge = d }
}

// openLogged opens a Store whose log is absorbed only when a read, a write
// transaction or the test asks: no timer moves it.
func openLogged(t *testing.T) *Store {
	return openTemp(t, withAbsorbAge(time.Hour), WithIndexInterval(time.Hour))
}

// logRows counts the log rows s's absorber has not copied to messages.
func logRows(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	err := s.write.QueryRowContext(t.Context(), `SELECT count(*) FROM message_log WHERE rowid > ?`, s.abs.hi.Load()).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// logTableRows counts the log's rows, absorbed or not.
func logTableRows(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.write.QueryRowContext(t.Context(), `SELECT count(*) FROM message_log`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLoggedMessagesAreReadable(t *testing.T) {
	s, a := openAnnBob(t, 3)
	if n := logRows(t, s); n != 3 {
		t.Fatalf("message_log holds %d rows after 3 appends, want 3 (the appends must not write messages)", n)
	}
	if msgs := annBob(t, a, 3, "after 3 appends"); msgs[2].Seq != 3 || msgs[2].ClientMsgID != "c" {
		t.Fatalf("ListMessages = %+v; want seqs 1-3", msgs)
	}
	if n := logRows(t, s); n != 0 {
		t.Fatalf("message_log holds %d rows after a read, want 0 (absorbed)", n)
	}
	appendOne(t, a, "p:ann:bob", "bob", "ann", "d")
	if m, err := a.GetMessage(t.Context(), "p:ann:bob", 4); err != nil || m.SenderID != "bob" {
		t.Fatalf("GetMessage(4) = %+v, %v", m, err)
	}
	appendOne(t, a, "p:ann:bob", "bob", "ann", "e")
	if m, err := a.GetMessageByClientID(t.Context(), "bob", "e"); err != nil || m.Seq != 5 {
		t.Fatalf("GetMessageByClientID(e) = %+v, %v", m, err)
	}
	// A write transaction sees the log too: recall a logged message.
	appendOne(t, a, "p:ann:bob", "ann", "bob", "f")
	if m, err := a.RecallMessage(t.Context(), "p:ann:bob", 6, time.UnixMilli(1)); err != nil || m.RecalledAt.IsZero() {
		t.Fatalf("RecallMessage(6) = %+v, %v", m, err)
	}
}

func TestResendsAreFoundInTheLogAndInMessages(t *testing.T) {
	s := openLogged(t)
	a := s.App("A")
	cacheUsers(t, a, "ann", "bob")
	ctx := t.Context()
	draft := func(id string) store.Draft {
		return store.Draft{ConvID: "p:ann:bob", Members: []string{"bob"}, SenderID: "ann", ClientMsgID: id,
			Type: "text", Body: []byte(`{"text":"` + id + `"}`), CreatedAt: time.UnixMilli(1)}
	}
	// In one batch: the second x repeats the first.
	out, err := a.AppendMessages(ctx, []store.Draft{draft("x"), draft("x"), draft("y")})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Duplicate || !out[1].Duplicate || out[1].Seq != out[0].Seq || out[2].Seq != 2 {
		t.Fatalf("one batch: %+v", out)
	}
	// In the tail.
	out, err = a.AppendMessages(ctx, []store.Draft{draft("y"), draft("z")})
	if err != nil {
		t.Fatal(err)
	}
	if !out[0].Duplicate || out[0].Seq != 2 || string(out[0].Body) != `{"text":"y"}` || out[1].Duplicate || out[1].Seq != 3 {
		t.Fatalf("from the tail: %+v", out)
	}
	// Absorbed.
	if err := s.absorb(); err != nil {
		t.Fatal(err)
	}
	if n := logRows(t, s); n != 0 {
		t.Fatalf("message_log holds %d rows after absorb", n)
	}
	out, err = a.AppendMessages(ctx, []store.Draft{draft("z"), draft("x"), draft("w")})
	if err != nil {
		t.Fatal(err)
	}
	if !out[0].Duplicate || out[0].Seq != 3 || !out[1].Duplicate || out[1].Seq != 1 || out[2].Duplicate || out[2].Seq != 4 {
		t.Fatalf("from messages: %+v", out)
	}
	// The same client id from another sender or app is a new message.
	other := draft("x")
	other.SenderID, other.Members = "bob", []string{"ann"}
	if out, err = a.AppendMessages(ctx, []store.Draft{other}); err != nil || out[0].Duplicate {
		t.Fatalf("bob's x: %+v, %v", out, err)
	}
	b := s.App("B")
	cacheUsers(t, b, "ann", "bob")
	if out, err = b.AppendMessages(ctx, []store.Draft{draft("x")}); err != nil || out[0].Duplicate || out[0].Seq != 1 {
		t.Fatalf("app B's x: %+v, %v", out, err)
	}
}

// TestALargeBatchIsLoggedInChunks appends a batch that the writer logs in
// statements of 32, 8 and 1 rows (flushLog), with resends of its own
// messages in it, and checks every row's rowid through the tail: a resend
// after the commit reads its original from the log by that rowid.
func TestALargeBatchIsLoggedInChunks(t *testing.T) {
	s := openLogged(t)
	a := s.App("A")
	cacheUsers(t, a, "ann", "bob")
	ctx := t.Context()
	draft := func(i int) store.Draft {
		id := fmt.Sprintf("m%d", i)
		return store.Draft{ConvID: "p:ann:bob", Members: []string{"bob"}, SenderID: "ann", ClientMsgID: id,
			Type: "text", Body: []byte(`{"text":"` + id + `"}`), CreatedAt: time.UnixMilli(1)}
	}
	// 77 drafts, of which 40 and 60 repeat 3 and 45: the first resend
	// logs the 40 rows before it (32 + 8), the second the 19 since (8 + 8
	// + 1 + 1 + 1), and the batch's end the last 16 (8 + 8).
	var drafts []store.Draft
	want := map[string]int64{} // client id: seq
	for i := range 77 {
		d := draft(i)
		switch i {
		case 40:
			d = draft(3)
		case 60:
			d = draft(45)
		default:
			want[d.ClientMsgID] = int64(len(want) + 1)
		}
		drafts = append(drafts, d)
	}
	out, err := a.AppendMessages(ctx, drafts)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range out {
		id := drafts[i].ClientMsgID
		if dup := i == 40 || i == 60; o.Duplicate != dup || o.Seq != want[id] || string(o.Body) != `{"text":"`+id+`"}` {
			t.Fatalf("draft %d (%s) = seq %d, duplicate %v, body %s; want seq %d, duplicate %v", i, id, o.Seq, o.Duplicate, o.Body, want[id], dup)
		}
	}
	// Resent after the commit, every one is found by its rowid in the log.
	var again []store.Draft
	for i := range 77 {
		if i != 40 && i != 60 {
			again = append(again, draft(i))
		}
	}
	if out, err = a.AppendMessages(ctx, again); err != nil {
		t.Fatal(err)
	}
	for i, o := range out {
		id := again[i].ClientMsgID
		if !o.Duplicate || o.Seq != want[id] || string(o.Body) != `{"text":"`+id+`"}` {
			t.Fatalf("resent %s = seq %d, duplicate %v, body %s; want seq %d", id, o.Seq, o.Duplicate, o.Body, want[id])
		}
	}
	if err := s.absorb(); err != nil {
		t.Fatal(err)
	}
	for id, seq := range want {
		if m, err := a.GetMessage(ctx, "p:ann:bob", seq); err != nil || m.ClientMsgID != id || string(m.Body) != `{"text":"`+id+`"}` {
			t.Fatalf("GetMessage(%d) = %+v, %v; want %s", seq, m, err, id)
		}
	}
}

// TestStoredClientIDsUsesTheIndex keeps the batch's resend lookup a search
// of the dedup index per draft: a plan that scans messages would read every
// message of the app on every append.
func TestStoredClientIDsUsesTheIndex(t *testing.T) {
	s := openLogged(t)
	rows, err := s.write.QueryContext(t.Context(), `EXPLAIN QUERY PLAN `+stmtSQL[stmtStoredClientIDs], "A", `[["ann","x"]]`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	text := strings.Join(plan, "; ")
	if !strings.Contains(text, "INDEX messages_client_key (app_id=? AND client_msg_id=? AND sender_id=?)") ||
		strings.Contains(text, "SCAN messages") {
		t.Fatalf("plan: %s", text)
	}
}

// TestTheLogSurvivesACrash copies the database files while messages are
// only in the log, as a crash would leave them, and opens the copy.
func TestTheLogSurvivesACrash(t *testing.T) {
	s, _ := openAnnBob(t, 5)
	if n := logRows(t, s); n != 5 {
		t.Fatalf("message_log holds %d rows, want 5", n)
	}
	dir := t.TempDir()
	copyWithWAL(t, s.path, filepath.Join(dir, "magpie.db"))
	copyWithWAL(t, MessagesPath(s.path), filepath.Join(dir, "magpie-messages.db"))
	again, err := Open(t.Context(), filepath.Join(dir, "magpie.db"), withAbsorbAge(time.Hour), WithIndexInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if n := logRows(t, again); n != 0 {
		t.Fatalf("message_log holds %d rows after Open, want 0", n)
	}
	b := again.App("A")
	annBob(t, b, 5, "after the crash")
	if seq := appendOne(t, b, "p:ann:bob", "ann", "bob", "c"); seq != 3 {
		t.Fatalf("a resend of c after the crash got seq %d, want its original 3", seq)
	}
	if seq := appendOne(t, b, "p:ann:bob", "ann", "bob", "f"); seq != 6 {
		t.Fatalf("a new message after the crash got seq %d, want 6", seq)
	}
}

// openAnnBob opens a Store whose log only a read or the test absorbs
// (openLogged) and appends n messages to p:ann:bob from ann, with client
// ids a, b, c and so on, at 1000 ms, 2000 and so on (not folded).
func openAnnBob(t *testing.T, n int) (*Store, store.AppStore) {
	t.Helper()
	s := openLogged(t)
	a := s.App("A")
	cacheUsers(t, a, "ann", "bob")
	for i := range n {
		appendAt(t, a, "ann", "bob", string(rune('a'+i)), int64(i+1)*1_000)
	}
	return s, a
}

// annBob lists the conversation p:ann:bob from seq 1, failing the test
// unless it reads exactly want messages.
func annBob(t *testing.T, a store.AppStore, want int, when string) []store.Message {
	t.Helper()
	msgs, err := a.ListMessages(t.Context(), "p:ann:bob", store.Range{From: 1, Limit: 10})
	if err != nil || len(msgs) != want {
		t.Fatalf("%s: %d messages, %v; want %d", when, len(msgs), err, want)
	}
	return msgs
}

// copyWithWAL copies a database file and its write-ahead log, as a crash
// (or a copy of a running server's files) leaves them.
func copyWithWAL(t *testing.T, from, to string) {
	t.Helper()
	for _, suffix := range []string{"", "-wal"} {
		copyFile(t, from+suffix, to+suffix)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestReceivedSeqFromTheLog checks that an ack finds the newest message
// its user received the same way whether the range is in the log or was
// absorbed.
func TestReceivedSeqFromTheLog(t *testing.T) {
	for _, absorbed := range []bool{false, true} {
		s := openLogged(t)
		a := s.App("A")
		cacheUsers(t, a, "ann", "bob")
		appendOne(t, a, "p:ann:bob", "ann", "bob", "1")
		appendOne(t, a, "p:ann:bob", "bob", "ann", "2")
		appendOne(t, a, "p:ann:bob", "bob", "ann", "3")
		if absorbed {
			if err := s.absorb(); err != nil {
				t.Fatal(err)
			}
		}
		s.writeMu.Lock()
		s.heads.reset() // no shortcut by the head's sender
		s.writeMu.Unlock()
		if r := ackOne(t, a, "bob", "p:ann:bob", 3); r.ReceivedSeq != 1 {
			t.Errorf("absorbed=%v: bob's ack to 3: received %d, want 1", absorbed, r.ReceivedSeq)
		}
		if r := ackOne(t, a, "ann", "p:ann:bob", 3); r.ReceivedSeq != 3 {
			t.Errorf("absorbed=%v: ann's ack to 3: received %d, want 3", absorbed, r.ReceivedSeq)
		}
	}
}

// TestAnotherStoreAbsorbsTheLog: a second Store on the file absorbs the
// first one's log when it opens; the first must then find its messages in
// messages, not at stale log rowids.
func TestAnotherStoreAbsorbsTheLog(t *testing.T) {
	s := openLogged(t)
	a := s.App("A")
	cacheUsers(t, a, "ann", "bob")
	appendOne(t, a, "p:ann:bob", "ann", "bob", "x")
	other, err := Open(t.Context(), s.path, withAbsorbAge(time.Hour), WithIndexInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n := logRows(t, other); n != 0 {
		t.Fatalf("message_log holds %d rows after another Store opened", n)
	}
	appendOne(t, other.App("A"), "p:ann:bob", "bob", "ann", "y") // seq 2, in the log again
	other.Close()
	if seq := appendOne(t, a, "p:ann:bob", "ann", "bob", "x"); seq != 1 {
		t.Fatalf("resend of x: seq %d, want 1", seq)
	}
	if seq := appendOne(t, a, "p:ann:bob", "bob", "ann", "y"); seq != 2 {
		t.Fatalf("resend of y: seq %d, want 2", seq)
	}
	if seq := appendOne(t, a, "p:ann:bob", "ann", "bob", "z"); seq != 3 {
		t.Fatalf("new z: seq %d, want 3", seq)
	}
}

// TestConcurrentReadsSeeTheLog: reads that settle at the same time share
// one absorb; none may read messages before that absorb committed.
func TestConcurrentReadsSeeTheLog(t *testing.T) {
	s := openLogged(t)
	a := s.App("A")
	cacheUsers(t, a, "ann", "bob")
	for i := range 50 {
		seq := appendOne(t, a, "p:ann:bob", "ann", "bob", fmt.Sprint(i))
		errs := make(chan error, 4)
		for range 4 {
			go func() {
				_, err := a.GetMessage(t.Context(), "p:ann:bob", seq)
				errs <- err
			}()
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Fatalf("GetMessage(%d) beside other reads: %v", seq, err)
			}
		}
	}
}

// TestClientIDLookupsLeaveTheLog: ClientMsgIDsStored (a pre-send hook's
// resend lookups) finds ids in the log without absorbing it, finds them in
// messages once absorbed, and falls back to settling when the writer's
// view of the log was dropped.
func TestClientIDLookupsLeaveTheLog(t *testing.T) {
	s := openLogged(t)
	a, b := s.App("A"), s.App("B")
	cacheUsers(t, a, "ann", "bob")
	cacheUsers(t, b, "ann", "bob")
	ctx := t.Context()
	// The first append sees the data version the Store opened with move
	// (its own migrations): it drops the writer's view until an absorb.
	// The first lookup asks for the set of logged ids, which the absorb's
	// prune then builds (TestLoggedIDsWaitForALookup).
	appendOne(t, a, "p:ann:eve", "ann", "eve", "warm")
	if _, err := a.ClientMsgIDsStored(ctx, []store.ClientMsgKey{{SenderID: "ann", ClientMsgID: "warm"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.absorb(); err != nil {
		t.Fatal(err)
	}
	appendOne(t, a, "p:ann:bob", "ann", "bob", "x")
	appendOne(t, a, "p:ann:bob", "bob", "ann", "y")
	keys := []store.ClientMsgKey{
		{SenderID: "ann", ClientMsgID: "x"}, {SenderID: "bob", ClientMsgID: "y"},
		{SenderID: "bob", ClientMsgID: "x"}, {SenderID: "ann", ClientMsgID: "z"}, {SenderID: "ann"},
	}
	want := []bool{true, true, false, false, false}
	check := func(step string, app store.AppStore, want []bool) {
		t.Helper()
		got, err := app.ClientMsgIDsStored(ctx, keys)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: ClientMsgIDsStored = %v, %v; want %v", step, got, err, want)
		}
	}
	check("in the log", a, want)
	if n := logRows(t, s); n != 2 {
		t.Fatalf("message_log holds %d rows after the lookup, want 2 (a lookup must not absorb)", n)
	}
	check("another app, in the log", b, []bool{false, false, false, false, false})

	if err := s.absorb(); err != nil {
		t.Fatal(err)
	}
	appendOne(t, a, "p:ann:bob", "ann", "bob", "z") // logged after the absorb
	check("absorbed, and z in the log", a, []bool{true, true, false, true, false})
	if n := logRows(t, s); n != 1 {
		t.Fatalf("message_log holds %d rows, want z's alone", n)
	}

	// The writer lost its view (a failed commit, another connection):
	// lookups settle until an absorb commits.
	appendOne(t, a, "p:ann:bob", "bob", "ann", "x")
	s.writeMu.Lock()
	s.invalidateTail()
	s.writeMu.Unlock()
	check("view dropped", a, []bool{true, true, true, true, false})
	if n := logRows(t, s); n != 0 {
		t.Fatalf("message_log holds %d rows after a lookup with the view dropped, want 0 (settled)", n)
	}
	// The prune of what the settle absorbed takes three commits (its fold
	// is spread over them: pruneIn).
	for _, id := range []string{"w", "v", "u"} {
		appendOne(t, a, "p:ann:bob", "bob", "ann", id)
	}
	check("after the settle", a, []bool{true, true, true, true, false})
	if n := logRows(t, s); n != 3 {
		t.Fatalf("message_log holds %d rows, want w's, v's and u's (the view is valid again)", n)
	}
}

// TestLoggedIDsWaitForALookup: the set of logged client ids is kept only
// once a lookup asked for it: before, appends and prunes leave it empty
// and not valid; the first lookup settles instead (and finds the id), and
// from the next prune on the set holds what the log holds.
func TestLoggedIDsWaitForALookup(t *testing.T) {
	s := openLogged(t)
	a := s.App("A")
	cacheUsers(t, a, "ann", "bob")
	ctx := t.Context()
	state := func() (bool, int) {
		s.logged.mu.RLock()
		defer s.logged.mu.RUnlock()
		return s.logged.valid, len(s.logged.ids)
	}
	appendOne(t, a, "p:ann:bob", "ann", "bob", "a1")
	if err := s.absorb(); err != nil {
		t.Fatal(err)
	}
	appendOne(t, a, "p:ann:bob", "ann", "bob", "a2")
	if valid, n := state(); valid || n != 0 {
		t.Fatalf("before any lookup the set is valid %v with %d ids; want not valid, empty", valid, n)
	}
	keys := []store.ClientMsgKey{{SenderID: "ann", ClientMsgID: "a2"}, {SenderID: "ann", ClientMsgID: "a3"}}
	got, err := a.ClientMsgIDsStored(ctx, keys)
	if err != nil || !got[0] || got[1] {
		t.Fatalf("the first lookup = %v, %v; want a2 found, a3 not", got, err)
	}
	if logRows(t, s) != 0 {
		t.Fatal("the first lookup did not settle the log")
	}
	appendOne(t, a, "p:ann:bob", "ann", "bob", "a3")
	if err := s.absorb(); err != nil { // its prune builds the set
		t.Fatal(err)
	}
	appendOne(t, a, "p:ann:bob", "ann", "bob", "a4")
	if valid, n := state(); !valid || n != 1 {
		t.Fatalf("after a lookup and a prune the set is valid %v with %d ids; want valid with a4, logged since", valid, n)
	}
	keys = append(keys, store.ClientMsgKey{SenderID: "ann", ClientMsgID: "a4"})
	if got, err := a.ClientMsgIDsStored(ctx, keys); err != nil || !got[0] || !got[1] || !got[2] {
		t.Fatalf("lookup with the set kept = %v, %v; want all found", got, err)
	}
	if logRows(t, s) != 1 {
		t.Fatal("a lookup with the set kept absorbed the log")
	}
}

// TestClientIDLookupsRaceAbsorbs: a committed id is found by every lookup,
// whichever side of a concurrent absorb the lookup falls on.
func TestClientIDLookupsRaceAbsorbs(t *testing.T) {
	s := openLogged(t)
	a := s.App("A")
	cacheUsers(t, a, "ann", "bob")
	ctx := t.Context()
	const n = 200
	var returned atomic.Int64 // appends that returned: acknowledged
	done := make(chan error, 1)
	go func() {
		for i := range n {
			_, err := a.AppendMessages(ctx, []store.Draft{{ConvID: "p:ann:bob", Members: []string{"bob"}, SenderID: "ann",
				ClientMsgID: fmt.Sprint("m", i), Type: "text", Body: []byte(`{"text":"x"}`), CreatedAt: time.UnixMilli(1)}})
			if err == nil && i%7 == 0 {
				err = s.absorb()
			}
			if err != nil {
				done <- err
				return
			}
			returned.Store(int64(i + 1))
		}
		done <- nil
	}()
	for finished := false; !finished; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			finished = true // one more look, at everything
		default:
		}
		// Every id acknowledged before the lookup must be found.
		acked := int(returned.Load())
		keys := make([]store.ClientMsgKey, acked)
		for j := range keys {
			keys[j] = store.ClientMsgKey{SenderID: "ann", ClientMsgID: fmt.Sprint("m", j)}
		}
		got, err := a.ClientMsgIDsStored(ctx, keys)
		if err != nil {
			t.Fatal(err)
		}
		for j, ok := range got {
			if !ok {
				t.Fatalf("m%d acknowledged before the lookup, not found", j)
			}
		}
	}
}

// TestAResendLookupMadeBeforeAPruneIsRedone: the lookup of a draft in
// messages that AppendMessages makes before the writer's transaction
// (storedBefore) does not find a message that was still in the log; if a
// prune moved that message out of the tail before the transaction, the
// writer must look again, or the resend would be stored twice. One made
// with no prune between is used as is.
func TestAResendLookupMadeBeforeAPruneIsRedone(t *testing.T) {
	s := openLogged(t)
	a := s.App("A").(*appStore)
	cacheUsers(t, a, "ann", "bob")
	const conv = "p:ann:bob"
	appendOne(t, a, conv, "ann", "bob", "a")
	resend := []store.Draft{{ConvID: conv, Members: []string{"bob"}, SenderID: "ann", ClientMsgID: "a",
		Type: "text", Body: []byte(`{"text":"x"}`), CreatedAt: time.UnixMilli(1_700_000_000_000)}}

	stale, err := a.storedBefore(t.Context(), resend)
	if err != nil || stale.stored[clientKey{sender: "ann", client: "a"}] {
		t.Fatalf("storedBefore while a is logged = %+v, %v; want a not in messages yet", stale, err)
	}
	if err := s.absorb(); err != nil { // a moves to messages, leaves the log and the tail
		t.Fatal(err)
	}
	out, err := a.appendMessages(t.Context(), resend, stale, true)
	if err != nil || !out[0].Duplicate || out[0].Seq != 1 {
		t.Fatalf("resend with a lookup from before the prune = %+v, %v; want the duplicate of seq 1", out, err)
	}

	fresh, err := a.storedBefore(t.Context(), resend)
	if err != nil || !fresh.stored[clientKey{sender: "ann", client: "a"}] {
		t.Fatalf("storedBefore after the absorb = %+v, %v; want a in messages", fresh, err)
	}
	fresh.stored = nil // a lookup that (wrongly) found nothing is believed as is
	out, err = a.appendMessages(t.Context(), resend, fresh, true)
	if err != nil || out[0].Duplicate || out[0].Seq != 2 {
		t.Fatalf("append with an unchanged lookup = %+v, %v; want it used (a new seq 2)", out, err)
	}
}

// TestMigrateClientKey upgrades a version-27 database whose messages file
// holds a message, after a crash between step 28's two transactions (its
// script committed in the messages file, its row not recorded): the step
// runs again, the old dedup index is gone, and a resend of the stored
// message is still its duplicate.
func TestMigrateClientKey(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "magpie.db")
	databaseAt(t, path, 27,
		`INSERT INTO conversations (app_id, id, members, max_seq, created_at, updated_at) VALUES ('A', 'p:ann:bob', '["ann","bob"]', 1, 1, 1)`,
		`INSERT INTO user_conversations (app_id, user_id, conv_id, read_seq, delivered_seq) VALUES ('A', 'ann', 'p:ann:bob', 1, 0), ('A', 'bob', 'p:ann:bob', 0, 0)`,
		`INSERT INTO msgs.messages (app_id, conv_id, seq, sender_id, client_msg_id, type, body, created_at, recalled_at)
			VALUES ('A', 'p:ann:bob', 1, 'ann', 'm1', 'text', CAST('{"text":"hi"}' AS BLOB), 1, 0)`)
	db, err := openWrite(ctx, path, config{busyTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	step := ms[slices.IndexFunc(ms, func(m migration) bool { return m.version == 28 })]
	if err := inMessagesFile(ctx, db, step, nil); err != nil {
		t.Fatalf("step 28's first transaction: %v", err)
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open a version-27 database: %v", err)
	}
	defer s.Close()
	var indexes string
	err = s.read.QueryRowContext(ctx, `SELECT group_concat(name, ' ') FROM msgs.sqlite_master
		WHERE type = 'index' AND name LIKE 'messages_client%'`).Scan(&indexes)
	if err != nil || indexes != "messages_client_key" {
		t.Errorf("dedup indexes after the upgrade: %q, %v; want messages_client_key", indexes, err)
	}
	var version int
	if err := s.read.QueryRowContext(ctx, `SELECT max(version) FROM schema_version`).Scan(&version); err != nil || version < 28 {
		t.Errorf("schema version after the upgrade: %d, %v; want 28 or more", version, err)
	}
	out, err := s.App("A").AppendMessages(ctx, []store.Draft{{ConvID: "p:ann:bob", Members: []string{"ann", "bob"},
		SenderID: "ann", ClientMsgID: "m1", Type: "text", Body: []byte(`{"text":"again"}`), CreatedAt: time.UnixMilli(2)}})
	if err != nil || !out[0].Duplicate || out[0].Seq != 1 || string(out[0].Body) != `{"text":"hi"}` {
		t.Fatalf("resend of m1 after the upgrade = %+v, %v; want the original, seq 1", out, err)
	}
}
