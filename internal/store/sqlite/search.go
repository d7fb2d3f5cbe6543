package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// Keyword search (store.SearchStore) on the FTS5 table message_search
// (migration 0017). Each searchable message has one row there, whose rowid
// is the message's search_id: its tokens (store.MessageIndexTokens) in
// column text, and in column scope a token naming its app and conversation
// (scopeToken).
//
// Indexing is asynchronous, off the append path: FTS5 writes a segment per
// transaction and merges them as they pile up, which costs the group commit
// several times its own work (see docs/search.md for the figures).
// AppendMessages only leaves a searchable message's search_id NULL in the
// message log. Each absorb, on the absorber's connection (absorber.go),
// never the writer's, gives the messages it moves their search ids and
// index entries (absorbIndexed). A message whose search_id is NULL in
// messages (one stored before an upgrade) waits in the partial
// index messages_unindexed, which the indexer drains on the same
// connection: after each absorb, every index interval
// (DefaultIndexInterval, in transactions of up to indexChunk), and before
// every search (up to maxCatchUp messages), so that a search finds every
// message stored before it began, unless more than maxCatchUp were queued:
// those are found within an interval or two. Edits,
// recalls and erasures change the index in their own transaction, so an
// edited message is never found by its old text, nor a recalled or erased
// one at all.
//
// A search matches the query's terms in text and, for a user with at most
// maxScopeTokens conversations, one of the user's scope tokens in scope:
// the index then hands out only the user's own matching messages, whatever
// the size of the app. The join with the messages and the user's entries
// checks everything else (app, membership, first seq, cleared history,
// recall, filters).

// DefaultIndexInterval is how often the search indexer runs by default.
const DefaultIndexInterval = 500 * time.Millisecond

// Indexer batches: messages per transaction, and the most a search indexes
// before it reads.
const (
	indexChunk = 500
	maxCatchUp = 5000
)

// maxScopeTokens bounds the conversations named in a search's match
// expression; a user with more is searched without the scope (the join
// filters the app's other messages out).
const maxScopeTokens = 500

// scopeToken names an app's conversation in the index: a letter and 20 hex
// digits of a SHA-256, a single token for the tokenizer, the same for every
// message of the conversation and (but for a 2^-80 chance) for no other.
func scopeToken(appID, convID string) string {
	h := sha256.New()
	h.Write([]byte(appID))
	h.Write([]byte{0})
	h.Write([]byte(convID))
	return "k" + hex.EncodeToString(h.Sum(nil)[:10])
}

// nextSearchID returns the search id for the next message the transaction
// indexes: one above the highest in use, read once per transaction (the
// write lock is held, so no other writer allocates meanwhile). The caller
// sets t.searchMax once the id is used.
func (t *appTx) nextSearchID(ctx context.Context) (int64, error) {
	if !t.searchRead {
		if err := t.stmt(ctx, stmtMaxSearchID).QueryRowContext(ctx).Scan(&t.searchMax); err != nil {
			return 0, fmt.Errorf("read search ids: %w", translate(err))
		}
		t.searchRead = true
	}
	return t.searchMax + 1, nil
}

// index adds a message's entry to the search index.
func (t *appTx) index(ctx context.Context, id int64, tokens, scope string) error {
	_, err := t.stmt(ctx, stmtIndexMessage).ExecContext(ctx, id, tokens, scope)
	return translate(err)
}

// reindex replaces the search entry of a message after its body changed
// (EditMessage): the old entry goes, and the new body's tokens, if any,
// get a new one.
func (t *appTx) reindex(ctx context.Context, m store.Message) error {
	if _, err := t.exec(ctx, stmtUnindexMessage, m.ConvID, m.Seq); err != nil {
		return translate(err)
	}
	var id int64
	if tokens := store.MessageIndexTokens(m.Type, m.Body); tokens != "" {
		var err error
		if id, err = t.nextSearchID(ctx); err != nil {
			return err
		}
		if err := t.index(ctx, id, tokens, scopeToken(t.a.id, m.ConvID)); err != nil {
			return err
		}
		t.searchMax = id
	}
	_, err := t.txExec(ctx, `UPDATE messages SET search_id = ?4 WHERE app_id = ?1 AND conv_id = ?2 AND seq = ?3`,
		m.ConvID, m.Seq, id)
	return err
}

