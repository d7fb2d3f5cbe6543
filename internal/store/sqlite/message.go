package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// AppendMessages stores the drafts in one transaction; see
// store.MessageStore. Each conversation's max seq is read once per batch and
// advanced in memory; conversations, member entries and read cursors are
// written once per batch when the drafts have been inserted. A new
// conversation's members are its first draft's Members plus that draft's
// sender. A draft with an empty ClientMsgID is never a duplicate.
func (a *appStore) AppendMessages(ctx context.Context, drafts []store.Draft) ([]store.Appended, error) {
	if len(drafts) == 0 {
		return nil, nil
	}
	// The resend lookups in messages run here, beside the writer, whose
	// transactions are the store's serial stage; it redoes them only if
	// the tail lost entries meanwhile. A failed lookup is left to it.
	before, err := a.storedBefore(ctx, drafts)
	return a.appendMessages(ctx, drafts, before, err == nil)
}

// appendMessages is AppendMessages with the drafts' lookup in messages
// made before (storedBefore), if looked.
func (a *appStore) appendMessages(ctx context.Context, drafts []store.Draft, before storedLookup, looked bool) ([]store.Appended, error) {
	out := make([]store.Appended, len(drafts))
	var b appendBatch
	ctx = context.WithoutCancel(ctx) // it may share its transaction (inSharedTx)
	// It leaves what the log holds to the fold (fold.go).
	err := a.inUnfoldedTx(func(t *appTx) error {
		b = appendBatch{t: t, convs: make(map[string]*convState, 1), logged: make([]loggedMsg, 0, len(drafts))}
		if err := a.s.observe(ctx, t); err != nil {
			return err
		}
		if looked && before.drops == a.s.tailDrops.Load() {
			b.stored, b.storedBefore = before.stored, true
		} else if err := b.findStored(ctx, drafts); err != nil {
			return err
		}
		// Before the keys can reach the log: the resend filter holds
		// every key this Store appends (a failed append leaves a key that
		// is nowhere, which costs a lookup at most). The lookup before
		// hashed them, off the writer.
		if looked {
			a.s.clients.addHashes(before.keys)
		} else {
			a.s.clients.addDrafts(a.id, drafts)
		}
		for i, d := range drafts {
			r, err := b.append(ctx, d)
			if err != nil {
				return err
			}
			out[i] = r
		}
		return b.flush(ctx)
	}, func() {
		a.s.heads.put(a.id, b.order)
		for _, l := range b.logged {
			a.s.tail.add(a.id, l.rowid, l.seq, l.at, l.sender, l.client, l.conv)
		}
	}, func() {
		if a.s.logged.keeping() {
			a.s.logged.add(b.committedIDs(a.id))
		}
		a.s.loggedRows.Add(int64(len(b.logged)))
		if n := len(b.logged); n > 0 {
			a.s.loggedHigh.Store(max(a.s.loggedHigh.Load(), b.logged[n-1].rowid))
		}
	})
	if err != nil {
		return nil, fmt.Errorf("append messages: %w", err)
	}
	return out, nil
}

// appendBatch is the state of one AppendMessages transaction.
type appendBatch struct {
	t     *appTx
	convs map[string]*convState
	order []*convState // touched conversations, in first-touch order
	// mentions are the mentions of users, in append order, applied once
	// the entries exist.
	mentions []readMark
	// logged are the batch's rows in the message log, for the tail once
	// the batch's savepoint holds (tail.go), and the index of those with
	// a client message id.
	logged  []loggedMsg
	clients map[clientKey]int // index in logged
	// pending are the arguments (logArgs each, the app id first) of the
	// rows at the end of logged that are not inserted yet.
	pending []any
	// stored holds the drafts' (sender, client message id) pairs that
	// messages holds already (findStored), or held when storedBefore
	// looked, before the transaction.
	stored       map[clientKey]bool
	storedBefore bool
}

