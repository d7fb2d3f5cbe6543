package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
)

// maxHeads bounds the head cache; past it, the cache starts again empty.
const maxHeads = 1 << 17

// headCache remembers the max seq of conversations that AppendMessages
// committed, so the next batch skips reading the conversation's row: in the
// one-to-one shape every batch touches a different set of conversations and
// that read was one statement per message on the single writer.
//
// It is written and trusted only under Store.writeMu, after a commit, so a
// head it holds is the committed one. It holds only conversations that exist
// and need no rejoin; a write that changes a conversation's max seq, its
// rejoin flag or its existence other than by AppendMessages (deleting a
// user) drops the cache, and so does a commit by another connection to the
// same file (another Store), seen in SQLite's data_version. A single write
// statement outside a transaction (appStore.exec) may not change it: such
// a statement is refused (changesCached).
type headCache struct {
	mu   sync.Mutex
	seqs map[headKey]head
}

type headKey struct{ app, conv string }

// head is a conversation's max seq and the sender of that message ("" for
// a system message), which lets an ack up to the head skip looking for the
// newest message its user did not send.
type head struct {
	seq    int64
	sender string
}

// get returns the conversation's cached head.
func (h *headCache) get(app, conv string) (head, bool) {
	h.mu.Lock()
	hd, ok := h.seqs[headKey{app, conv}]
	h.mu.Unlock()
	return hd, ok
}

// put records committed heads; call it under Store.writeMu, after the commit.
func (h *headCache) put(app string, convs []*convState) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seqs == nil || len(h.seqs)+len(convs) > maxHeads {
		h.seqs = make(map[headKey]head, len(convs))
	}
	for _, c := range convs {
		if c.dirty && !c.rejoin {
			h.seqs[headKey{app, c.id}] = head{seq: c.maxSeq, sender: c.lastSender}
		}
	}
}

// reset forgets every head; call it under Store.writeMu.
func (h *headCache) reset() {
	h.mu.Lock()
	h.seqs = nil
	h.mu.Unlock()
}

// cursorCache remembers the delivery cursors that AckDelivered committed
// (a device's and its user's, per conversation), so the next ack batch
// skips reading them: one read per acknowledging device and conversation
// on the single writer. It holds only users who are members (an ack from a
// non-member is read each time), is written under Store.writeMu after a
// commit, and is dropped by any other write transaction that does not
// run through inSharedTx (see Store.inTx) and by another connection's
// commit (data_version, like headCache).
type cursorCache struct {
	mu      sync.Mutex
	devices map[deviceKey]int64
	users   map[userKey]int64
}

type deviceKey struct{ app, user, device, conv string }

type userKey struct{ app, user, conv string }

// get returns a device's cursor and its user's, if both are cached.
func (c *cursorCache) get(app, user, device, conv string) (deviceSeq, userSeq int64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	deviceSeq, ok = c.devices[deviceKey{app, user, device, conv}]
	if !ok {
		return 0, 0, false
	}
	userSeq, ok = c.users[userKey{app, user, conv}]
	return deviceSeq, userSeq, ok
}

// put records a batch's committed cursors; call it under Store.writeMu.
func (c *cursorCache) put(app string, devices []*deviceCursor) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.devices == nil || len(c.devices)+len(devices) > maxHeads {
		c.devices = make(map[deviceKey]int64, len(devices))
		c.users = make(map[userKey]int64, len(devices))
	}
	for _, d := range devices {
		if d.member {
			c.devices[deviceKey{app, d.userID, d.deviceID, d.convID}] = d.seq
			c.users[userKey{app, d.userID, d.convID}] = d.user.seq
		}
	}
}

// reset forgets every cursor; call it under Store.writeMu.
func (c *cursorCache) reset() {
	c.mu.Lock()
	c.devices, c.users = nil, nil
	c.mu.Unlock()
}

// cachedState names what a statement would write if it changed a cached
// head or cursor (conversations rows, member entries coming or going, and
// delivery cursors), or what it would read or write of messages, which
// needs the message log absorbed first (tail.go).
var cachedState = []string{
	"FROM messages", "INTO messages", "UPDATE messages", // the message log (tail.go)
	"INTO conversations", "UPDATE conversations", "DELETE FROM conversations",
	"INTO user_conversations", "DELETE FROM user_conversations", "delivered_seq",
	"device_cursors",
}

// changesCached reports whether the write statement q may change what the
// caches hold; appStore.exec, which runs writes outside inTx, refuses it.
func changesCached(q string) bool {
	for _, s := range cachedState {
		if strings.Contains(q, s) {
			return true
		}
	}
	return false
}

// observe drops every cache of committed state (heads, cursors, the message
// log's tail) if another connection committed since the last look (SQLite's
// data_version moved), then makes sure the tail is loaded; call it in a
// write transaction, which keeps other connections from committing.
func (s *Store) observe(ctx context.Context, t *appTx) error {
	if s.observed {
		// Read already in this transaction, which holds the write
		// lock from BEGIN IMMEDIATE: no other connection committed.
		return s.ensureTail(ctx, t.tx)
	}
	if err := s.observeIn(ctx, t.tx); err != nil {
		return err
	}
	s.observed = true
	return nil
}

// observeIn is observe in tx, a write transaction of any app, without
// the shared transaction's memory of a look (Store.observed).
func (s *Store) observeIn(ctx context.Context, tx *sql.Tx) error {
	var version int64
	if err := tx.StmtContext(ctx, s.stmts[stmtDataVersion]).QueryRowContext(ctx, 1).Scan(&version); err != nil {
		return fmt.Errorf("read data version: %w", translate(err))
	}
	if version != s.dataVersion {
		if s.versionSeen {
			// Another connection committed: it may have put keys in the
			// log or messages that the resend filter does not hold.
			s.clients.off("another connection committed to the database")
		}
		s.dataVersion, s.versionSeen = version, true
		s.forget()
		s.invalidateTail()
	}
	return s.ensureTail(ctx, tx)
}