// searchSQL is the search query. ?1 app, ?2 user, ?3 match expression,
// ?4 conversation (empty: all), ?5 sender (empty: any), ?6 the types as
// ",a,b," (empty: any), ?7 and ?8 the created_at bounds, ?9 whether to
// continue after (?10 created_at, ?11 conversation, ?12 seq), ?13 limit.
//
// CROSS JOIN keeps the planner's order: the index hands out the matches,
// each joined to its message by search id and to the user's entry.
var searchSQL = `SELECT m.` + strings.ReplaceAll(messageColumns, ", ", ", m.") + `
	FROM message_search AS f
	CROSS JOIN messages AS m INDEXED BY messages_search ON m.search_id = f.rowid
	CROSS JOIN user_conversations AS uc ON uc.app_id = m.app_id AND uc.user_id = ?2 AND uc.conv_id = m.conv_id
	WHERE message_search MATCH ?3 AND m.search_id > 0 AND m.app_id = ?1 AND m.recalled_at = 0
		AND m.seq >= uc.first_seq AND m.seq > uc.cleared_seq
		AND (?4 = '' OR m.conv_id = ?4)
		AND (?5 = '' OR m.sender_id = ?5)
		AND (?6 = '' OR instr(?6, ',' || m.type || ',') > 0)
		AND m.created_at BETWEEN ?7 AND ?8
		AND (NOT ?9 OR m.created_at < ?10 OR (m.created_at = ?10
			AND (m.conv_id < ?11 OR (m.conv_id = ?11 AND m.seq < ?12))))
	ORDER BY m.created_at DESC, m.conv_id DESC, m.seq DESC
	LIMIT ?13`

// SearchMessages finds a user's messages by keyword; see store.SearchStore.
func (a *appStore) SearchMessages(ctx context.Context, q store.MessageSearch) ([]store.Message, error) {
	if q.Limit <= 0 || len(q.Terms) == 0 || q.UserID == "" {
		return nil, fmt.Errorf("search messages: need a user, terms and a positive limit")
	}
	if err := a.s.catchUp(ctx); err != nil {
		return nil, fmt.Errorf("search messages of %s: %w", q.UserID, err)
	}
	scopes := []string{q.ConvID}
	if q.ConvID == "" {
		var err error
		if scopes, err = a.searchScopes(ctx, q.UserID); err != nil {
			return nil, fmt.Errorf("search messages of %s: %w", q.UserID, err)
		}
		if len(scopes) == 0 {
			return nil, nil
		}
	}
	types := ""
	if len(q.Types) > 0 {
		types = "," + strings.Join(q.Types, ",") + ","
	}
	from, to := int64(math.MinInt64), int64(math.MaxInt64)
	if !q.From.IsZero() {
		from = ms(q.From)
	}
	if !q.To.IsZero() {
		to = ms(q.To)
	}
	var after store.SearchKey
	if q.After != nil {
		after = *q.After
	}
	rows, err := a.query(ctx, searchSQL, q.UserID, matchExpr(a.id, q.Terms, scopes), q.ConvID, q.SenderID, types,
		from, to, q.After != nil, ms(after.CreatedAt), after.ConvID, after.Seq, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("search messages of %s: %w", q.UserID, translate(err))
	}
	msgs, err := collect(rows, scanMessage)
	if err != nil {
		return nil, fmt.Errorf("search messages of %s: %w", q.UserID, err)
	}
	return msgs, nil
}

// searchScopes returns the ids of the user's conversations, or none if it
// has more than maxScopeTokens (the search then goes without its scope).
func (a *appStore) searchScopes(ctx context.Context, userID string) ([]string, error) {
	rows, err := a.query(ctx, `SELECT conv_id FROM user_conversations WHERE app_id = ?1 AND user_id = ?2
		ORDER BY conv_id LIMIT ?3`, userID, maxScopeTokens+1)
	if err != nil {
		return nil, translate(err)
	}
	ids, err := collect(rows, func(r scanner) (string, error) {
		var id string
		return id, r.Scan(&id)
	})
	if err != nil {
		return nil, err
	}
	if len(ids) > maxScopeTokens {
		return []string{""}, nil
	}
	return ids, nil
}

// matchExpr is the FTS5 expression of a search: every term as a quoted
// phrase whose last token is a prefix, in column text, and one of the
// scopes (conversation ids; "" for none) in column scope. The tokens hold
// letters and digits only (store.ParseSearchQuery), and quotes are doubled
// all the same: nothing of the query is read as FTS5 syntax.
func matchExpr(appID string, terms []store.SearchTerm, scopes []string) string {
	var b strings.Builder
	b.WriteString("text : (")
	for i, t := range terms {
		if i > 0 {
			b.WriteString(" AND ")
		}
		b.WriteByte('"')
		b.WriteString(strings.ReplaceAll(strings.Join(t, " "), `"`, `""`))
		b.WriteString(`"*`)
	}
	b.WriteByte(')')
	if len(scopes) > 0 && scopes[0] != "" {
		b.WriteString(" AND scope : (")
		for i, c := range scopes {
			if i > 0 {
				b.WriteString(" OR ")
			}
			b.WriteString(scopeToken(appID, c))
		}
		b.WriteByte(')')
	}
	return b.String()
}

