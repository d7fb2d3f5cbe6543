package sqlite

import (
	"context"
	"database/sql"
	"fmt"
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
//   - a prune of the log folds before it deletes rows (pruneIn);
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

// foldIn folds the log rows appended since the last fold; call it in a
// write transaction, under writeMu.
func (s *Store) foldIn(ctx context.Context, tx *sql.Tx) error {
	var folded, hi int64
	var acks bool
	if err := tx.StmtContext(ctx, s.stmts[stmtFoldState]).QueryRowContext(ctx).Scan(&folded, &hi, &acks); err != nil {
		return fmt.Errorf("read the fold's state: %w", translate(err))
	}
	if hi > folded {
		for _, id := range []stmtID{stmtFoldConvs, stmtFoldReads} {
			if _, err := tx.StmtContext(ctx, s.stmts[id]).ExecContext(ctx, folded, hi); err != nil {
				return fmt.Errorf("fold the message log: %w", translate(err))
			}
		}
		if _, err := tx.StmtContext(ctx, s.stmts[stmtSetFolded]).ExecContext(ctx, hi); err != nil {
			return fmt.Errorf("fold the message log: %w", translate(err))
		}
	}
	if acks {
		for _, id := range []stmtID{stmtFoldDevices, stmtFoldDelivered, stmtClearAcks} {
			if _, err := tx.StmtContext(ctx, s.stmts[id]).ExecContext(ctx); err != nil {
				return fmt.Errorf("fold the delivery acks: %w", translate(err))
			}
		}
	}
	return nil
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