// committedIDs returns the client message ids the batch logged, for
// loggedIDs once it committed.
func (b *appendBatch) committedIDs(app string) []clientKey {
	var keys []clientKey
	for _, l := range b.logged {
		if l.client != "" {
			keys = append(keys, clientKey{app, l.sender, l.client})
		}
	}
	return keys
}

// loggedMsg is a message the batch appended to the message log.
type loggedMsg struct {
	rowid, seq           int64
	at                   int64 // created_at, in ms
	conv, sender, client string
}

// convState is what a batch knows about one conversation.
type convState struct {
	id       string
	exists   bool     // a row is stored; false: create it at flush
	rejoin   bool     // a member's entry was deleted: re-create it if the user exists
	firstSeq int64    // the batch's first seq in the conversation
	members  []string // for a new conversation
	maxSeq   int64
	// lastSender sent the message at maxSeq, once the batch appended one.
	lastSender string
	// mentionAll is the batch's newest seq that mentioned every member.
	mentionAll int64
	createdAt  time.Time
	updatedAt  time.Time
	dirty      bool // messages were appended
}

type readMark struct {
	userID, convID string
	seq            int64
}

func (b *appendBatch) append(ctx context.Context, d store.Draft) (store.Appended, error) {
	c, err := b.conv(ctx, d.ConvID)
	if err != nil {
		return store.Appended{}, err
	}
	m := store.Message{
		ConvID: d.ConvID, Seq: c.maxSeq + 1, SenderID: d.SenderID, ClientMsgID: d.ClientMsgID,
		Type: d.Type, Body: d.Body, Push: d.Push, CreatedAt: d.CreatedAt,
	}
	if len(d.Mentions) > 0 {
		m.Mentions = d.Mentions
	}
	m.MentionAll = d.MentionAll
	mentions, err := mentionsJSON(m.Mentions)
	if err != nil {
		return store.Appended{}, err
	}
	if d.ClientMsgID != "" {
		if dup, ok, err := b.duplicate(ctx, d); err != nil || ok {
			return dup, err
		}
	}
	// A searchable message waits for the search indexer (search_id
	// NULL, see search.go); any other has nothing to index (0).
	var searchID any
	if !store.Searchable(d.Type) {
		searchID = int64(0)
	}
	// The row is inserted with the next ones (flushLog), at the latest
	// once a full statement's rows wait, so that the arguments' slice
	// holds one statement's and is reused; its rowid is known from then
	// on.
	if b.pending == nil {
		b.pending = make([]any, 0, rowsChunk*logArgs)
	}
	b.pending = append(b.pending, b.t.a.id, m.ConvID, m.Seq, m.SenderID, m.ClientMsgID,
		m.Type, m.Body, ms(m.CreatedAt), m.Push, mentions, m.MentionAll, searchID)
	b.logged = append(b.logged, loggedMsg{seq: m.Seq, at: ms(m.CreatedAt), conv: m.ConvID, sender: m.SenderID, client: m.ClientMsgID})
	if len(b.pending) == rowsChunk*logArgs {
		if err := b.flushLog(ctx); err != nil {
			return store.Appended{}, err
		}
	}
	if m.ClientMsgID != "" {
		if b.clients == nil {
			b.clients = make(map[clientKey]int, cap(b.logged))
		}
		b.clients[clientKey{sender: m.SenderID, client: m.ClientMsgID}] = len(b.logged) - 1
	}
	if !c.exists && !c.dirty {
		c.members = store.MemberSet(d.Members, d.SenderID)
		c.createdAt = d.CreatedAt
	}
	if !c.dirty {
		c.firstSeq = m.Seq
	}
	c.maxSeq, c.lastSender, c.updatedAt, c.dirty = m.Seq, d.SenderID, d.CreatedAt, true
	for _, u := range m.Mentions {
		b.mentions = append(b.mentions, readMark{userID: u, convID: d.ConvID, seq: m.Seq})
	}
	if m.MentionAll {
		c.mentionAll = m.Seq
	}
	return store.Appended{Message: m}, nil
}