// searchQueueSQL names the messages waiting for the indexer.
const searchQueueSQL = `FROM messages INDEXED BY messages_unindexed WHERE search_id IS NULL`

// searchQueuedSQL asks whether messages wait for the indexer.
const searchQueuedSQL = `SELECT EXISTS (SELECT 1 ` + searchQueueSQL + `)`

// indexer is the search indexer's state; the absorber's loop runs it in
// the background (absorber.go).
type indexer struct {
	catchUp sync.Mutex // held by the search catching up (see catchUp)
}

// indexQueued indexes the queued messages, in chunks, until none is left
// or, with limit > 0, about limit were indexed; it returns how many. It
// indexes messages, not the message log (tail.go): a search settles the
// log first (catchUp), the background indexer leaves the log to its own
// schedule so that each absorb moves many messages per conversation.
func (s *Store) indexQueued(ctx context.Context, limit int) (int, error) {
	total := 0
	for limit <= 0 || total < limit {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := s.indexSome(ctx, indexChunk)
		total += n
		if err != nil || n < indexChunk {
			return total, err
		}
	}
	return total, nil
}

// catchUp indexes what is queued, up to maxCatchUp messages, before a
// search reads; a queue that is empty costs one read of the partial
// index.
//
// Concurrent searches share one catch-up: the others wait for it and find
// the queue empty, so a burst of searches costs one indexing transaction,
// not one each.
func (s *Store) catchUp(ctx context.Context) error {
	queued := func() (bool, error) {
		var q bool
		err := s.readRow(ctx, searchQueuedSQL).Scan(&q)
		if err != nil {
			return false, fmt.Errorf("read the search queue: %w", translate(err))
		}
		return q, nil
	}
	if q, err := queued(); err != nil || !q {
		return err
	}
	s.indexer.catchUp.Lock()
	defer s.indexer.catchUp.Unlock()
	if q, err := queued(); err != nil || !q {
		return err
	}
	_, err := s.indexQueued(ctx, maxCatchUp)
	return err
}

// indexSome indexes up to limit queued messages in one transaction of the
// absorber's (the messages file's writer), in rowid order, and returns how
// many it took from the queue.
func (s *Store) indexSome(ctx context.Context, limit int) (int, error) {
	ctx = context.WithoutCancel(ctx) // a chunk, once begun, commits
	s.abs.mu.Lock()
	defer s.abs.mu.Unlock()
	n, err := s.inAbsorberTx(ctx, func(tx *sql.Tx) (int, error) { return s.indexIn(ctx, tx, limit) })
	if err != nil {
		return 0, fmt.Errorf("index messages for search: %w", err)
	}
	return n, nil
}

// SearchQueue counts the messages waiting for the search index in the
// messages file: those a pressed absorber left there (pressure.go), and an
// upgrade's backlog. Messages still in the log are not counted, so the
// count does not settle the log: a scrape must not make the store absorb.
func (s *Store) SearchQueue(ctx context.Context) (int64, error) {
	var n int64
	if err := s.readRowAsIs(ctx, `SELECT count(*) `+searchQueueSQL).Scan(&n); err != nil {
		return 0, fmt.Errorf("count the search queue: %w", translate(err))
	}
	return n, nil
}

// indexShare is the share of the time since its last run that the
// absorber loop's indexer may spend while the absorber is pressed.
const indexShare = 0.1

// indexIdle is the absorber loop's indexer: it indexes queued messages a
// chunk at a time until none is left or an absorb is due (absorbs go
// first: the log must not grow behind a long catch-up), and while the
// absorber is pressed (pressure.go) for at most indexShare of since, the
// time since its last run; one chunk at least, so that the queue still
// moves under a load that lasts.
func (s *Store) indexIdle(ctx context.Context, absorbAge, since time.Duration) {
	if !s.searchQueued(ctx) {
		return
	}
	budget := time.Duration(float64(since) * indexShare)
	var spent time.Duration
	for ctx.Err() == nil {
		start := time.Now()
		s.abs.mu.Lock()
		pressed := s.abs.press.on(start, s.logBacklog())
		s.abs.mu.Unlock()
		n, err := s.indexSome(ctx, indexChunk)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("sqlite: index messages for search", "err", err)
			}
			return
		}
		spent += time.Since(start)
		if n < indexChunk || pressed && spent >= budget || s.absorbDue(absorbAge) {
			return
		}
	}
}

