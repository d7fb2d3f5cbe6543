package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// appendAt appends one message from from to to in p:ann:bob at ms.
func appendAt(t *testing.T, a store.AppStore, from, to, id string, ms int64) int64 {
	t.Helper()
	return appendIn(t, a, "p:ann:bob", from, to, id, ms)
}

// dropCaches forgets the cached heads and cursors, as when another
// connection committed.
func dropCaches(s *Store) {
	s.writeMu.Lock()
	s.forget()
	s.writeMu.Unlock()
}

// rawHead reads the conversation's row and a member's read cursor as the
// tables hold them, without waiting for a fold.
func rawHead(t *testing.T, s *Store, user string) (maxSeq, updated, readSeq int64) {
	t.Helper()
	err := s.read.QueryRowContext(t.Context(), `SELECT c.max_seq, c.updated_at, uc.read_seq
		FROM conversations AS c JOIN user_conversations AS uc ON uc.app_id = c.app_id AND uc.conv_id = c.id
		WHERE c.app_id = 'A' AND c.id = 'p:ann:bob' AND uc.user_id = ?`, user).Scan(&maxSeq, &updated, &readSeq)
	if err != nil {
		t.Fatal(err)
	}
	return maxSeq, updated, readSeq
}

// cursorRows counts the device cursors in their table (user's, or all if
// user is empty) and the acks in the ack log, without waiting for a fold.
func cursorRows(t *testing.T, s *Store, user string) (devices, logged int) {
	t.Helper()
	err := s.read.QueryRowContext(t.Context(), `SELECT (SELECT count(*) FROM device_cursors WHERE ?1 = '' OR user_id = ?1),
		(SELECT count(*) FROM ack_log)`, user).Scan(&devices, &logged)
	if err != nil {
		t.Fatal(err)
	}
	return devices, logged
}

// An append to an existing conversation writes its log row only: the
// conversation's head and the sender's read cursor reach the tables at the
// fold, and every reader of them gets the folded state.
func TestAppendsLeaveConversationsToTheFold(t *testing.T) {
	s := openLogged(t)
	a := s.App("A")
	cacheUsers(t, a, "ann", "bob")
	ctx := t.Context()
	appendAt(t, a, "ann", "bob", "m1", 1_000) // creates the conversation
	appendAt(t, a, "ann", "bob", "m2", 2_000)
	appendAt(t, a, "bob", "ann", "m3", 3_000)
	appendAt(t, a, "ann", "bob", "m4", 4_000)

	if maxSeq, updated, read := rawHead(t, s, "ann"); maxSeq != 1 || updated != 1_000 || read != 0 {
		t.Fatalf("before the fold the tables hold max_seq %d, updated_at %d, ann's read_seq %d; want 1, 1000, 0 (the appends wrote them)",
			maxSeq, updated, read)
	}
	c, err := a.GetConversation(ctx, "p:ann:bob")
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxSeq != 4 || c.UpdatedAt.UnixMilli() != 4_000 {
		t.Fatalf("GetConversation: max seq %d, updated %d; want 4, 4000", c.MaxSeq, c.UpdatedAt.UnixMilli())
	}
	for user, want := range map[string]int64{"ann": 4, "bob": 3} {
		uc, err := a.GetUserConversation(ctx, user, "p:ann:bob")
		if err != nil {
			t.Fatal(err)
		}
		if uc.MaxSeq != 4 || uc.ReadSeq != want {
			t.Fatalf("%s's conversation: max seq %d, read seq %d; want 4, %d", user, uc.MaxSeq, uc.ReadSeq, want)
		}
	}
	if maxSeq, updated, read := rawHead(t, s, "ann"); maxSeq != 4 || updated != 4_000 || read != 4 {
		t.Fatalf("after the fold the tables hold %d, %d, %d; want 4, 4000, 4", maxSeq, updated, read)
	}
	var folded, high int64
	if err := s.read.QueryRowContext(ctx, `SELECT folded, (SELECT max(rowid) FROM message_log) FROM log_fold`).Scan(&folded, &high); err != nil {
		t.Fatal(err)
	}
	if folded != high {
		t.Fatalf("folded up to log row %d of %d", folded, high)
	}
}