// flushLog inserts the pending rows into the message log, up to rowsChunk in a
// statement (one statement per message cost more in database/sql and in
// binding than SQLite's insert did), and gives them their rowids: the
// rows of one INSERT get consecutive ones, each the highest so far plus
// one (the log's ids only grow, see absorber.go).
func (b *appendBatch) flushLog(ctx context.Context) error {
	rows := b.logged[len(b.logged)-len(b.pending)/logArgs:]
	args := b.pending
	for len(rows) > 0 {
		n, id := rowsStmt(len(rows), [3]stmtID{stmtLogMessage, stmtLogMessages8, stmtLogMessages32})
		res, err := b.t.stmt(ctx, id).ExecContext(ctx, args[:n*logArgs]...)
		var last int64
		if err == nil {
			last, err = res.LastInsertId()
		}
		if err != nil {
			return fmt.Errorf("log messages in %s: %w", rows[0].conv, translate(err))
		}
		for i := range n {
			rows[i].rowid = last - int64(n-1-i)
		}
		rows, args = rows[n:], args[n*logArgs:]
	}
	b.pending = b.pending[:0]
	return nil
}

// duplicate returns the message that d repeats, if one is stored: in this
// batch, in the message log's tail or in messages.
func (b *appendBatch) duplicate(ctx context.Context, d store.Draft) (store.Appended, bool, error) {
	var rowid int64
	i, logged := b.clients[clientKey{sender: d.SenderID, client: d.ClientMsgID}]
	if logged {
		if err := b.flushLog(ctx); err != nil {
			return store.Appended{}, false, err
		}
		rowid = b.logged[i].rowid
	} else {
		rowid, logged = b.t.a.s.tail.client(b.t.a.id, d.SenderID, d.ClientMsgID)
	}
	var row *sql.Row
	switch {
	case logged:
		row = b.t.queryRow(ctx, stmtLoggedMessage, rowid)
	case b.stored[clientKey{sender: d.SenderID, client: d.ClientMsgID}]:
		row = b.t.queryRow(ctx, stmtMessageByClientID, d.SenderID, d.ClientMsgID)
	default:
		return store.Appended{}, false, nil
	}
	m, err := scanMessage(row)
	if errors.Is(err, sql.ErrNoRows) && !logged && b.storedBefore {
		// Erased since storedBefore looked (DeleteUser): no original.
		return store.Appended{}, false, nil
	}
	if err != nil {
		return store.Appended{}, false, fmt.Errorf("read original of %s: %w", d.ClientMsgID, translate(err))
	}
	return store.Appended{Message: m, Duplicate: true}, true, nil
}

// storedLookup is the result of storedBefore.
type storedLookup struct {
	drops  uint64 // Store.tailDrops before the lookup
	stored map[clientKey]bool
	// keys are the resend filter's hashes of the drafts' keys, of those
	// with a client message id, in order (clientFilter.addHashes).
	keys []uint64
}

// storedBefore looks up, on the read pool, which of the drafts' (sender,
// client message id) pairs messages holds, as findStored does in the
// writer's transaction. It holds there while the tail has lost no entry
// since (tailDrops): a message enters messages only from the log, and
// leaves the tail only once a prune commits, after its absorb. So a pair
// that this lookup, whose snapshot comes after the count was read, did
// not find in messages is either in the tail when the writer looks, or
// a prune moved the count. It asks only for the pairs the resend filter
// may hold (clientfilter.go), which is usually none.
func (a *appStore) storedBefore(ctx context.Context, drafts []store.Draft) (storedLookup, error) {
	l := storedLookup{drops: a.s.tailDrops.Load(), keys: make([]uint64, 0, len(drafts))}
	f := a.s.clients
	arg, err := clientPairs(drafts, func(d store.Draft) bool {
		h := f.hash(a.id, d.SenderID, d.ClientMsgID)
		l.keys = append(l.keys, h)
		return f.mayHoldHash(h)
	})
	if err != nil || arg == "" {
		return l, err
	}
	rows, err := a.s.readRowsAsIs(ctx, clientIDsStored, a.bind([]any{arg})...)
	if err != nil {
		return l, err
	}
	l.stored, err = readStored(rows)
	return l, err
}