// absorberTx wraps a transaction of the absorber's (no app: its
// statements name the app themselves).
func (s *Store) absorberTx(tx *sql.Tx) *appTx {
	return &appTx{tx: tx, a: &appStore{s: s}, prepared: &s.abs.stmts}
}

// toIndex is a message read for the search index: key names its row
// (its rowid in the queue, its search id once absorbed), tokens are
// its search tokens ("" for none).
type toIndex struct {
	key               int64
	app, conv, tokens string
}

// readToIndex reads rows of (key, app_id, conv_id, type, body,
// recalled_at), the messages to index, and closes them; a recalled one
// has no tokens. Those whose key keep rejects are left out. n is how many
// rows to expect at most (the slice's first capacity).
func readToIndex(rows *sql.Rows, n int, keep func(key int64) bool) ([]toIndex, error) {
	defer rows.Close()
	out := make([]toIndex, 0, n)
	for rows.Next() {
		var m toIndex
		var typ string
		var body []byte
		var recalled int64
		if err := rows.Scan(&m.key, &m.app, &m.conv, &typ, &body, &recalled); err != nil {
			return nil, translate(err)
		}
		if !keep(m.key) {
			continue
		}
		if recalled == 0 {
			m.tokens = store.MessageIndexTokens(typ, body)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, translate(err)
	}
	return out, translate(rows.Close())
}

// scopes caches the scope tokens of the conversations an indexing
// transaction meets: a conversation's messages come together (the
// absorber copies them sorted), its token is hashed once.
type scopes map[[2]string]string

func (c scopes) token(app, conv string) string {
	k := [2]string{app, conv}
	tok, ok := c[k]
	if !ok {
		tok = scopeToken(app, conv)
		c[k] = tok
	}
	return tok
}

// absorbIndexed copies the log rows in (lo, hi] into messages (absorbSQL)
// and indexes for search those it inserted, giving the searchable ones
// search ids from base up, in t, the absorb's transaction; it returns when
// the copy ended (the rows read back and tokenized), before the indexing. A message
// whose body has no search text after all gets search id 0, as the
// queue's indexer would give it.
func (t *appTx) absorbIndexed(ctx context.Context, lo, hi, base int64) (time.Time, error) {
	// A statement per absorbChunk rows, as a pressed absorb; the rows of
	// (from, to] get search ids above base-1+(from-lo), so no two
	// statements give the same one.
	todo := make([]toIndex, 0, int(min(hi-lo, maxIndexPerAbsorb)))
	for from := lo; from < hi; from += absorbChunk {
		rows, err := t.tx.QueryContext(ctx, absorbSQL, from, min(hi, from+absorbChunk), base-1+(from-lo))
		if err != nil {
			return time.Now(), translate(err)
		}
		more, err := readToIndex(rows, int(min(hi-from, absorbChunk)), func(id int64) bool { return id >= base }) // 0: nothing to index
		if err != nil {
			return time.Now(), err
		}
		todo = append(todo, more...)
	}
	moved := time.Now()
	sc := scopes{}
	for _, m := range todo {
		if m.tokens == "" {
			if _, err := t.tx.ExecContext(ctx, `UPDATE messages SET search_id = 0 WHERE search_id = ?1`, m.key); err != nil {
				return moved, fmt.Errorf("index absorbed messages: %w", translate(err))
			}
			continue
		}
		if err := t.index(ctx, m.key, m.tokens, sc.token(m.app, m.conv)); err != nil {
			return moved, fmt.Errorf("index absorbed messages: %w", err)
		}
		t.searchMax = max(t.searchMax, m.key)
	}
	return moved, nil
}

// indexIn indexes up to limit queued messages in the absorber's
// transaction tx, in rowid order, and returns how many it took from the
// queue.
func (s *Store) indexIn(ctx context.Context, tx *sql.Tx, limit int) (int, error) {
	t := s.absorberTx(tx)
	rows, err := t.stmt(ctx, stmtQueuedMessages).QueryContext(ctx, limit)
	if err != nil {
		return 0, translate(err)
	}
	todo, err := readToIndex(rows, min(limit, maxIndexPerAbsorb), func(int64) bool { return true })
	if err != nil {
		return 0, err
	}
	sc := scopes{}
	for _, q := range todo {
		var id int64
		if q.tokens != "" {
			if id, err = t.nextSearchID(ctx); err != nil {
				return 0, err
			}
			if err := t.index(ctx, id, q.tokens, sc.token(q.app, q.conv)); err != nil {
				return 0, err
			}
			t.searchMax = id
		}
		if _, err := t.stmt(ctx, stmtSetSearchID).ExecContext(ctx, q.key, id); err != nil {
			return 0, translate(err)
		}
	}
	return len(todo), nil
}
