package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
// The log is moved into messages ("absorbed") by the absorber, in one
// statement sorted by conversation, so that the indexes' pages are shared
// by every message a conversation got since the last move, and by every
// key an app's senders made since (the dedup index is ordered by client
// message id, which begins with the send time; migration 0028)
// (absorber.go):
//   - when absorbAt messages wait, or half a second after the last absorb;
//   - before a read of messages (Store.settle, from readRow and readRows)
//     and before every exclusive write transaction (Store.inTx): they see
//     exactly what was acknowledged;
//   - when the Store opens (the log of a process that stopped) and closes.
//
// The writer then deletes the absorbed rows from the log ("prunes" it) in
// its next transaction. What the writer's own transactions need of the
// unpruned messages (is a draft a resend? the newest message a user
// received) comes from the tail, an index of the log kept in memory under
// writeMu. It is rebuilt from the table when a commit failed or another
// connection committed.
type tail struct {
	valid   bool
	clients map[clientKey]int64 // (app, sender, client message id) -> log rowid
	convs   map[headKey][]tailMsg
}

type clientKey struct{ app, sender, client string }

// loggedIDs is what readers may know of the message log without settling
// it: the client message ids of the committed, unabsorbed log
// (ClientMsgIDsStored asks it before messages, so that a pre-send hook's
// resend lookups do not absorb the log at every batch). The writer keeps
// it under writeMu: an append's ids go in after its commit, and a prune
// replaces the set with the tail's once it committed (after the absorb of
// those rows did). So an id a reader does not find there was not yet
// acknowledged, or is in messages by the time the reader looks there. It
// is not valid (readers settle instead) from the moment the tail is
// rebuilt until the next prune commits: a rebuild may see what earlier
// savepoints of a shared transaction logged and not yet committed.
//
// Only an app with a pre-send hook asks, so the set is kept from the first
// lookup on (wanted): until then appends add nothing to it and prunes do
// not rebuild it, which cost the writer a map insert per message and a
// map of the whole tail per prune. The first lookup finds it not valid
// (and settles); the next prune builds it.
type loggedIDs struct {
	mu     sync.RWMutex
	valid  bool
	ids    map[clientKey]struct{}
	wanted atomic.Bool
}

// keeping reports whether the set is kept (a lookup asked for it).
func (l *loggedIDs) keeping() bool { return l.wanted.Load() }

// add records committed log entries; call it under writeMu, and only
// while the set is kept (the caller skips making keys otherwise).
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
	if !l.keeping() {
		valid = false
	}
	var ids map[clientKey]struct{}
	if valid {
		ids = make(map[clientKey]struct{}, len(t.clients))
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
	if !l.keeping() {
		l.wanted.Store(true)
		return false
	}
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
	rowid, seq int64
	at         int64 // created_at, in ms
	sender     string
}

const (
	// absorbAt is the number of unabsorbed log rows at which the writer
	// wakes the absorber (absorber.go); fewer per absorb share fewer
	// index pages (docs/benchmarks.md, the message log).
	absorbAt = 8192
	// defaultAbsorbAge is how long a logged message waits for the
	// absorber at most, when fewer than absorbAt arrive.
	defaultAbsorbAge = 500 * time.Millisecond
)

const logColumns = logColumnsButSearchID + `, search_id`

// logColumnsButSearchID are logColumns without the last, search_id.
const logColumnsButSearchID = `app_id, conv_id, seq, sender_id, client_msg_id, type, body, created_at, push, mentions, mention_all`

// add records a logged message in the tail; call it under writeMu.
func (t *tail) add(app string, rowid, seq, at int64, sender, client, conv string) {
	if t.clients == nil {
		t.clients = make(map[clientKey]int64)
		t.convs = make(map[headKey][]tailMsg)
	}
	if client != "" {
		t.clients[clientKey{app, sender, client}] = rowid
	}
	k := headKey{app, conv}
	t.convs[k] = append(t.convs[k], tailMsg{rowid: rowid, seq: seq, at: at, sender: sender})
}

// clear empties the tail; call it under writeMu.
func (t *tail) clear() {
	t.clients, t.convs = nil, nil
}

// pruneTo drops the entries of log rows up to hi (pruned: in messages);
// call it under writeMu. A conversation's entries are in log order.
func (t *tail) pruneTo(hi int64) {
	for k, id := range t.clients {
		if id <= hi {
			delete(t.clients, k)
		}
	}
	for k, ms := range t.convs {
		i := 0
		for i < len(ms) && ms[i].rowid <= hi {
			i++
		}
		if i == len(ms) {
			delete(t.convs, k)
		} else if i > 0 {
			t.convs[k] = slices.Clone(ms[i:])
		}
	}
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
	rows, err := tx.QueryContext(ctx, `SELECT rowid, app_id, conv_id, seq, created_at, sender_id, client_msg_id FROM message_log WHERE seq > 0 ORDER BY rowid`)
	if err != nil {
		return fmt.Errorf("read the message log: %w", translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		var rowid, seq, at int64
		var app, conv, sender, client string
		if err := rows.Scan(&rowid, &app, &conv, &seq, &at, &sender, &client); err != nil {
			return fmt.Errorf("read the message log: %w", translate(err))
		}
		s.tail.add(app, rowid, seq, at, sender, client, conv)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the message log: %w", translate(err))
	}
	s.tail.valid = true
	return nil
}

// invalidateTail makes the next writer rebuild the tail from the table;
// call it under writeMu. Resend lookups then settle the log until a prune
// commits (loggedIDs).
func (s *Store) invalidateTail() {
	s.tailDrops.Add(1)
	s.tail.valid = false
	s.tail.clear()
	s.logged.reset(&s.tail, false)
}

// readsMessages reports whether the read query q reads messages, which
// must settle the message log first.
func readsMessages(q string) bool {
	return strings.Contains(q, "FROM messages") || strings.Contains(q, "JOIN messages")
}

// errRow is a row whose query could not run.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