// clientPairs returns clientIDsStored's argument for the (sender, client
// message id) pairs of the drafts that have one and that keep accepts, or
// "" if there are none. keep sees each draft that has one, in order.
func clientPairs(drafts []store.Draft, keep func(store.Draft) bool) (string, error) {
	pairs := make([][2]string, 0, len(drafts))
	for _, d := range drafts {
		if d.ClientMsgID != "" && keep(d) {
			pairs = append(pairs, [2]string{d.SenderID, d.ClientMsgID})
		}
	}
	if len(pairs) == 0 {
		return "", nil
	}
	arg, err := json.Marshal(pairs)
	return string(arg), err
}

// readStored collects the rows of clientIDsStored, the pairs messages
// holds, and closes them; nil if there are none.
func readStored(rows *sql.Rows) (map[clientKey]bool, error) {
	defer rows.Close()
	var stored map[clientKey]bool
	for rows.Next() {
		var k clientKey
		if err := rows.Scan(&k.sender, &k.client); err != nil {
			return nil, translate(err)
		}
		if stored == nil {
			stored = make(map[clientKey]bool)
		}
		stored[k] = true
	}
	return stored, translate(rows.Err())
}

// findStored looks up, in one statement, which of the drafts' (sender,
// client message id) pairs messages holds (b.stored): one index search per
// draft, without a statement's round trip each. The message log's tail is
// looked up in memory (duplicate).
func (b *appendBatch) findStored(ctx context.Context, drafts []store.Draft) error {
	tl := &b.t.a.s.tail
	arg, err := clientPairs(drafts, func(d store.Draft) bool {
		_, logged := tl.client(b.t.a.id, d.SenderID, d.ClientMsgID)
		return !logged
	})
	if err != nil || arg == "" {
		return err
	}
	rows, err := b.t.stmt(ctx, stmtStoredClientIDs).QueryContext(ctx, b.t.a.id, arg)
	if err == nil {
		b.stored, err = readStored(rows)
	}
	if err != nil {
		return fmt.Errorf("look for resent messages: %w", translate(err))
	}
	return nil
}

// conv returns the batch's state of a conversation, reading its max seq on
// first use, from the head cache if it has it.
func (b *appendBatch) conv(ctx context.Context, id string) (*convState, error) {
	if c, ok := b.convs[id]; ok {
		return c, nil
	}
	c := &convState{id: id, exists: true}
	var err error
	if hd, ok := b.t.a.s.heads.get(b.t.a.id, id); ok {
		c.maxSeq = hd.seq
	} else if err = b.t.a.s.foldIn(ctx, b.t.tx); err == nil { // the table's head is the log's
		err = b.t.queryRow(ctx, stmtConvHead, id).Scan(&c.maxSeq, &c.rejoin)
	}
	if errors.Is(err, sql.ErrNoRows) {
		c.exists = false
	} else if err != nil {
		return nil, fmt.Errorf("read conversation %s: %w", id, translate(err))
	}
	b.convs[id] = c
	b.order = append(b.order, c)
	return c, nil
}

