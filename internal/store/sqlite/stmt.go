package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// stmtID names a statement that app-scoped write transactions run. They are
// prepared once on the write connection at Open; a transaction binds them
// with Tx.StmtContext, which reuses the connection's prepared statement
// instead of compiling the SQL again. Every one binds the app id as ?1.
type stmtID int

const (
	stmtInsertUser stmtID = iota
	stmtMessageByClientID
	stmtLogMessage
	stmtLogMessages8
	stmtLogMessages32
	stmtLoggedMessage
	stmtStoredClientIDs
	stmtConvHead
	stmtDataVersion
	stmtInsertConv
	stmtUpdateConv
	stmtInsertMember
	stmtRejoinMember
	stmtMemberEntries
	stmtAckState
	stmtLastReceived
	stmtReadState
	stmtSetRead
	stmtRecall
	stmtGetMessage
	stmtUseNonce
	stmtMention
	stmtMentionAll
	stmtMaxSearchID
	stmtIndexMessage
	stmtUnindexMessage
	stmtQueuedMessages
	stmtSetSearchID
	stmtPruneLog
	stmtLockDatabase
	stmtLockMessages
	stmtFoldState
	stmtFoldConv
	stmtFoldConvs8
	stmtFoldConvs32
	stmtFoldRead
	stmtFoldReads8
	stmtFoldReads32
	stmtSetFolded
	stmtLogAck
	stmtFoldDevices
	stmtFoldDelivered
	stmtClearAcks
	numStmts
)

const messageColumns = `conv_id, seq, sender_id, client_msg_id, type, body, created_at, recalled_at, push, mentions, mention_all, edited_at`

// logArgs is the number of arguments of a message's row in the message log:
// one per column of logColumns, the app id first.
const logArgs = 12

// logMessagesSQL is stmtLogMessage for n rows, each with its own app id.
func logMessagesSQL(n int) string {
	return "INSERT INTO message_log (" + logColumns + ") VALUES " + valueRows(logArgs, n)
}

// foldConvsSQL raises the heads of n conversations, a row (app id,
// conversation, its newest seq, its newest message's time) each, to the
// log's (fold.go).
func foldConvsSQL(n int) string {
	return `UPDATE conversations AS c SET max_seq = max(c.max_seq, l.column3), updated_at = max(c.updated_at, l.column4)
		FROM (VALUES ` + valueRows(foldConvArgs, n) + `) AS l
		WHERE c.app_id = l.column1 AND c.id = l.column2`
}

// foldReadsSQL raises n members' read cursors, a row (app id, user,
// conversation, the user's newest seq sent there) each, to the log's.
func foldReadsSQL(n int) string {
	return `UPDATE user_conversations AS u SET read_seq = max(u.read_seq, l.column4)
		FROM (VALUES ` + valueRows(foldReadArgs, n) + `) AS l
		WHERE u.app_id = l.column1 AND u.user_id = l.column2 AND u.conv_id = l.column3`
}

// rowsChunk is the most rows of values one statement of a multi-row
// write takes (the message log's inserts, the fold's updates); each such
// write has statements for 1, 8 and rowsChunk rows.
const rowsChunk = 32

// rowsStmt picks, for rows rows of values left, how many the next
// statement takes and which of ids (for 1, 8 and rowsChunk rows) it is.
func rowsStmt(rows int, ids [3]stmtID) (int, stmtID) {
	switch {
	case rows >= rowsChunk:
		return rowsChunk, ids[2]
	case rows >= 8:
		return 8, ids[1]
	}
	return 1, ids[0]
}