// The fold takes the log's rows from the tail, in statements of up to
// rowsChunk rows of values: one fold of 41 conversations, each with
// messages from both its members in one batch, raises every head and
// every sender's read cursor to its newest message, and no other.
func TestAFoldOfManyConversations(t *testing.T) {
	s := openLogged(t)
	a := s.App("A")
	ctx := t.Context()
	const convs = rowsChunk + 8 + 1 // every statement size
	users := []string{"ann"}
	var drafts []store.Draft
	for i := range convs {
		u := fmt.Sprintf("u%02d", i)
		users = append(users, u)
		conv := "p:ann:" + u
		// ann sends i+1 messages, then u one: u's cursor is the head.
		for j := range i + 1 {
			drafts = append(drafts, store.Draft{ConvID: conv, Members: []string{u}, SenderID: "ann",
				ClientMsgID: fmt.Sprintf("%s-%d", u, j), Type: "text", CreatedAt: time.UnixMilli(int64(1_000 + j))})
		}
		drafts = append(drafts, store.Draft{ConvID: conv, Members: []string{"ann"}, SenderID: u,
			ClientMsgID: u + "-reply", Type: "text", CreatedAt: time.UnixMilli(int64(5_000 + i))})
	}
	cacheUsers(t, a, users...)
	// The first message of each creates its conversation; the rest go to
	// the log for the fold.
	for i := range convs {
		appendIn(t, a, fmt.Sprintf("p:ann:u%02d", i), "ann", fmt.Sprintf("u%02d", i), fmt.Sprintf("first-%d", i), 500)
	}
	if _, err := a.AppendMessages(ctx, drafts); err != nil {
		t.Fatal(err)
	}
	if err := s.settleFold(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT c.id, c.max_seq, c.updated_at, a.read_seq, u.read_seq
		FROM conversations AS c
		JOIN user_conversations AS a ON a.app_id = c.app_id AND a.conv_id = c.id AND a.user_id = 'ann'
		JOIN user_conversations AS u ON u.app_id = c.app_id AND u.conv_id = c.id AND u.user_id <> 'ann'
		WHERE c.app_id = 'A' ORDER BY c.id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for ; rows.Next(); n++ {
		var id string
		var maxSeq, updated, annRead, uRead int64
		if err := rows.Scan(&id, &maxSeq, &updated, &annRead, &uRead); err != nil {
			t.Fatal(err)
		}
		head := int64(n + 3) // the first message, n+1 of ann's, the reply
		if maxSeq != head || updated != int64(5_000+n) || annRead != head-1 || uRead != head {
			t.Errorf("%s: max_seq %d, updated_at %d, ann's read_seq %d, the other's %d; want %d, %d, %d, %d",
				id, maxSeq, updated, annRead, uRead, head, 5_000+n, head-1, head)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != convs {
		t.Fatalf("read %d conversations, want %d", n, convs)
	}
}

// Rows another Store (process) logged after this one's tail was loaded
// reach the tables in this one's fold: the fold looks at data_version and
// loads the tail again.
func TestTheFoldSeesAnotherStoresRows(t *testing.T) {
	s, a := openAnnBob(t, 2) // s's tail holds both
	other := openAgain(t, s, withAbsorbAge(time.Hour), WithIndexInterval(time.Hour))
	appendAt(t, other.App("A"), "bob", "ann", "m3", 3_000)
	uc, err := a.GetUserConversation(t.Context(), "bob", "p:ann:bob")
	if err != nil {
		t.Fatal(err)
	}
	if uc.MaxSeq != 3 || uc.ReadSeq != 3 || uc.UpdatedAt.UnixMilli() != 3_000 {
		t.Fatalf("after another Store's append: max seq %d, bob's read seq %d, updated %d; want 3, 3, 3000",
			uc.MaxSeq, uc.ReadSeq, uc.UpdatedAt.UnixMilli())
	}
}

// A write transaction that reads the heads (a read cursor clamped to the
// conversation's max seq) runs after a fold, even in the commit of the
// appends it follows; so does an ack whose head the cache lost.
func TestWritesAfterAppendsSeeTheFold(t *testing.T) {
	s, a := openAnnBob(t, 3)
	ctx := t.Context()
	cur, moved, err := a.MarkRead(ctx, "bob", "p:ann:bob", 3)
	if err != nil || cur != 3 || !moved {
		t.Fatalf("MarkRead to 3 after three appends: %d, %v, %v", cur, moved, err)
	}
	appendAt(t, a, "ann", "bob", "m4", 4_000)
	dropCaches(s) // the ack reads the head from the table
	if r := ackOne(t, a, "bob", "p:ann:bob", 4); r.DeviceSeq != 4 || r.UserSeq != 4 {
		t.Fatalf("ack of 4 after the cache was dropped: %+v", r)
	}
}

// Another Store on the same files (another process) folds what this one
// appended before it reads the tables.
func TestAnotherStoreFoldsTheLog(t *testing.T) {
	s, a := openAnnBob(t, 2)
	appendAt(t, a, "bob", "ann", "m3", 3_000)
	other := openAgain(t, s, withAbsorbAge(time.Hour), WithIndexInterval(time.Hour))
	uc, err := other.App("A").GetUserConversation(t.Context(), "bob", "p:ann:bob")
	if err != nil {
		t.Fatal(err)
	}
	if uc.MaxSeq != 3 || uc.ReadSeq != 3 || uc.UpdatedAt.UnixMilli() != 3_000 {
		t.Fatalf("the other Store reads max seq %d, read seq %d, updated %d; want 3, 3, 3000",
			uc.MaxSeq, uc.ReadSeq, uc.UpdatedAt.UnixMilli())
	}
}

// A prune deletes only log rows that were folded: the tables hold what
// they held before the rows left the log. The fold before it is spread
// over the writer's next commits: the conversations' heads in the first,
// the senders' read cursors in the second, then the delivery acks and the
// prune.
func TestPruneFoldsFirst(t *testing.T) {
	s, a := openAnnBob(t, 2)
	ackOne(t, a, "ann", "p:ann:bob", 2)
	appendAt(t, a, "bob", "ann", "m3", 3_000)
	absorbAlone(t, s)
	before := logTableRows(t, s)
	_, _, readBefore := rawHead(t, s, "bob")

	// Each commit below appends only: none folds by itself.
	appendAt(t, a, "ann", "bob", "m4", 4_000)
	if n := logTableRows(t, s); n != before+1 {
		t.Fatalf("the first commit after the absorb: the log holds %d rows, want %d (no prune yet)", n, before+1)
	}
	if maxSeq, updated, read := rawHead(t, s, "bob"); maxSeq < 3 || updated < 3_000 || read != readBefore {
		t.Fatalf("after the first step the tables hold max_seq %d, updated_at %d, bob's read_seq %d; want at least 3 and 3000, and %d (not folded yet)",
			maxSeq, updated, read, readBefore)
	}
	appendAt(t, a, "ann", "bob", "m5", 5_000)
	if _, _, read := rawHead(t, s, "bob"); read != 3 {
		t.Fatalf("after the second step bob's read_seq is %d, want 3", read)
	}
	if n := logTableRows(t, s); n != before+2 {
		t.Fatalf("the second commit after the absorb: the log holds %d rows, want %d (no prune yet)", n, before+2)
	}
	if devices, logged := cursorRows(t, s, "ann"); devices != 0 || logged != 1 {
		t.Fatalf("before the third step: %d device cursors of ann's, %d acks logged; want 0 and 1", devices, logged)
	}
	appendAt(t, a, "ann", "bob", "m6", 6_000)
	if devices, logged := cursorRows(t, s, "ann"); devices != 1 || logged != 1 {
		t.Fatalf("after the third step: %d device cursors of ann's, %d acks logged; want 1 and 1", devices, logged)
	}
	if d := rawDelivered(t, s, "ann"); d != 0 {
		t.Fatalf("after the third step ann's delivered_seq is %d, want 0 (not folded yet)", d)
	}
	if n := logTableRows(t, s); n != before+3 {
		t.Fatalf("the third commit after the absorb: the log holds %d rows, want %d (no prune yet)", n, before+3)
	}
	appendAt(t, a, "ann", "bob", "m7", 7_000)
	if after := logTableRows(t, s); after != 4 {
		t.Fatalf("the log held %d rows before the appends and %d after four; want the four alone (the prune)", before, after)
	}
	if devices, logged := cursorRows(t, s, "ann"); devices != 1 || logged != 0 {
		t.Fatalf("after the prune: %d device cursors of ann's, %d acks logged; want 1 and 0", devices, logged)
	}
	if d := rawDelivered(t, s, "ann"); d != 2 {
		t.Fatalf("after the prune ann's delivered_seq is %d, want 2", d)
	}
	if maxSeq, updated, read := rawHead(t, s, "bob"); maxSeq < 3 || updated < 3_000 || read != 3 {
		t.Fatalf("after the prune the tables hold max_seq %d, updated_at %d, bob's read_seq %d; want at least 3, 3000 and 3",
			maxSeq, updated, read)
	}
}

// rawDelivered reads user's delivery cursor in p:ann:bob as the table
// holds it, without waiting for a fold.
func rawDelivered(t *testing.T, s *Store, user string) (seq int64) {
	t.Helper()
	err := s.read.QueryRowContext(t.Context(), `SELECT delivered_seq FROM user_conversations
		WHERE app_id = 'A' AND conv_id = 'p:ann:bob' AND user_id = ?`, user).Scan(&seq)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

// The acks a prune's fold took into the devices' cursors are deleted only
// after they reached the members' cursors too, even when a full fold
// emptied the ack log in between and a new ack came: that one waits for
// the next fold, and none is lost. (With plain rowids, the new ack took
// the id of the one folded, and the last step deleted it.)
func TestAcksLoggedBetweenFoldStepsWait(t *testing.T) {
	s, a := openAnnBob(t, 3)
	ackOne(t, a, "ann", "p:ann:bob", 1)
	appendAt(t, a, "bob", "ann", "m4", 4_000)
	absorbAlone(t, s)
	appendAt(t, a, "ann", "bob", "m5", 5_000) // the conversations
	appendAt(t, a, "ann", "bob", "m6", 6_000) // the read cursors
	// The devices' cursors, from ann's ack; then in the same commit an ack
	// from a device no cache knows, which folds everything first (the ack
	// log is emptied) and is logged.
	if r := ackDevice(t, a, "bob", "d9", "p:ann:bob", 3); r.DeviceSeq != 3 {
		t.Fatalf("bob's ack on d9: %+v", r)
	}
	if devices, logged := cursorRows(t, s, "ann"); devices != 1 || logged != 1 {
		t.Fatalf("after the third step: %d device cursors of ann's, %d acks logged; want 1 and 1 (bob's)", devices, logged)
	}
	appendAt(t, a, "ann", "bob", "m7", 7_000) // the members' cursors, and the prune
	if devices, logged := cursorRows(t, s, "bob"); devices != 0 || logged != 1 {
		t.Fatalf("after the prune: %d device cursors of bob's, %d acks logged; want 0 and 1 (bob's ack waits)", devices, logged)
	}
	cursors, err := a.GetDeviceCursors(t.Context(), "bob", "d9")
	if err != nil || cursors["p:ann:bob"] != 3 {
		t.Fatalf("bob's d9 cursors: %v, %v; want p:ann:bob at 3", cursors, err)
	}
}

// A step of a prune's fold whose commit was rolled back runs again: a
// rejected append in the commit of the first step (the only one in its
// transaction) leaves the conversation's head folded by the next commit.
func TestAFoldStepRolledBackRunsAgain(t *testing.T) {
	s, a := openAnnBob(t, 2)
	appendAt(t, a, "bob", "ann", "m3", 3_000)
	absorbAlone(t, s)
	maxBefore, _, _ := rawHead(t, s, "bob")
	boom := errors.New("boom")
	if err := s.inUnfoldedTx(func(*sql.Tx) error { return boom }, nil, nil); !errors.Is(err, boom) {
		t.Fatalf("the failing transaction: %v", err)
	}
	if maxSeq, _, _ := rawHead(t, s, "bob"); maxSeq != maxBefore {
		t.Fatalf("a rolled-back step left max_seq %d, want %d", maxSeq, maxBefore)
	}
	appendAt(t, a, "ann", "bob", "m4", 4_000)
	if maxSeq, updated, _ := rawHead(t, s, "bob"); maxSeq < 3 || updated < 3_000 {
		t.Fatalf("the step run again: max_seq %d, updated_at %d; want at least 3 and 3000", maxSeq, updated)
	}
	appendAt(t, a, "ann", "bob", "m5", 5_000)
	appendAt(t, a, "ann", "bob", "m6", 6_000)
	uc, err := a.GetUserConversation(t.Context(), "bob", "p:ann:bob")
	if err != nil || uc.MaxSeq != 6 || uc.ReadSeq != 3 {
		t.Fatalf("bob's conversation: %+v, %v; want max seq 6, read seq 3", uc, err)
	}
}

// A delivery ack writes a row of the ack log only: the device's cursor and
// the member's delivery cursor reach their tables at the fold, and the
// readers of them get the folded state.
func TestAcksLeaveCursorsToTheFold(t *testing.T) {
	s, a := openAnnBob(t, 3)
	ctx := t.Context()
	ackOne(t, a, "bob", "p:ann:bob", 2)
	if r := ackOne(t, a, "bob", "p:ann:bob", 3); r.DeviceSeq != 3 || r.UserPrev != 2 || r.UserSeq != 3 {
		t.Fatalf("the second ack: %+v", r)
	}
	if devices, logged := cursorRows(t, s, ""); devices != 0 || logged != 2 {
		t.Fatalf("before the fold: %d device cursors, %d acks logged; want 0 and 2", devices, logged)
	}
	cursors, err := a.GetDeviceCursors(ctx, "bob", "d1")
	if err != nil {
		t.Fatal(err)
	}
	if cursors["p:ann:bob"] != 3 {
		t.Fatalf("bob's device cursors: %v", cursors)
	}
	uc, err := a.GetUserConversation(ctx, "bob", "p:ann:bob")
	if err != nil {
		t.Fatal(err)
	}
	if uc.DeliveredSeq != 3 {
		t.Fatalf("bob's delivery cursor %d, want 3", uc.DeliveredSeq)
	}
	if devices, logged := cursorRows(t, s, ""); devices != 1 || logged != 0 {
		t.Fatalf("after the fold: %d device cursors, %d acks logged; want 1 and 0", devices, logged)
	}
	// A cursor the fold wrote is where the next ack starts, with the
	// caches gone.
	appendAt(t, a, "ann", "bob", "m4", 4_000)
	dropCaches(s)
	if r := ackOne(t, a, "bob", "p:ann:bob", 4); r.DeviceSeq != 4 || r.UserPrev != 3 || r.UserSeq != 4 {
		t.Fatalf("the ack after the fold: %+v", r)
	}
}

// A user deleted while its acks wait in the log keeps no cursor: the
// deletion folds first, then deletes what the fold wrote.
func TestDeleteUserAfterUnfoldedAcks(t *testing.T) {
	s, a := openAnnBob(t, 1)
	ctx := t.Context()
	ackOne(t, a, "bob", "p:ann:bob", 1)
	if err := a.DeleteUser(ctx, "bob", store.UserDeletion{At: time.UnixMilli(2_000)}); err != nil {
		t.Fatal(err)
	}
	if devices, logged := cursorRows(t, s, "bob"); devices != 0 || logged != 0 {
		t.Fatalf("after bob's deletion: %d of his device cursors, %d acks logged", devices, logged)
	}
	if cursors, err := a.GetDeviceCursors(ctx, "bob", "d1"); err != nil || len(cursors) != 0 {
		t.Fatalf("bob's cursors after his deletion: %v, %v", cursors, err)
	}
}

// The restore of docs/operations.md holds when the database file's copy
// has log rows not yet folded (its conversations' max_seq behind its
// log): the messages file loses the copies of those messages, and the log
// brings them back when the restored pair opens.
func TestRestoreFromAnOnlineBackupWithUnfoldedLog(t *testing.T) {
	s, a := openAnnBob(t, 3)
	if err := s.absorb(); err != nil { // folds too
		t.Fatal(err)
	}
	appendOne(t, a, "p:ann:bob", "ann", "bob", "x") // seq 4 and 5, logged, not folded
	appendOne(t, a, "p:ann:bob", "ann", "bob", "y")
	dir := t.TempDir()
	copyWithWAL(t, s.path, filepath.Join(dir, "magpie.db")) // T1
	if maxSeq, _, _ := rawHead(t, s, "ann"); maxSeq != 3 {
		t.Fatalf("the database file's copy has max_seq %d, want 3 (the appends after it not folded)", maxSeq)
	}
	appendOne(t, a, "p:ann:bob", "ann", "bob", "z") // seq 6, only in the messages file's copy
	if err := s.absorb(); err != nil {
		t.Fatal(err)
	}
	copyWithWAL(t, MessagesPath(s.path), filepath.Join(dir, "magpie-messages.db")) // T2
	r := restoreCopies(t, dir)
	b := r.App("A")
	msgs := annBob(t, b, 5, "restored")
	if msgs[3].ClientMsgID != "x" || msgs[4].ClientMsgID != "y" {
		t.Fatalf("restored: %+v", msgs)
	}
	if c, err := b.GetConversation(t.Context(), "p:ann:bob"); err != nil || c.MaxSeq != 5 {
		t.Fatalf("restored conversation: %+v, %v; want max seq 5", c, err)
	}
	if seq := appendOne(t, b, "p:ann:bob", "ann", "bob", "new"); seq != 6 {
		t.Fatalf("a new message after the restore got seq %d, want 6", seq)
	}
	if msgs := annBob(t, b, 6, "after a new message"); msgs[5].ClientMsgID != "new" {
		t.Fatalf("after a new message: %+v", msgs)
	}
}

// TestMigrateAckIDs upgrades a database made before the ack log's ids
// (step 26) with acks waiting in it: they are folded once it opens.
func TestMigrateAckIDs(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "magpie.db")
	databaseAt(t, path, 26,
		`INSERT INTO ack_log VALUES ('A', 'bob', 'd1', 'c1', 4)`,
		`INSERT INTO ack_log VALUES ('A', 'bob', 'd1', 'c1', 5)`,
		`INSERT INTO ack_log VALUES ('A', 'bob', 'd2', 'c1', 3)`,
	)

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open a version-26 database: %v", err)
	}
	defer s.Close()
	for device, want := range map[string]int64{"d1": 5, "d2": 3} {
		cursors, err := s.App("A").GetDeviceCursors(ctx, "bob", device)
		if err != nil || cursors["c1"] != want {
			t.Errorf("bob's %s cursors after the upgrade: %v, %v; want c1 at %d", device, cursors, err, want)
		}
	}
	if _, logged := cursorRows(t, s, ""); logged != 0 {
		t.Errorf("the ack log holds %d rows after the upgrade and a read, want 0", logged)
	}
}

// absorbAlone absorbs the log, with no transaction of the writer after it
// (Store.absorb prunes too).
func absorbAlone(t testing.TB, s *Store) {
	t.Helper()
	s.abs.mu.Lock()
	err := s.absorbLocked(t.Context(), 0)
	s.abs.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
}
