package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The fold.
//
// An append changes three things besides the message log: its
// conversation's max_seq and updated_at, and its sender's read cursor
// (user_conversations.read_seq). Written by every commit, those UPDATEs
// dirtied a page of conversations and one of user_conversations per
// conversation in the batch, each written whole to the write-ahead log:
// at 5,000 msgs/s most of a commit's pages (docs/benchmarks.md, "What a
// commit writes"). The log holds all three already (a conversation's
// newest seq and time, a sender's newest seq in it), so an append for an
// existing conversation writes only its log row, and the log's rows are
// folded into those tables in bulk: one UPDATE per conversation and per
// sender's entry for every row appended since the last fold, with max()
// (a fold never moves anything back). log_fold.folded is the highest log
// rowid folded, in the same transactions, so no row is folded twice.
//
// A delivery ack likewise writes a row of the ack log (the device, its
// conversation and seq) instead of the device's cursor and the member's
// delivered_seq; the fold upserts the devices' cursors and raises the
// members' delivery cursors to the highest of their devices', then
// deletes the acks it folded.
//
// Nothing else sees the tables before the fold:
//   - a commit of the shared writer folds before every transaction that is
//     not an append or a delivery ack (sharedTx.unfolded);
//   - a prune of the log folds before it deletes rows (pruneIn), in steps
//     over the writer's commits before the prune's;
//   - inTx folds at its start;
//   - an append or an ack that reads a conversation's head from the table
//     (its cache missed) folds first, in its own transaction;
//   - a read on the read pool of max_seq (and updated_at beside it),
//     read_seq, delivered_seq or device_cursors (readsFolded) waits for a
//     fold when either log holds rows not folded (settleFold).
//
// The heads cache (heads.go) holds what the appends committed, as before.
// Another Store on the same files folds what this one appended, and the
// other way round: the state and the watermark are in the database.

// foldIn folds the log rows appended since the last fold, and the delivery
// acks; call it in a write transaction, under writeMu.
func (s *Store) foldIn(ctx context.Context, tx *sql.Tx) error {
	st, err := s.foldState(ctx, tx)
	if err != nil {
		return err
	}
	if st.high > st.folded {
		if err := s.foldLog(ctx, tx, st.folded, st.high, true, true); err != nil {
			return err
		}
		if _, err := tx.StmtContext(ctx, s.stmts[stmtSetFolded]).ExecContext(ctx, st.high); err != nil {
			return fmt.Errorf("fold the message log: %w", translate(err))
		}
	}
	if st.ackHigh > 0 {
		return s.foldAcks(ctx, tx, st.ackHigh, stmtFoldDevices, stmtFoldDelivered, stmtClearAcks)
	}
	return nil
}

// The fold's rows of values (at most rowsChunk a statement) have
// foldConvArgs (app id, conversation, newest seq, newest time) or
// foldReadArgs (app id, user, conversation, newest seq) arguments.
const (
	foldConvArgs = 4
	foldReadArgs = 4
)

// foldLog folds the log rows in (from, to] into the conversations' heads
// (heads) and the senders' read cursors (reads). What those rows hold
// comes from the tail, which indexes every row of the log once observe
// made sure no other connection changed it unseen: a GROUP BY over the
// log's rows sorted them all, twice a fold, on the writer. Call it in a
// write transaction, under writeMu.
func (s *Store) foldLog(ctx context.Context, tx *sql.Tx, from, to int64, heads, reads bool) error {
	if err := s.observeIn(ctx, tx); err != nil {
		return fmt.Errorf("fold the message log: %w", err)
	}
	convs, cursors := s.tail.folds(from, to, heads, reads)
	if err := s.execRows(ctx, tx, [3]stmtID{stmtFoldConv, stmtFoldConvs8, stmtFoldConvs32}, foldConvArgs, convs); err != nil {
		return fmt.Errorf("fold the message log: %w", translate(err))
	}
	if err := s.execRows(ctx, tx, [3]stmtID{stmtFoldRead, stmtFoldReads8, stmtFoldReads32}, foldReadArgs, cursors); err != nil {
		return fmt.Errorf("fold the message log: %w", translate(err))
	}
	return nil
}

// execRows runs args, rows of values of cols arguments each, through the
// statements ids (rowsStmt).
func (s *Store) execRows(ctx context.Context, tx *sql.Tx, ids [3]stmtID, cols int, args []any) error {
	for len(args) > 0 {
		n, id := rowsStmt(len(args)/cols, ids)
		if _, err := tx.StmtContext(ctx, s.stmts[id]).ExecContext(ctx, args[:n*cols]...); err != nil {
			return err
		}
		args = args[n*cols:]
	}
	return nil
}

// folds returns the rows of values (foldLog) of the log rows in (from,
// to]: each conversation's newest seq and time (heads), and each sender's
// newest seq in each conversation (reads; a system message, with no
// sender, moves no cursor), in the order of the tables' keys. Call it
// under writeMu.
func (t *tail) folds(from, to int64, heads, reads bool) (convs, cursors []any) {
	type readKey struct{ app, user, conv string }
	type head struct {
		k       headKey
		seq, at int64
	}
	var hs []head
	rs := map[readKey]int64{}
	for k, ms := range t.convs {
		i := len(ms) // a conversation's entries are in log order
		for i > 0 && ms[i-1].rowid > from {
			i--
		}
		h := head{k: k}
		for _, m := range ms[i:] {
			if m.rowid > to {
				break
			}
			h.seq, h.at = max(h.seq, m.seq), max(h.at, m.at)
			if reads && m.sender != "" {
				rk := readKey{k.app, m.sender, k.conv}
				rs[rk] = max(rs[rk], m.seq)
			}
		}
		if heads && h.seq > 0 {
			hs = append(hs, h)
		}
	}
	slices.SortFunc(hs, func(a, b head) int {
		return cmp.Or(strings.Compare(a.k.app, b.k.app), strings.Compare(a.k.conv, b.k.conv))
	})
	for _, h := range hs {
		convs = append(convs, h.k.app, h.k.conv, h.seq, h.at)
	}
	keys := slices.SortedFunc(maps.Keys(rs), func(a, b readKey) int {
		return cmp.Or(strings.Compare(a.app, b.app), strings.Compare(a.user, b.user), strings.Compare(a.conv, b.conv))
	})
	for _, k := range keys {
		cursors = append(cursors, k.app, k.user, k.conv, rs[k])
	}
	return convs, cursors
}