// flush writes the conversations the batch created or whose members it
// brought back, and the mentions; the other conversations' heads and the
// senders' read cursors are the fold's (fold.go).
func (b *appendBatch) flush(ctx context.Context) error {
	if err := b.flushLog(ctx); err != nil {
		return err
	}
	for _, c := range b.order {
		if !c.dirty {
			continue
		}
		if err := b.saveConv(ctx, c); err != nil {
			return fmt.Errorf("save conversation %s: %w", c.id, err)
		}
	}
	for _, r := range b.mentions {
		if _, err := b.t.exec(ctx, stmtMention, r.userID, r.convID, r.seq); err != nil {
			return fmt.Errorf("mention %s in %s: %w", r.userID, r.convID, translate(err))
		}
	}
	for _, c := range b.order {
		if c.mentionAll > 0 {
			if _, err := b.t.exec(ctx, stmtMentionAll, c.id, c.mentionAll); err != nil {
				return fmt.Errorf("mention all in %s: %w", c.id, translate(err))
			}
		}
	}
	return nil
}

func (b *appendBatch) saveConv(ctx context.Context, c *convState) error {
	if c.exists {
		if !c.rejoin {
			return nil // its head is the log's, until the fold
		}
		if err := b.rejoin(ctx, c); err != nil {
			return err
		}
		_, err := b.t.exec(ctx, stmtUpdateConv, c.id, c.maxSeq, ms(c.updatedAt), c.rejoin)
		return translate(err)
	}
	members, err := toJSON(c.members)
	if err != nil {
		return err
	}
	_, err = b.t.exec(ctx, stmtInsertConv, c.id, members, c.maxSeq, ms(c.createdAt), ms(c.updatedAt))
	if err != nil {
		return translate(err)
	}
	for _, u := range c.members {
		if _, err := b.t.exec(ctx, stmtInsertMember, u, c.id); err != nil {
			return translate(err)
		}
	}
	return nil
}

// rejoin re-creates the entries of the conversation's members who exist
// but have none (users deleted and created again), starting at the batch's
// first seq, and clears c.rejoin once every member has an entry.
func (b *appendBatch) rejoin(ctx context.Context, c *convState) error {
	var members string
	err := b.t.tx.QueryRowContext(ctx, `SELECT members FROM conversations WHERE app_id = ?1 AND id = ?2`,
		b.t.a.bind([]any{c.id})...).Scan(&members)
	var users []string
	if err == nil {
		err = fromJSON(members, &users)
	}
	if err != nil {
		return translate(err)
	}
	complete := true
	for _, u := range users {
		if _, err := b.t.exec(ctx, stmtRejoinMember, u, c.id, c.firstSeq); err != nil {
			return translate(err)
		}
		var n int
		if err := b.t.queryRow(ctx, stmtMemberEntries, u, c.id).Scan(&n); err != nil {
			return translate(err)
		}
		complete = complete && n == 1
	}
	c.rejoin = !complete
	return nil
}

// GetMessage returns one message, or store.ErrNotFound.
func (a *appStore) GetMessage(ctx context.Context, convID string, seq int64) (store.Message, error) {
	row := a.queryRow(ctx,
		`SELECT `+messageColumns+` FROM messages WHERE app_id = ?1 AND conv_id = ?2 AND seq = ?3`,
		convID, seq)
	m, err := scanMessage(row)
	if err != nil {
		return store.Message{}, fmt.Errorf("get message %s/%d: %w", convID, seq, translate(err))
	}
	return m, nil
}

// GetMessageByClientID returns the message senderID stored with
// clientMsgID, or store.ErrNotFound.
func (a *appStore) GetMessageByClientID(ctx context.Context, senderID, clientMsgID string) (store.Message, error) {
	m, err := scanMessage(a.queryRow(ctx, `SELECT `+messageColumns+` FROM messages
		WHERE app_id = ?1 AND sender_id = ?2 AND client_msg_id = ?3 AND client_msg_id <> ''`, senderID, clientMsgID))
	if err != nil {
		return store.Message{}, fmt.Errorf("get message %s of %s: %w", clientMsgID, senderID, translate(err))
	}
	return m, nil
}

