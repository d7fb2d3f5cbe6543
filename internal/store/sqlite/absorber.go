package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// The absorber is the messages file's own writer: a second write
// connection, on MessagesPath with the database file attached as "logdb",
// that moves the message log (tail.go) into messages and indexes messages
// for search (search.go), beside the writer, which goes on appending.
// SQLite locks each file for writing separately, so the two writers take
// turns only when a write transaction of the writer changes messages
// (inTx), and the work that held the single writer longest (absorbing
// thousands of messages into the messages table's indexes, and the search
// index's segments) runs on another core.
//
// The order that keeps every acknowledged message readable:
//  1. the writer commits a message to the log (its ack);
//  2. the absorber copies the log's new rows into messages and commits
//     (synchronous=FULL: durable too);
//  3. the writer deletes from the log (prunes) the rows the absorber
//     committed, in its next transaction.
//
// A reader of messages waits for step 2 to cover every message committed
// before it asked (settle); a resend lookup or a read in the writer's own
// transactions looks in the log's in-memory index (the tail) first, then
// in messages: a row leaves the tail only once step 3 committed, long
// after step 2.
//
// The log's row ids only grow, so "the rows after the last absorb" is a
// range: SQLite gives a new row the highest id plus one, and the log is
// never emptied (a prune keeps its newest row), so no id comes back, even
// with several Stores (processes) on the files, each with its own
// absorber: a row one of them absorbed already is left as it is by the
// other's (INSERT OR IGNORE), and each prunes only what its own absorber's
// snapshot held.
type absorber struct {
	db    *sql.DB // one connection, on the messages file
	stmts [numStmts]*sql.Stmt

	// mu serialises the absorber's transactions: absorbs and indexing.
	mu sync.Mutex
	// hi is the highest log id absorbed; absorbed counts the log rows
	// (Store.loggedRows) the last absorb covered; absorbs counts absorbs
	// that moved rows (the writer prunes when it changed).
	hi       atomic.Int64
	absorbed atomic.Int64
	absorbs  atomic.Int64
	last     time.Time // the last absorb's start (under mu)
	// press tells whether the absorber is pressed (pressure.go): then its
	// moves leave the messages to the indexer (under mu).
	press pressure
	// waitHook, set by tests, runs when settle is about to wait for mu.
	waitHook func()

	wake chan struct{} // one pending wake-up for the loop
	stop context.CancelFunc
	done chan struct{}
}

// The absorber's statements: the messages file is its main database.
const (
	// lockMessagesSQL takes the messages file's write lock (and a fresh
	// snapshot) before anything else in a transaction: a write statement
	// that changes nothing. The log is then read at a snapshot no older
	// than the lock: a transaction of the writer that changed messages
	// and pruned the log committed whole before it.
	lockMessagesSQL = `UPDATE messages SET seq = seq WHERE 0`
	logHighSQL      = `SELECT COALESCE(max(rowid), 0) FROM logdb.message_log`
	// logHighReadSQL is logHighSQL on a connection of the database file.
	logHighReadSQL = `SELECT COALESCE(max(rowid), 0) FROM message_log`
	// absorbSQL copies the log rows in (?1, ?2] into messages, sorted so
	// that each conversation's entries are inserted together. A row that
	// messages holds already (the log of a process that stopped between
	// an absorb and its prune, or the newest row, which stays) is left as
	// it is there; one whose message was deleted since has seq 0
	// (DeleteUser) and is not copied again. A message waiting for the
	// search index (search_id NULL in the log) gets its search id here,
	// above ?3 (gaps are harmless); the rows it inserted (not those it
	// left as they were) come back, for absorbIndexed to index.
	absorbSQL = `INSERT OR IGNORE INTO messages (` + logColumns + `, recalled_at, edited_at)
		SELECT ` + logColumnsButSearchID + `,
			COALESCE(search_id, ?3 + row_number() OVER (ORDER BY app_id, conv_id, seq)), 0, 0
		FROM logdb.message_log
		WHERE rowid > ?1 AND rowid <= ?2 AND seq > 0 ORDER BY app_id, conv_id, seq
		RETURNING search_id, app_id, conv_id, type, body, recalled_at`
	// absorbQueuedSQL is absorbSQL for a pressed absorber: the rows keep
	// the log's search id (NULL: queued for the indexer; 0: nothing to
	// index), and none come back.
	absorbQueuedSQL = `INSERT OR IGNORE INTO messages (` + logColumns + `, recalled_at, edited_at)
		SELECT ` + logColumns + `, 0, 0
		FROM logdb.message_log
		WHERE rowid > ?1 AND rowid <= ?2 AND seq > 0 ORDER BY app_id, conv_id, seq`
)

