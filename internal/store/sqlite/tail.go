package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// The message log and its tail.
//
// A message's durable write is one row appended to message_log, a table in
// arrival order with no index: a commit of a batch that goes to as many
// conversations and senders as it holds messages writes a few sequential
// pages, where inserting into messages dirtied a leaf page of its primary
// key (by conversation) and one of its dedup index (by sender) per
// message, each written whole to the write-ahead log at commit and again
// at checkpoint.
//
// The log is moved into messages ("absorbed") in one statement, sorted by
// conversation, so that the indexes' pages are shared by every message a
// conversation or sender got since the last move:
//   - when the tail holds absorbAt messages, or is two seconds old, by the
//     writer (writer.go);
//   - before a read of messages (Store.settle, from readRow and readRows)
//     and at the start of every exclusive write transaction (Store.inTx):
//     they see exactly what was acknowledged;
//   - when the Store opens (the log of a process that stopped) and closes.
//
// What the writer's own transactions need of the unabsorbed messages (is
// a draft a resend? the newest message a user received) comes from the
// tail, an index of the log kept in memory under writeMu. It is rebuilt
// from the table when a commit failed or another connection committed.
type tail struct {
	valid   bool
	clients map[clientKey]int64 // (app, sender, client message id) -> log rowid
	convs   map[headKey][]tailMsg
	n       int
	oldest  time.Time // when the first message of the tail was appended
}

type clientKey struct{ app, sender, client string }

// loggedIDs is what readers may know of the message log without settling
// it: the client message ids of the committed, unabsorbed log
// (ClientMsgIDsStored asks it before messages, so that a pre-send hook's
// resend lookups do not absorb the log at every batch). The writer keeps
// it under writeMu: an append's ids go in after its commit, and an absorb
// replaces the set with the tail's once it committed. So an id a reader
// does not find there was not yet acknowledged, or is in messages by the
// time the reader looks there. It is not valid (readers settle instead)
// from the moment the tail is rebuilt until the next absorb commits: a
// rebuild may see what earlier savepoints of a shared transaction logged
// and not yet committed.
type loggedIDs struct {
	mu    sync.RWMutex
	valid bool
	ids   map[clientKey]struct{}
}

// add records committed log entries; call it under writeMu.
func (l *loggedIDs) add(keys []clientKey) {
	if len(keys) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.valid {
		return
	}
	for _, k := range keys {
		l.ids[k] = struct{}{}
	}
}

// reset makes the set the tail's client ids, valid or not; call it under
// writeMu, once the tail holds only committed entries.
func (l *loggedIDs) reset(t *tail, valid bool) {
	ids := make(map[clientKey]struct{}, len(t.clients))
	if valid {
		for k := range t.clients {
			ids[k] = struct{}{}
		}
	}
	l.mu.Lock()
	l.valid, l.ids = valid, ids
	l.mu.Unlock()
}

// lookup marks in out each of app's keys that the set holds; false if the
// set is not valid.
func (l *loggedIDs) lookup(app string, keys []store.ClientMsgKey, out []bool) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if !l.valid {
		return false
	}
	for i, k := range keys {
		if k.ClientMsgID != "" {
			_, out[i] = l.ids[clientKey{app, k.SenderID, k.ClientMsgID}]
		}
	}
	return true
}

// tailMsg is what the tail keeps of one logged message.
type tailMsg struct {
	seq    int64
	sender string
}

const (
	// absorbAt is the tail's size at which the writer absorbs it. An
	// absorb holds the writer while it runs (80-150 ms for twice this many
	// messages on a shared 2-core machine); fewer per absorb share fewer
	// index pages (docs/benchmarks.md, the message log).
	absorbAt = 8192
	// defaultAbsorbAge is the tail's age at which the writer absorbs it.
	defaultAbsorbAge = 2 * time.Second
)

const (
	logColumns = `app_id, conv_id, seq, sender_id, client_msg_id, type, body, created_at, push, mentions, mention_all, search_id`
	// absorbSQL moves the log into messages, sorted so that each
	// conversation's entries are inserted together.
	absorbSQL = `INSERT INTO messages (` + logColumns + `, recalled_at, edited_at)
		SELECT ` + logColumns + `, 0, 0 FROM message_log ORDER BY app_id, conv_id, seq`
	clearLogSQL = `DELETE FROM message_log`
)

// add records a logged message in the tail; call it under writeMu.
func (t *tail) add(app string, rowid int64, seq int64, sender, client, conv string) {
	if t.clients == nil {
		t.clients = make(map[clientKey]int64)
		t.convs = make(map[headKey][]tailMsg)
	}
	if client != "" {
		t.clients[clientKey{app, sender, client}] = rowid
	}
	k := headKey{app, conv}
	t.convs[k] = append(t.convs[k], tailMsg{seq: seq, sender: sender})
	if t.n == 0 {
		t.oldest = time.Now()
	}
	t.n++
}

// clear empties the tail (the log was absorbed); call it under writeMu.
func (t *tail) clear() {
	t.clients, t.convs, t.n = nil, nil, 0
}