// ListMessages returns up to r.Limit messages of a conversation with seq in
// [r.From, r.To] (To zero: no upper bound), ascending or, with r.Desc,
// descending.
func (a *appStore) ListMessages(ctx context.Context, convID string, r store.Range) ([]store.Message, error) {
	if r.Limit <= 0 {
		return nil, fmt.Errorf("list messages of %s: limit %d is not positive", convID, r.Limit)
	}
	to := r.To
	if to == 0 {
		to = math.MaxInt64
	}
	order := "ASC"
	if r.Desc {
		order = "DESC"
	}
	rows, err := a.query(ctx,
		`SELECT `+messageColumns+` FROM messages
		WHERE app_id = ?1 AND conv_id = ?2 AND seq BETWEEN ?3 AND ?4
		ORDER BY seq `+order+` LIMIT ?5`,
		convID, r.From, to, r.Limit)
	if err != nil {
		return nil, fmt.Errorf("list messages of %s: %w", convID, translate(err))
	}
	msgs, err := collect(rows, scanMessage)
	if err != nil {
		return nil, fmt.Errorf("list messages of %s: %w", convID, err)
	}
	return msgs, nil
}

// RecallMessage marks a message recalled at the given time and erases its
// body and push options; a message recalled before keeps its first recall time.
func (a *appStore) RecallMessage(ctx context.Context, convID string, seq int64, at time.Time) (store.Message, error) {
	var m store.Message
	err := a.inTx(ctx, func(t *appTx) error {
		// Out of the search index first: its entry is found by search_id,
		// which the recall zeroes.
		if _, err := t.exec(ctx, stmtUnindexMessage, convID, seq); err != nil {
			return translate(err)
		}
		if _, err := t.exec(ctx, stmtRecall, convID, seq, ms(at)); err != nil {
			return translate(err)
		}
		var err error
		m, err = scanMessage(t.queryRow(ctx, stmtGetMessage, convID, seq))
		return translate(err)
	})
	if err != nil {
		return store.Message{}, fmt.Errorf("recall message %s/%d: %w", convID, seq, err)
	}
	return m, nil
}

func scanMessage(r scanner) (store.Message, error) {
	var m store.Message
	var created, recalled, edited int64
	var mentions sql.NullString
	err := r.Scan(&m.ConvID, &m.Seq, &m.SenderID, &m.ClientMsgID, &m.Type, &m.Body, &created, &recalled, &m.Push,
		&mentions, &m.MentionAll, &edited)
	if err != nil {
		return m, err
	}
	if err := fromJSON(mentions.String, &m.Mentions); err != nil {
		return m, fmt.Errorf("decode mentions: %w", err)
	}
	m.CreatedAt, m.RecalledAt, m.EditedAt = fromMS(created), fromMS(recalled), fromMS(edited)
	return m, nil
}

// GetConversation returns a conversation, or store.ErrNotFound.
func (a *appStore) GetConversation(ctx context.Context, convID string) (store.Conversation, error) {
	var c store.Conversation
	var members string
	var created, updated int64
	err := a.queryRow(ctx,
		`SELECT id, members, max_seq, created_at, updated_at FROM conversations
		WHERE app_id = ?1 AND id = ?2`, convID).
		Scan(&c.ID, &members, &c.MaxSeq, &created, &updated)
	if err == nil {
		err = fromJSON(members, &c.Members)
	}
	if err != nil {
		return store.Conversation{}, fmt.Errorf("get conversation %s: %w", convID, translate(err))
	}
	c.CreatedAt, c.UpdatedAt = fromMS(created), fromMS(updated)
	return c, nil
}

// GetUserConversation returns one user's view of a conversation.
func (a *appStore) GetUserConversation(ctx context.Context, userID, convID string) (store.UserConversation, error) {
	row := a.queryRow(ctx,
		`SELECT `+userConversationColumns+`
		FROM user_conversations AS uc
		JOIN conversations AS c ON c.app_id = uc.app_id AND c.id = uc.conv_id
		WHERE uc.app_id = ?1 AND uc.user_id = ?2 AND uc.conv_id = ?3`,
		userID, convID)
	uc, err := scanUserConversation(row)
	if err != nil {
		return store.UserConversation{}, fmt.Errorf("get conversation %s of %s: %w", convID, userID, translate(err))
	}
	return uc, nil
}