// absorbChunk is the most log rows (by rowid) one statement of an absorb
// copies: the statement sorts them, and SQLite's sorter grows by
// reallocations that each fault in fresh pages (modernc's allocator maps
// a new region for each), which cost more the more rows one sort holds.
// An absorber behind a load took 100,000 and more in one absorb (0.76 s
// of reallocations in an 8 s profile at 30,000/s; 0.01 s in chunks).
// The statements share the transaction's pages: each is written once, at
// its commit.
const absorbChunk = 2 * absorbAt

// maxIndexPerAbsorb bounds the queued messages (from before
// an upgrade) an absorb of the loop indexes in its transaction, beside
// those it moves.
const maxIndexPerAbsorb = 2 * absorbAt

// absorberStmts are the statements prepared on the absorber's connection:
// the search indexer's.
var absorberStmts = []stmtID{stmtQueuedMessages, stmtMaxSearchID, stmtIndexMessage, stmtSetSearchID}

func (s *Store) openAbsorber(ctx context.Context, cfg config) error {
	q := baseParams(cfg)
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL") // the log is pruned once this commit holds
	db, err := openDB(ctx, MessagesPath(s.path), q,
		setupStmt{q: `ATTACH DATABASE ? AS logdb`, args: []any{s.path}})
	if err != nil {
		return fmt.Errorf("open sqlite absorber: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	s.abs.db = db
	for _, id := range absorberStmts {
		st, err := db.PrepareContext(ctx, stmtSQL[id])
		if err != nil {
			_ = s.abs.close()
			return fmt.Errorf("prepare absorber statement %d: %w", id, translate(err))
		}
		s.abs.stmts[id] = st
	}
	return nil
}

func (a *absorber) close() error {
	for i, st := range a.stmts {
		if st != nil {
			st.Close()
			a.stmts[i] = nil
		}
	}
	if a.db == nil {
		return nil
	}
	return a.db.Close()
}

// startAbsorber starts the loop that absorbs the log when it is absorbAt
// rows long (the writer wakes it) or absorbAge old, and indexes messages
// for search every indexInterval.
func (s *Store) startAbsorber(cfg config) {
	ctx, stop := context.WithCancel(context.Background())
	s.abs.wake, s.abs.stop, s.abs.done = make(chan struct{}, 1), stop, make(chan struct{})
	tick := min(cfg.absorbAge/2, cfg.indexInterval)
	go func() {
		defer close(s.abs.done)
		t := time.NewTicker(tick)
		defer t.Stop()
		// indexed is the indexer's last run (indexIdle, or an absorb that
		// indexed), at first the loop's start: a pressed indexer's budget is
		// a share of the time since, which from the zero time had no bound.
		indexed := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.abs.wake:
			case <-t.C:
			}
			// What an absorb moves is indexed in its transaction unless
			// the absorber is pressed; a failure (a full disk) is retried
			// at the next tick, the messages stay logged or queued.
			due, pressed := s.absorbDue(cfg.absorbAge), false
			if due {
				s.abs.mu.Lock()
				err := s.absorbLocked(ctx, maxIndexPerAbsorb)
				pressed = s.abs.press.on(time.Now(), s.logBacklog())
				s.abs.mu.Unlock()
				if err != nil && ctx.Err() == nil {
					s.log.Error("sqlite: absorb the message log", "err", err)
				}
				if !pressed { // it indexed what it moved, and the queue
					indexed = time.Now()
				}
			}
			// A pressed absorber's indexer runs after its absorbs too:
			// under a load that lasts, absorbs are due at nearly every
			// turn of the loop.
			if since := time.Since(indexed); since >= cfg.indexInterval && (!due || pressed) {
				indexed = time.Now()
				s.indexIdle(ctx, cfg.absorbAge, since)
			}
		}
	}()
}