// client returns the log rowid of the message sender logged with client.
func (t *tail) client(app, sender, client string) (int64, bool) {
	id, ok := t.clients[clientKey{app, sender, client}]
	return id, ok
}

// lastReceived returns the newest logged seq of conv in (after, upTo] not
// sent by user.
func (t *tail) lastReceived(app, conv string, after, upTo int64, user string) (int64, bool) {
	ms := t.convs[headKey{app, conv}]
	for i := len(ms) - 1; i >= 0; i-- {
		m := ms[i]
		if m.seq <= after {
			break
		}
		if m.seq <= upTo && m.sender != user {
			return m.seq, true
		}
	}
	return 0, false
}

// ensureTail rebuilds the tail from the log table if it is not valid;
// call it under writeMu, in a write transaction.
func (s *Store) ensureTail(ctx context.Context, tx *sql.Tx) error {
	if s.tail.valid {
		return nil
	}
	s.tail.clear()
	rows, err := tx.QueryContext(ctx, `SELECT rowid, app_id, conv_id, seq, sender_id, client_msg_id FROM message_log ORDER BY rowid`)
	if err != nil {
		return fmt.Errorf("read the message log: %w", translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		var rowid, seq int64
		var app, conv, sender, client string
		if err := rows.Scan(&rowid, &app, &conv, &seq, &sender, &client); err != nil {
			return fmt.Errorf("read the message log: %w", translate(err))
		}
		s.tail.add(app, rowid, seq, sender, client, conv)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the message log: %w", translate(err))
	}
	s.tail.valid = true
	s.tailLen.Store(int64(s.tail.n))
	return nil
}

// invalidateTail makes the next writer rebuild the tail from the table;
// call it under writeMu. The log itself may hold rows: reads keep
// settling until an absorb says it is empty.
func (s *Store) invalidateTail() {
	s.tail.valid = false
	s.tail.clear()
	s.tailLen.Store(1)
	s.logged.reset(&s.tail, false)
}

// absorbIn moves the log into messages inside tx and reports whether it
// moved anything; call it under writeMu. The tail is cleared by the caller
// once the move is part of a transaction that will commit (the order of
// shared transactions), or after the commit.
func (s *Store) absorbIn(ctx context.Context, tx *sql.Tx) (bool, error) {
	if s.tailLen.Load() == 0 {
		return false, nil
	}
	res, err := tx.ExecContext(ctx, absorbSQL)
	if err != nil {
		return false, fmt.Errorf("absorb the message log: %w", translate(err))
	}
	if _, err := tx.ExecContext(ctx, clearLogSQL); err != nil {
		return false, fmt.Errorf("clear the message log: %w", translate(err))
	}
	n, _ := res.RowsAffected()
	s.absorbed.Add(n)
	return true, nil
}

// clearTail empties the tail once an absorb is part of the transaction
// (the "then" of a shared transaction): what later savepoints log starts a
// new tail. tailLen stays until the absorb committed (absorbCommitted): a
// read that found it zero before would read messages without the absorbed
// rows. Call it under writeMu.
func (s *Store) clearTail() {
	s.tail.clear()
	s.tail.valid = true
}

// absorbCommitted records that an absorb committed: the log holds only
// what the tail holds. Call it under writeMu.
func (s *Store) absorbCommitted() {
	s.tailLen.Store(int64(s.tail.n))
	s.logged.reset(&s.tail, s.tail.valid)
}

// absorbedTail is clearTail and absorbCommitted together, for a
// transaction that committed already.
func (s *Store) absorbedTail() {
	s.clearTail()
	s.absorbCommitted()
}

// absorb moves the log into messages as a shared transaction of its own
// and returns once it committed.
func (s *Store) absorb() error {
	return s.inSharedTxAfter(func(tx *sql.Tx) error {
		_, err := s.absorbIn(context.Background(), tx)
		return err
	}, s.clearTail, s.absorbCommitted)
}

// settle makes every message acknowledged so far readable in messages:
// it returns at once if the log is empty, else after an absorb.
func (s *Store) settle() error {
	if s.tailLen.Load() == 0 {
		return nil
	}
	if err := s.absorb(); err != nil {
		return fmt.Errorf("settle the message log: %w", err)
	}
	return nil
}

// absorbDue reports whether the writer should absorb the tail now; call it
// under writeMu.
func (s *Store) absorbDue() bool {
	return s.tail.n >= absorbAt || s.tail.n > 0 && time.Since(s.tail.oldest) >= s.absorbAge
}

// absorbLoop absorbs the tail when it is s.absorbAge old and nothing else
// did, until stop is closed.
func (s *Store) absorbLoop(stop <-chan struct{}) {
	t := time.NewTicker(s.absorbAge / 2)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		s.writeMu.Lock()
		due := s.absorbDue()
		s.writeMu.Unlock()
		if due {
			if err := s.absorb(); err != nil && !errors.Is(err, errClosed) {
				slog.Error("absorb the message log", "err", err)
			}
		}
	}
}

// readsMessages reports whether the read query q reads messages, which
// must settle the message log first.
func readsMessages(q string) bool {
	return strings.Contains(q, "FROM messages") || strings.Contains(q, "JOIN messages")
}

// errRow is a row whose query could not run.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