// ListUserConversations returns up to limit of a user's conversations with
// id > after, by id.
func (a *appStore) ListUserConversations(ctx context.Context, userID, after string, limit int) ([]store.UserConversation, error) {
	rows, err := a.query(ctx,
		`SELECT `+userConversationColumns+`
		FROM user_conversations AS uc
		JOIN conversations AS c ON c.app_id = uc.app_id AND c.id = uc.conv_id
		WHERE uc.app_id = ?1 AND uc.user_id = ?2 AND uc.conv_id > ?3
		ORDER BY uc.conv_id LIMIT ?4`,
		userID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list conversations of %s: %w", userID, translate(err))
	}
	ucs, err := collect(rows, scanUserConversation)
	if err != nil {
		return nil, fmt.Errorf("list conversations of %s: %w", userID, err)
	}
	return ucs, nil
}

const userConversationColumns = `uc.conv_id, c.members, c.max_seq, uc.read_seq, uc.delivered_seq, uc.first_seq, uc.muted,
	max(uc.mention_seq, CASE WHEN c.mention_all_seq >= uc.first_seq THEN c.mention_all_seq ELSE 0 END),
	uc.pinned_at, uc.draft, uc.cleared_seq, c.updated_at`

func scanUserConversation(r scanner) (store.UserConversation, error) {
	var uc store.UserConversation
	var members string
	var pinned, updated int64
	err := r.Scan(&uc.ConvID, &members, &uc.MaxSeq, &uc.ReadSeq, &uc.DeliveredSeq, &uc.FirstSeq, &uc.Muted,
		&uc.MentionSeq, &pinned, &uc.Draft, &uc.ClearedSeq, &updated)
	uc.PinnedAt = fromMS(pinned)
	if err != nil {
		return uc, err
	}
	if err := fromJSON(members, &uc.Members); err != nil {
		return uc, fmt.Errorf("decode members: %w", err)
	}
	uc.UpdatedAt = fromMS(updated)
	return uc, nil
}

// mentionsJSON encodes a message's mentions; none is NULL.
func mentionsJSON(ids []string) (any, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	return toJSON(ids)
}

// SetConversationPrefs changes the user's own settings of a conversation in
// one statement: see store.ConvPrefs.
func (a *appStore) SetConversationPrefs(ctx context.Context, userID, convID string, p store.ConvPrefs) (store.UserConversation, error) {
	var pinned any
	if p.Pinned != nil {
		pinned = *p.Pinned
	}
	var draft any
	if p.Draft != nil {
		draft = *p.Draft
	}
	res, err := a.exec(ctx, `UPDATE user_conversations SET
		pinned_at = CASE WHEN ?4 IS NULL THEN pinned_at WHEN ?4 THEN (CASE WHEN pinned_at = 0 THEN ?7 ELSE pinned_at END) ELSE 0 END,
		draft = COALESCE(?5, draft),
		cleared_seq = max(cleared_seq, min(?6, (SELECT max_seq FROM conversations WHERE app_id = ?1 AND id = ?3))),
		read_seq = max(read_seq, min(?6, (SELECT max_seq FROM conversations WHERE app_id = ?1 AND id = ?3)))
		WHERE app_id = ?1 AND user_id = ?2 AND conv_id = ?3`,
		userID, convID, pinned, draft, p.ClearTo, ms(p.At))
	if err := mustAffect(res, err); err != nil {
		return store.UserConversation{}, fmt.Errorf("set preferences of %s in %s: %w", userID, convID, err)
	}
	return a.GetUserConversation(ctx, userID, convID)
}