// searchQueued reports whether messages wait for the search indexer
// (false if it cannot tell), read without taking the write lock.
func (s *Store) searchQueued(ctx context.Context) bool {
	var q bool
	err := s.abs.db.QueryRowContext(ctx, searchQueuedSQL).Scan(&q)
	return err == nil && q
}

// stopAbsorber stops the loop; absorbs asked for later still run.
func (s *Store) stopAbsorber() {
	if s.abs.stop != nil {
		s.abs.stop()
		<-s.abs.done
		s.abs.stop = nil
	}
}

// absorbDue reports whether the log holds absorbAt unabsorbed rows, or
// any that waited age.
func (s *Store) absorbDue(age time.Duration) bool {
	pending := s.loggedRows.Load() - s.abs.absorbed.Load()
	if pending >= absorbAt {
		return true
	}
	if pending <= 0 {
		return false
	}
	s.abs.mu.Lock()
	defer s.abs.mu.Unlock()
	return time.Since(s.abs.last) >= age
}

// logBacklog reports whether the log holds a full absorb's rows
// (absorbAt) that this Store logged and its absorber has not moved.
func (s *Store) logBacklog() bool {
	return s.loggedRows.Load()-s.abs.absorbed.Load() >= absorbAt
}

// maxLogBacklog is how many logged rows the absorber may be behind by
// before Busy asks for new messages to wait. The writer keeps an index
// of the unabsorbed log in memory (the tail), and a read of messages waits
// for the absorber to reach the log's end (settle): a backlog without a
// bound, under a load the absorber cannot keep up with, grows both until
// memory runs out. An absorber that keeps up is never more than a few
// absorbs (absorbAt) behind. At twice the rate that holds on a 2-core
// machine it fell this far behind in about 26 s, and without the bound
// the server's RSS grew by about 800 MB in 60 s, a read's wait with it
// (docs/benchmarks.md, the message log's bound).
const maxLogBacklog = 64 * absorbAt

// Busy reports whether new messages should wait for the absorber: from
// the moment it is maxLogBacklog rows or more behind the message log
// until it is back within half of that. The messaging core refuses new
// messages while it is true, before anything is queued, as it does when
// its commit queue is full; everything else goes on, the absorber too.
// (An absorb moves everything logged before it began, so the backlog
// falls in steps of seconds of work; refusing a growing share of the
// messages instead of all of them cost more, each refusal sending a
// connection's pipeline back: docs/benchmarks.md.) It is cheap (three
// atomic loads): the messaging core asks it for every send.
func (s *Store) Busy() bool {
	behind := s.loggedRows.Load() - s.abs.absorbed.Load()
	was := s.busy.Load()
	busy := stillBusy(was, behind, s.maxBacklog)
	if busy != was && s.busy.CompareAndSwap(was, busy) {
		if busy {
			s.log.Warn("sqlite: the absorber is far behind the message log: new messages are refused with a retry hint until it catches up",
				"backlog", behind, "max", s.maxBacklog)
		} else {
			s.log.Info("sqlite: the absorber caught up with the message log: new messages are taken again", "backlog", behind)
		}
	}
	return busy
}

// stillBusy is Busy's rule: busy from max rows behind on, and, once busy,
// until no more than half of max.
func stillBusy(was bool, behind, max int64) bool {
	return behind >= max || was && behind > max/2
}

// wakeAbsorber tells the loop that the log may be due.
func (s *Store) wakeAbsorber() {
	select {
	case s.abs.wake <- struct{}{}:
	default:
	}
}

// absorbTo returns once the log rows this Store's writer committed, up
// to the count target (Store.loggedRows), are in messages. Concurrent
// callers share one absorb: the others find it done.
func (s *Store) absorbTo(ctx context.Context, target int64) error {
	if s.abs.absorbed.Load() >= target {
		return nil
	}
	s.abs.mu.Lock()
	defer s.abs.mu.Unlock()
	if s.abs.absorbed.Load() >= target {
		return nil
	}
	return s.absorbLocked(ctx, 0)
}