// foldState is where the fold stands: the highest log rowid folded, the
// log's highest, and the ack log's highest id (0 when no ack waits).
type foldState struct {
	folded, high, ackHigh int64
}

func (s *Store) foldState(ctx context.Context, tx *sql.Tx) (foldState, error) {
	var st foldState
	if err := tx.StmtContext(ctx, s.stmts[stmtFoldState]).QueryRowContext(ctx).Scan(&st.folded, &st.high, &st.ackHigh); err != nil {
		return st, fmt.Errorf("read the fold's state: %w", translate(err))
	}
	return st, nil
}

// foldAcks runs the statements ids of the ack fold (stmtFoldDevices:
// into the devices' cursors; stmtFoldDelivered: the members'; stmtClearAcks)
// over the delivery acks up to id to.
func (s *Store) foldAcks(ctx context.Context, tx *sql.Tx, to int64, ids ...stmtID) error {
	for _, id := range ids {
		if _, err := tx.StmtContext(ctx, s.stmts[id]).ExecContext(ctx, to); err != nil {
			return fmt.Errorf("fold the delivery acks: %w", translate(err))
		}
	}
	return nil
}

// The steps of a prune's fold (Store.pruneIn), one per commit of the
// shared writer, then the prune (in the last step's commit).
const (
	stepConvs     = iota // the conversations' heads, up to the log's highest row
	stepReads            // the senders' read cursors, to the same row; the watermark moves
	stepDevices          // the devices' cursors, from the acks up to the ack log's highest id
	stepDelivered        // the members' delivery cursors, from the same acks, which go
	stepPrune
)

// pruneCycle is a prune under way (under writeMu): the absorber's absorbs
// count and its highest absorbed rowid when it began, the log row and the
// ack its fold goes to, and the step the next commit runs (next: the step
// after the running commit's, until foldStepped). The ack log's ids are
// never used twice (migration 0027), so the acks up to acksTo are those
// stepDevices folded, less those a full fold took meanwhile.
type pruneCycle struct {
	active         bool
	absorbs        int64
	hi, to, acksTo int64
	step, next     int
}

// foldStep runs step of the prune's fold in tx and reports whether it had
// anything to do.
func (s *Store) foldStep(ctx context.Context, tx *sql.Tx, step int) (bool, error) {
	c := &s.pruning
	if step == stepDelivered {
		if c.acksTo == 0 {
			return false, nil
		}
		return true, s.foldAcks(ctx, tx, c.acksTo, stmtFoldDelivered, stmtClearAcks)
	}
	st, err := s.foldState(ctx, tx)
	if err != nil {
		return false, err
	}
	switch step {
	case stepConvs:
		c.to = st.high
		if c.to <= st.folded {
			return false, nil
		}
		return true, s.foldLog(ctx, tx, st.folded, c.to, true, false)
	case stepReads:
		// A full fold since the first step moved the watermark past to.
		if c.to <= st.folded {
			return false, nil
		}
		if err := s.foldLog(ctx, tx, st.folded, c.to, false, true); err != nil {
			return false, err
		}
		if _, err := tx.StmtContext(ctx, s.stmts[stmtSetFolded]).ExecContext(ctx, c.to); err != nil {
			return false, fmt.Errorf("fold the message log: %w", translate(err))
		}
		return true, nil
	case stepDevices:
		c.acksTo = st.ackHigh
		if c.acksTo == 0 {
			return false, nil
		}
		return true, s.foldAcks(ctx, tx, c.acksTo, stmtFoldDevices)
	}
	return false, nil
}

// foldBehindSQL reports whether the log holds rows not yet folded.
const foldBehindSQL = `SELECT (SELECT COALESCE(max(rowid), 0) FROM message_log) > (SELECT folded FROM log_fold WHERE id = 1)
	OR EXISTS (SELECT 1 FROM ack_log)`

// settleFold makes the tables hold every append committed before it was
// called: if the log holds rows not yet folded, it waits for a shared
// commit that folds them. Call it before a read of what the fold writes,
// never under writeMu.
func (s *Store) settleFold(ctx context.Context) error {
	var behind bool
	if err := s.readRowAsIs(ctx, foldBehindSQL).Scan(&behind); err != nil {
		return fmt.Errorf("read the fold's state: %w", translate(err))
	}
	if !behind {
		return nil
	}
	// A transaction that is not an append folds first (commitShared).
	return s.inSharedTx(func(*sql.Tx) error { return nil }, nil)
}

// foldedState names what the fold writes: a conversation's max_seq (and
// updated_at, read beside it), a member's read_seq and delivered_seq, and
// the devices' cursors.
var foldedState = []string{"max_seq", "read_seq", "delivered_seq", "device_cursors"}

// readsFolded reports whether the read statement q reads what the fold
// writes.
func readsFolded(q string) bool {
	for _, s := range foldedState {
		if strings.Contains(q, s) {
			return true
		}
	}
	return false
}