// valueRows is the VALUES list of an INSERT of n rows of cols columns. Its
// parameters are anonymous: SQLite finds a numbered one's name by a scan
// of them all (sqlite3_bind_parameter_name), once per parameter.
func valueRows(cols, n int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

var stmtSQL = [numStmts]string{
	stmtInsertUser: `INSERT INTO users (app_id, id, name, avatar_url, metadata, blocked,
		tokens_valid_after, created_at, updated_at)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
		ON CONFLICT (app_id, id) DO NOTHING`,

	stmtMessageByClientID: `SELECT ` + messageColumns + ` FROM messages
		WHERE app_id = ?1 AND sender_id = ?2 AND client_msg_id = ?3 AND client_msg_id <> ''`,
	// A new message goes to the message log (tail.go); the caller looked
	// for a duplicate first. The second reads a logged message by rowid
	// (?1 is only bound): the log holds no recalled or edited message.
	stmtLogMessage: `INSERT INTO message_log (` + logColumns + `)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)`,
	// Several messages at once (appendBatch.flushLog), each row as
	// stmtLogMessage's.
	stmtLogMessages8:  logMessagesSQL(8),
	stmtLogMessages32: logMessagesSQL(rowsChunk),
	// Which of the (sender, client message id) pairs in the JSON array ?2
	// messages holds (clientids.go), in the writer's transaction.
	stmtStoredClientIDs: clientIDsStored,
	stmtLoggedMessage: `SELECT conv_id, seq, sender_id, client_msg_id, type, body, created_at, 0, push, mentions, mention_all, 0
		FROM message_log WHERE rowid = ?2 AND ?1 IS NOT NULL`,
	stmtConvHead: `SELECT max_seq, rejoin FROM conversations WHERE app_id = ?1 AND id = ?2`,
	// Changes when another connection (another Store on the same file)
	// committed since this connection's last look; ?1 is only bound.
	stmtDataVersion: `SELECT data_version FROM pragma_data_version() WHERE ?1 IS NOT NULL`,
	stmtInsertConv: `INSERT INTO conversations (app_id, id, members, max_seq, created_at, updated_at)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6)`,
	stmtUpdateConv: `UPDATE conversations SET max_seq = ?3, updated_at = ?4, rejoin = ?5
		WHERE app_id = ?1 AND id = ?2`,
	stmtInsertMember: `INSERT INTO user_conversations (app_id, user_id, conv_id, read_seq, delivered_seq)
		VALUES (?1, ?2, ?3, 0, 0) ON CONFLICT DO NOTHING`,
	// The entry of a member who exists again (a new user with a deleted
	// user's id) in a conversation that lost it; ?4 is its first seq.
	stmtRejoinMember: `INSERT INTO user_conversations (app_id, user_id, conv_id, read_seq, delivered_seq, first_seq)
		SELECT ?1, ?2, ?3, ?4 - 1, ?4 - 1, ?4
		WHERE EXISTS (SELECT 1 FROM users WHERE app_id = ?1 AND id = ?2)
		ON CONFLICT DO NOTHING`,
	stmtMemberEntries: `SELECT COUNT(*) FROM user_conversations WHERE app_id = ?1 AND user_id = ?2 AND conv_id = ?3`,

	// One row when the user is in the conversation: the conversation's max
	// seq, the user's delivery cursor and the device's (0 if it has none).
	stmtAckState: `SELECT c.max_seq, uc.delivered_seq, COALESCE(dc.seq, 0)
		FROM user_conversations AS uc
		JOIN conversations AS c ON c.app_id = uc.app_id AND c.id = uc.conv_id
		LEFT JOIN device_cursors AS dc ON dc.app_id = uc.app_id AND dc.user_id = uc.user_id
			AND dc.device_id = ?3 AND dc.conv_id = uc.conv_id
		WHERE uc.app_id = ?1 AND uc.user_id = ?2 AND uc.conv_id = ?4`,
	// The newest message in (?3, ?4] not sent by ?5, walking the primary
	// key down from ?4: no row when the range holds only ?5's messages.
	stmtLastReceived: `SELECT seq FROM messages
		WHERE app_id = ?1 AND conv_id = ?2 AND seq > ?3 AND seq <= ?4 AND sender_id <> ?5
		ORDER BY seq DESC LIMIT 1`,
	stmtReadState: `SELECT uc.read_seq, c.max_seq
		FROM user_conversations AS uc
		JOIN conversations AS c ON c.app_id = uc.app_id AND c.id = uc.conv_id
		WHERE uc.app_id = ?1 AND uc.user_id = ?2 AND uc.conv_id = ?3`,
	stmtSetRead: `UPDATE user_conversations SET read_seq = ?4
		WHERE app_id = ?1 AND user_id = ?2 AND conv_id = ?3`,

	// A mention of ?2 in conversation ?3 at seq ?4 (no row if ?2 is not
	// a member), and of every member.
	stmtMention: `UPDATE user_conversations SET mention_seq = max(mention_seq, ?4)
		WHERE app_id = ?1 AND user_id = ?2 AND conv_id = ?3`,
	stmtMentionAll: `UPDATE conversations SET mention_all_seq = max(mention_all_seq, ?3)
		WHERE app_id = ?1 AND id = ?2`,

	// Search (search.go). The first two bind no app id (a search id is
	// unique across apps): the highest search id in use (the partial
	// index's last entry), and a message's search tokens and conversation
	// scope under its search id. The third removes a message's entry.
	stmtMaxSearchID:  `SELECT COALESCE(max(search_id), 0) FROM messages WHERE search_id > 0`,
	stmtIndexMessage: `INSERT INTO message_search (rowid, text, scope) VALUES (?1, ?2, ?3)`,
	stmtUnindexMessage: `DELETE FROM message_search WHERE rowid =
		(SELECT search_id FROM messages WHERE app_id = ?1 AND conv_id = ?2 AND seq = ?3 AND search_id > 0)`,
	// The indexer's (no app id): up to ?1 queued messages, in rowid order,
	// and the search id of the message with rowid ?1.
	stmtQueuedMessages: `SELECT rowid, app_id, conv_id, type, body, recalled_at
		FROM messages INDEXED BY messages_unindexed WHERE search_id IS NULL LIMIT ?1`,
	stmtSetSearchID: `UPDATE messages SET search_id = ?2 WHERE rowid = ?1`,

	stmtUseNonce: `INSERT INTO nonces (app_id, value, expires_at) VALUES (?1, ?2, ?3)
		ON CONFLICT (app_id, value) DO NOTHING`,

	stmtRecall: `UPDATE messages SET body = NULL, push = NULL, recalled_at = ?4, search_id = 0
		WHERE app_id = ?1 AND conv_id = ?2 AND seq = ?3 AND recalled_at = 0`,
	stmtGetMessage: `SELECT ` + messageColumns + ` FROM messages
		WHERE app_id = ?1 AND conv_id = ?2 AND seq = ?3`,

	// The message log's rows up to ?1, absorbed, but for its newest row
	// (absorber.go; no app id).
	stmtPruneLog: `DELETE FROM message_log WHERE rowid <= ?1
		AND rowid < (SELECT max(rowid) FROM message_log)`,
	// Write statements that change nothing: the first of a write
	// transaction, they take a file's write lock (Store.beginWrite).
	stmtLockDatabase: `UPDATE schema_version SET version = version WHERE 0`,
	stmtLockMessages: lockMessagesSQL,

	// The fold (fold.go): the highest log rowid folded, the log's highest
	// and the ack log's highest id (0: no ack waits); then the heads and
	// read cursors the log's tail gives, in rows of values, and the acks
	// up to id ?1 into the devices' cursors and the members' (no app id
	// bound: a fold covers every app).
	stmtFoldState: `SELECT folded, (SELECT COALESCE(max(rowid), 0) FROM message_log), (SELECT COALESCE(max(id), 0) FROM ack_log)
		FROM log_fold WHERE id = 1`,
	stmtFoldConv:    foldConvsSQL(1),
	stmtFoldConvs8:  foldConvsSQL(8),
	stmtFoldConvs32: foldConvsSQL(rowsChunk),
	stmtFoldRead:    foldReadsSQL(1),
	stmtFoldReads8:  foldReadsSQL(8),
	stmtFoldReads32: foldReadsSQL(rowsChunk),
	stmtSetFolded:   `UPDATE log_fold SET folded = ?1 WHERE id = 1`,
	stmtLogAck:      `INSERT INTO ack_log (app_id, user_id, device_id, conv_id, seq) VALUES (?1, ?2, ?3, ?4, ?5)`,
	stmtFoldDevices: `INSERT INTO device_cursors (app_id, user_id, device_id, conv_id, seq)
		SELECT app_id, user_id, device_id, conv_id, max(seq) FROM ack_log WHERE id <= ?1
		GROUP BY app_id, user_id, device_id, conv_id
		ON CONFLICT (app_id, user_id, device_id, conv_id) DO UPDATE SET seq = max(seq, excluded.seq)`,
	stmtFoldDelivered: `UPDATE user_conversations AS u SET delivered_seq = max(u.delivered_seq, l.seq)
		FROM (SELECT app_id, user_id, conv_id, max(seq) AS seq FROM ack_log WHERE id <= ?1 GROUP BY app_id, user_id, conv_id) AS l
		WHERE u.app_id = l.app_id AND u.user_id = l.user_id AND u.conv_id = l.conv_id`,
	stmtClearAcks: `DELETE FROM ack_log WHERE id <= ?1`,
}

// prepare compiles every statement on the write connection.
func (s *Store) prepare(ctx context.Context) error {
	for id, q := range stmtSQL {
		st, err := s.write.PrepareContext(ctx, q)
		if err != nil {
			s.closeStmts()
			return fmt.Errorf("prepare statement %d: %w", id, translate(err))
		}
		s.stmts[id] = st
	}
	return nil
}

func (s *Store) closeStmts() {
	for i, st := range s.stmts {
		if st != nil {
			st.Close()
			s.stmts[i] = nil
		}
	}
}

// appTx is one write transaction of one app. Its methods bind the app id as
// ?1 and use the Store's prepared statements, bound to the transaction on
// first use.
type appTx struct {
	tx *sql.Tx
	a  *appStore
	// prepared are the statements to bind, the Store's (the write
	// connection's) unless set (the absorber's).
	prepared *[numStmts]*sql.Stmt
	bound    [numStmts]*sql.Stmt
	// searchMax is the highest search id in use, once searchRead (see
	// nextSearchID).
	searchMax  int64
	searchRead bool
}

func (t *appTx) stmt(ctx context.Context, id stmtID) *sql.Stmt {
	if t.bound[id] == nil {
		p := t.prepared
		if p == nil {
			p = &t.a.s.stmts
		}
		t.bound[id] = t.tx.StmtContext(ctx, p[id])
	}
	return t.bound[id]
}

func (t *appTx) exec(ctx context.Context, id stmtID, args ...any) (sql.Result, error) {
	return t.stmt(ctx, id).ExecContext(ctx, t.a.bind(args)...)
}

func (t *appTx) queryRow(ctx context.Context, id stmtID, args ...any) *sql.Row {
	return t.stmt(ctx, id).QueryRowContext(ctx, t.a.bind(args)...)
}

// inTx runs fn in a write transaction of the app.
func (a *appStore) inTx(ctx context.Context, fn func(t *appTx) error) error {
	return a.s.inTx(ctx, func(tx *sql.Tx) error {
		return fn(&appTx{tx: tx, a: a})
	})
}

// inSharedTx is Store.inSharedTx for the app.
func (a *appStore) inSharedTx(fn func(t *appTx) error, then func()) error {
	return a.inSharedTxAfter(fn, then, nil)
}

// inUnfoldedTx is Store.inUnfoldedTx for the app.
func (a *appStore) inUnfoldedTx(fn func(t *appTx) error, then, after func()) error {
	return a.s.inUnfoldedTx(func(tx *sql.Tx) error {
		return fn(&appTx{tx: tx, a: a})
	}, then, after)
}

// inSharedTxAfter is Store.inSharedTxAfter for the app.
func (a *appStore) inSharedTxAfter(fn func(t *appTx) error, then, after func()) error {
	return a.s.inSharedTxAfter(func(tx *sql.Tx) error {
		return fn(&appTx{tx: tx, a: a})
	}, then, after)
}