// absorbLocked copies every committed log row after the last absorb into
// messages and indexes them for search, and with index > 0 indexes up to
// that many queued messages too, in the same transaction (one commit, one
// fsync); a pressed absorber (pressure.go) leaves the search work to the
// indexer. Call it under abs.mu.
func (s *Store) absorbLocked(ctx context.Context, index int) error {
	ctx = context.WithoutCancel(ctx) // others wait on it too
	// Every row counted here committed before the transaction's snapshot.
	counted := s.loggedRows.Load()
	s.abs.last = time.Now()
	backlog := s.logBacklog()
	pressed := s.abs.press.on(s.abs.last, backlog)
	var lo, hi int64
	var moveStart, moveEnd time.Time
	_, err := s.inAbsorberTx(ctx, func(tx *sql.Tx) (int, error) {
		if err := tx.QueryRowContext(ctx, logHighSQL).Scan(&hi); err != nil {
			return 0, translate(err)
		}
		lo = s.abs.hi.Load()
		if hi > lo {
			moveStart = time.Now()
			if pressed {
				for from := lo; from < hi; from += absorbChunk {
					if _, err := tx.ExecContext(ctx, absorbQueuedSQL, from, min(hi, from+absorbChunk)); err != nil {
						return 0, translate(err)
					}
				}
				moveEnd = time.Now()
			} else {
				t := s.absorberTx(tx)
				base, err := t.nextSearchID(ctx)
				if err != nil {
					return 0, err
				}
				if moveEnd, err = t.absorbIndexed(ctx, lo, hi, base); err != nil {
					return 0, err
				}
			}
		}
		if index > 0 && !pressed {
			return s.indexIn(ctx, tx, index)
		}
		return 0, nil
	})
	if !moveEnd.IsZero() {
		s.abs.press.ended(time.Now())
	}
	if err != nil {
		return fmt.Errorf("absorb the message log: %w", err)
	}
	if hi > lo {
		s.abs.hi.Store(hi)
		s.abs.absorbs.Add(1)
		if s.abs.press.moved(moveStart, moveEnd, backlog) {
			if s.abs.press.pressed {
				s.log.Info("sqlite: the absorber is busy: new messages wait to be indexed for search until it is not",
					"on", pressOn, "window", pressWindow)
			} else {
				s.log.Info("sqlite: the absorber indexes new messages for search again", "off", pressOff)
			}
		}
	}
	s.abs.absorbed.Store(counted)
	return nil
}

// inAbsorberTx runs fn in a transaction on the absorber's connection that
// holds the messages file's write lock from its first statement, and
// commits it if fn succeeds; call it under abs.mu.
func (s *Store) inAbsorberTx(ctx context.Context, fn func(tx *sql.Tx) (int, error)) (int, error) {
	tx, err := s.abs.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, translate(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, lockMessagesSQL); err != nil {
		return 0, translate(err)
	}
	n, err := fn(tx)
	if err != nil {
		return 0, err
	}
	return n, translate(tx.Commit())
}

// settle makes every message acknowledged so far readable in messages, by
// this Store or another on the same files (another process): it returns
// at once if the absorber has them, else after an absorb.
//
// It compares the log's highest row id, read first, with the absorber's:
// every row committed before the call has an id no higher (the log keeps
// its newest row), and an absorb that reached it covered them all, whoever
// logged them. Counting this Store's own rows (loggedRows, absorbed) would
// not do: an absorb running when settle is called may have taken its
// snapshot before another Store's last commit, and finish with this
// Store's rows all counted.
func (s *Store) settle(ctx context.Context) error {
	hi, err := s.logHigh(ctx)
	if err != nil {
		return fmt.Errorf("settle the message log: %w", err)
	}
	if hi <= s.abs.hi.Load() {
		return nil
	}
	if s.abs.waitHook != nil {
		s.abs.waitHook()
	}
	s.abs.mu.Lock()
	defer s.abs.mu.Unlock()
	if hi <= s.abs.hi.Load() {
		return nil
	}
	if err := s.absorbLocked(ctx, 0); err != nil {
		return fmt.Errorf("settle the message log: %w", err)
	}
	return nil
}

// logHigh reads the message log's highest row id.
func (s *Store) logHigh(ctx context.Context) (int64, error) {
	var hi int64
	if err := s.readRowAsIs(ctx, logHighReadSQL).Scan(&hi); err != nil {
		return 0, translate(err)
	}
	return hi, nil
}

// othersLogged reports whether the log may hold rows another Store on the
// files (another process) committed and this one knows nothing of: rows
// beyond both this Store's last absorb and its own newest. (A row of
// another Store below this one's newest was committed before one of this
// writer's transactions began, which saw it (observe): the tail holds it,
// or the absorber absorbed it.)
func (s *Store) othersLogged(ctx context.Context) (bool, error) {
	hi, err := s.logHigh(ctx) // first: what is loaded after may only be newer
	if err != nil {
		return false, err
	}
	return hi > max(s.abs.hi.Load(), s.loggedHigh.Load()), nil
}

// absorb absorbs the whole log, whoever wrote it, and prunes it: at Open
// (what a stopped process logged), at Close, and for tests.
func (s *Store) absorb() error {
	s.abs.mu.Lock()
	err := s.absorbLocked(context.Background(), 0)
	s.abs.mu.Unlock()
	if err != nil {
		return err
	}
	return s.inSharedTxAfter(func(*sql.Tx) error { return nil }, nil, nil)
}

// pruneIn deletes from the log, in the writer's transaction tx, the rows
// the absorber committed to messages, if there are new ones, and drops
// them from the tail; it reports whether it did. Once the transaction
// committed, the caller resets loggedIDs (prunedCommitted); if it fails,
// lost() makes the next one prune again. Call it under writeMu.
//
// The rows it deletes are folded first (fold.go). With full, the caller
// folded everything in tx just before (its transaction folds anyway), and
// it prunes at once; otherwise the fold is spread over the writer's next commits, one step
// each (the conversations; the senders' read cursors; the devices'
// cursors; the members' delivery cursors with the prune itself): in one
// piece, the fold of an absorb's rows took 20–40 ms at 2,000 msgs/s, and
// every append queued behind it waited that long. A step moves on only
// once its commit holds (foldStepped): a step rolled back runs again, and
// a step that runs again, or after a full fold, changes nothing, as every
// fold takes the max.
func (s *Store) pruneIn(ctx context.Context, tx *sql.Tx, full bool) (bool, error) {
	c := &s.pruning
	if !c.active {
		absorbs := s.abs.absorbs.Load()
		if absorbs == s.prunedAt {
			return false, nil
		}
		*c = pruneCycle{active: true, absorbs: absorbs, hi: s.abs.hi.Load()}
	}
	c.next = c.step
	if full {
		c.next = stepPrune
	}
	for c.next < stepPrune {
		did, err := s.foldStep(ctx, tx, c.next)
		if err != nil {
			return false, err
		}
		c.next++
		if did && c.next < stepPrune { // the last step prunes in its commit
			return false, nil
		}
	}
	if !full {
		// Another Store's commits may have left rows up to hi unfolded
		// (the steps fold what the log held when they ran).
		st, err := s.foldState(ctx, tx)
		if err != nil {
			return false, err
		}
		if st.folded < c.hi {
			if err := s.foldIn(ctx, tx); err != nil {
				return false, err
			}
		}
	}
	if _, err := tx.StmtContext(ctx, s.stmts[stmtPruneLog]).ExecContext(ctx, c.hi); err != nil {
		return false, fmt.Errorf("prune the message log: %w", translate(err))
	}
	hi := c.hi
	s.prunedAt = c.absorbs
	*c = pruneCycle{}
	s.tailDrops.Add(1)
	s.tail.pruneTo(hi)
	return true, nil
}

// foldStepped moves the prune's fold on past the step the commit that
// just succeeded ran. Call it under writeMu.
func (s *Store) foldStepped() {
	if c := &s.pruning; c.active {
		c.step = c.next
	}
}

// prunedCommitted records that a prune committed: the log's committed ids
// are the tail's. Call it under writeMu.
func (s *Store) prunedCommitted() {
	s.logged.reset(&s.tail, s.tail.valid)
}

// beginWrite begins a write transaction on the write connection and takes
// the database file's write lock, and with messages the messages file's
// too (waiting for the absorber's transaction, if one runs), before the
// transaction reads anything: its snapshot is then the newest, and no
// other writer can invalidate it.
func (s *Store) beginWrite(ctx context.Context, messages bool) (*sql.Tx, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, translate(err)
	}
	locks := []stmtID{stmtLockDatabase}
	if messages {
		locks = append(locks, stmtLockMessages)
	}
	for _, id := range locks {
		if _, err := tx.StmtContext(ctx, s.stmts[id]).ExecContext(ctx); err != nil {
			tx.Rollback()
			return nil, translate(err)
		}
	}
	return tx, nil
}
