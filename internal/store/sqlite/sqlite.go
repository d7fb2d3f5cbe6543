// Package sqlite implements store.Store on SQLite database files, for
// Magpie's embedded (single-node) mode. It owns the database schema and its
// migrations, the connection pools and the translation of SQLite errors into
// the store package's errors.
//
// SQLite allows one writer at a time per file, so a Store keeps its data in
// two files: the database file (everything, and the message log that new
// messages are appended to) and the messages file beside it (MessagesPath:
// the messages table and its search index), attached to every connection
// as schema "msgs", so that queries name its tables without a prefix. A
// single write connection runs every write of the database file; a second
// one, the absorber (absorber.go), moves the message log into messages and
// indexes it for search, beside it, on the other file. A pool of read-only
// connections reads both concurrently with the writers (write-ahead logs).
// Writes are durable before they return (synchronous=FULL): the messaging
// layer acknowledges a message only after AppendMessages returns.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"

	"github.com/magpie-im/magpie/internal/store"
)

var _ store.Store = (*Store)(nil)

// Store is a store.Store backed by two SQLite database files. It is safe
// for concurrent use: writes are serialised on the single write connection,
// the absorber's on its own, reads run in parallel on the read pool.
type Store struct {
	path  string
	log   *slog.Logger
	write *sql.DB // exactly one connection: SQLite has a single writer
	read  *sql.DB // query-only connections; WAL lets them run beside the writer
	stmts [numStmts]*sql.Stmt

	abs    absorber // the messages file's writer (absorber.go)
	closed atomic.Bool

	readStmts sync.Map // query text -> *sql.Stmt prepared on the read pool

	indexer indexer // the search indexer (search.go)

	// writeMu serialises write transactions with what must follow their
	// commit before the next one begins (the head cache's update).
	writeMu sync.Mutex
	commits atomic.Int64 // write transactions committed (benchmarks report it)
	shared  sharedWriter // the hot writes' shared commits (writer.go)
	heads   headCache    // conversations' committed max seqs (heads.go)
	cursors cursorCache  // committed delivery cursors (heads.go)
	// dataVersion is the write connection's data_version when the caches
	// were last valid (Store.observe), under writeMu.
	dataVersion int64
	// observed is set once observe read data_version in the shared
	// transaction that is running (commitShared clears it), so that the
	// transactions sharing it read it once; under writeMu.
	observed bool

	// The message log (tail.go): tail under writeMu; loggedRows counts the
	// log rows this Store's writer committed and loggedHigh is the highest
	// row id among them, readable without the lock (the absorber's
	// schedule, othersLogged).
	tail       tail
	logged     loggedIDs
	loggedRows atomic.Int64
	loggedHigh atomic.Int64
	// maxBacklog is the most logged rows the absorber may be behind by
	// before Busy asks for new messages to wait; busy is Busy's last
	// answer: its rule holds it until the absorber is back within half
	// (stillBusy), and its turns are logged.
	maxBacklog int64
	busy       atomic.Bool
	// prunedAt is the absorber's absorbs count when the writer last pruned
	// the log (under writeMu).
	prunedAt int64
	// pruning is the prune under way, its fold spread over commits
	// (pruneIn; under writeMu).
	pruning pruneCycle
	// tailDrops counts the times the tail lost entries (a prune, a
	// rebuild), readable without writeMu: a resend lookup made in messages
	// before the writer's transaction (storedBefore) holds in it while
	// the count has not moved.
	tailDrops atomic.Uint64

	// clients filters the resend lookups (clientfilter.go); versionSeen is
	// set once dataVersion holds a version read (under writeMu), so that
	// observe can tell another connection's commit from its first look.
	clients     *clientFilter
	versionSeen bool
	stopClients context.CancelFunc
}

// readStmt returns the read query q prepared once on the read pool
// (database/sql re-prepares it per connection as needed), so hot reads skip
// SQLite's parser. The queries are the package's constants: a bounded set.
func (s *Store) readStmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := s.readStmts.Load(q); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.read.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.readStmts.LoadOrStore(q, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// readRow runs a single-row read through the statement cache; a read of
// messages first settles the message log (tail.go).
func (s *Store) readRow(ctx context.Context, q string, args ...any) scanner {
	if readsMessages(q) {
		if err := s.settle(ctx); err != nil {
			return errRow{err}
		}
	}
	if readsFolded(q) {
		if err := s.settleFold(ctx); err != nil {
			return errRow{err}
		}
	}
	return s.readRowAsIs(ctx, q, args...)
}

// readRowAsIs is readRow without settling the message log.
func (s *Store) readRowAsIs(ctx context.Context, q string, args ...any) scanner {
	st, err := s.readStmt(ctx, q)
	if err != nil {
		return s.read.QueryRowContext(ctx, q, args...) // reports the same error
	}
	return st.QueryRowContext(ctx, args...)
}

// readRows runs a read through the statement cache; a read of messages
// first settles the message log (tail.go).
func (s *Store) readRows(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if readsMessages(q) {
		if err := s.settle(ctx); err != nil {
			return nil, err
		}
	}
	if readsFolded(q) {
		if err := s.settleFold(ctx); err != nil {
			return nil, err
		}
	}
	return s.readRowsAsIs(ctx, q, args...)
}

// readRowsAsIs is readRows without settling the message log: for a reader
// that knows what the log holds another way (loggedIDs).
func (s *Store) readRowsAsIs(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := s.readStmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

type config struct {
	readConns     int
	busyTimeout   time.Duration
	indexInterval time.Duration
	absorbAge     time.Duration // tail.go; tests lengthen it
	maxBacklog    int64         // absorber.go; tests shorten it
	writerNice    int
	log           *slog.Logger
}

// Option configures Open.
type Option func(*config)

// WithReadConns sets the number of connections in the read pool. Zero or
// less means the default, 4.
func WithReadConns(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.readConns = n
		}
	}
}

// WithBusyTimeout sets how long a connection waits for a lock held by another
// process on the same file before it fails with "database is locked". Zero or
// less means the default, 5 * time.Second.
func WithBusyTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.busyTimeout = d
		}
	}
}

// WithIndexInterval sets how often the search indexer indexes the messages
// stored since its last run (see SearchMessages). Zero or less means the
// default, DefaultIndexInterval.
func WithIndexInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.indexInterval = d
		}
	}
}

// DefaultWriterNice is the nice value the writer's thread asks for: the
// writer is one goroutine that every acknowledgement waits for, and on a
// busy machine it otherwise waits for a core behind the gateway's work
// (docs/benchmarks.md, the writer's priority).
const DefaultWriterNice = -10

// WithWriterNice sets the nice value (-20 to 19, lower runs first) that
// the writer, the goroutine that commits every append and acknowledgement,
// asks for on an operating-system thread of its own (Linux only). The
// process needs root, CAP_SYS_NICE or an RLIMIT_NICE that allows it to
// lower a nice value; without, the writer runs as the process does. Zero
// leaves the writer on Go's shared threads. The default is
// DefaultWriterNice.
func WithWriterNice(nice int) Option {
	return func(c *config) { c.writerNice = nice }
}

// WithLogger sets the logger for what the Store reports on its own: how
// its writer runs, and failures in its background work (absorbs, the
// resend filter). The default is slog.Default().
func WithLogger(log *slog.Logger) Option {
	return func(c *config) {
		if log != nil {
			c.log = log
		}
	}
}

// Open opens (creating if needed) the database file at path, brings its schema
// up to date and returns the Store. The directory holding path must exist.
// path names a file: ":memory:" is not supported, since the read pool and
// the write connection must share one database.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	cfg := config{readConns: 4, busyTimeout: 5 * time.Second, indexInterval: DefaultIndexInterval, absorbAge: defaultAbsorbAge,
		maxBacklog: maxLogBacklog, writerNice: DefaultWriterNice, log: slog.Default()}
	for _, o := range opts {
		o(&cfg)
	}
	if path == "" || strings.HasPrefix(path, ":memory:") {
		return nil, fmt.Errorf("open sqlite: need a file path, got %q", path)
	}
	s := &Store{path: path, log: cfg.log, maxBacklog: cfg.maxBacklog}
	var err error
	s.write, err = openWrite(ctx, path, cfg)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, s.write); err != nil {
		s.write.Close()
		return nil, err
	}
	if err := s.prepare(ctx); err != nil {
		s.write.Close()
		return nil, err
	}
	s.read, err = openRead(ctx, path, cfg)
	if err != nil {
		s.closeStmts()
		s.write.Close()
		return nil, err
	}
	if err := s.openAbsorber(ctx, cfg); err != nil {
		s.closeStmts()
		s.read.Close()
		s.write.Close()
		return nil, err
	}
	s.clients = newClientFilter(s.log)
	s.startWriter(cfg.writerNice)
	// What a stopped process logged is absorbed before anything reads.
	s.invalidateTail()
	if err := s.absorb(); err != nil {
		s.Close()
		return nil, err
	}
	// From this version on, another connection's commit turns the resend
	// filter off (observe); the filter's scan begins after it.
	if err := s.inSharedTxAfter(func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&s.dataVersion); err != nil {
			return fmt.Errorf("read data version: %w", translate(err))
		}
		s.versionSeen = true
		return nil
	}, nil, nil); err != nil {
		s.Close()
		return nil, err
	}
	loadCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stopClients = stop
	go s.loadClientFilter(loadCtx)
	s.startAbsorber(cfg)
	return s, nil
}

// MessagesPath returns the path of the messages file that belongs with the
// database file at path: "magpie.db" has "magpie-messages.db" beside it.
func MessagesPath(path string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "-messages" + ext
}

// messagesSchema is the name the messages file is attached under.
const messagesSchema = "msgs"

// openWrite opens the write connection, with the messages file attached.
// Its transactions begin deferred (BEGIN IMMEDIATE would take the messages
// file's write lock too, which the hot ones leave to the absorber); each
// takes the locks it needs with its first statements (beginWrite).
func openWrite(ctx context.Context, path string, cfg config) (*sql.DB, error) {
	q := baseParams(cfg)
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL") // durable before ack
	q.Set("_foreign_keys", "1")
	db, err := openDB(ctx, path, q,
		setupStmt{q: `ATTACH DATABASE ? AS ` + messagesSchema, args: []any{MessagesPath(path)}},
		setupStmt{q: `PRAGMA ` + messagesSchema + `.journal_mode = WAL`},
		setupStmt{q: `PRAGMA ` + messagesSchema + `.synchronous = FULL`},
		setupStmt{q: `PRAGMA ` + messagesSchema + `.cache_size = -65536`})
	if err != nil {
		return nil, fmt.Errorf("open sqlite writer: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return db, nil
}

func openRead(ctx context.Context, path string, cfg config) (*sql.DB, error) {
	q := baseParams(cfg)
	q.Set("_query_only", "1")
	db, err := openDB(ctx, path, q,
		setupStmt{q: `ATTACH DATABASE ? AS ` + messagesSchema, args: []any{MessagesPath(path)}},
		setupStmt{q: `PRAGMA ` + messagesSchema + `.cache_size = -65536`})
	if err != nil {
		return nil, fmt.Errorf("open sqlite readers: %w", err)
	}
	db.SetMaxOpenConns(cfg.readConns)
	db.SetMaxIdleConns(cfg.readConns)
	return db, nil
}

func baseParams(cfg config) url.Values {
	q := url.Values{}
	q.Set("_busy_timeout", strconv.FormatInt(cfg.busyTimeout.Milliseconds(), 10))
	q.Add("_pragma", "cache_size=-65536")
	return q
}

// openDB opens path as an SQLite URI, escaping the characters a URI path
// cannot hold, runs setup on every connection it opens, and checks that a
// connection can be made.
func openDB(ctx context.Context, path string, q url.Values, setup ...setupStmt) (*sql.DB, error) {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	c, err := sqlite.NewConnector("file:" + esc + "?" + q.Encode())
	if err != nil {
		return nil, translate(err)
	}
	db := sql.OpenDB(setupConnector{Connector: c, setup: setup})
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, translate(err)
	}
	return db, nil
}

// setupStmt is a statement run on each new connection (ATTACH, PRAGMA).
type setupStmt struct {
	q    string
	args []any
}

// setupConnector runs its statements on every connection it opens: what
// the DSN cannot say (an attached file, and its pragmas).
type setupConnector struct {
	driver.Connector
	setup []setupStmt
}

func (c setupConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil || len(c.setup) == 0 {
		return conn, err
	}
	ex, ok := conn.(driver.ExecerContext)
	if !ok {
		_ = conn.Close()
		return nil, errors.New("sqlite: the driver's connection cannot execute statements")
	}
	for _, st := range c.setup {
		args := make([]driver.NamedValue, len(st.args))
		for i, a := range st.args {
			args[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
		}
		if _, err := ex.ExecContext(ctx, st.q, args); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("set up connection (%s): %w", st.q, err)
		}
	}
	return conn, nil
}

// Ping reports whether the connections can reach the database files.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.write.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite writer: %w", translate(err))
	}
	if err := s.read.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite readers: %w", translate(err))
	}
	if err := s.abs.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite absorber: %w", translate(err))
	}
	return nil
}

// Close stops the absorber (and the search indexer), absorbs the message
// log, and closes the connections. Calls in flight may fail.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	if s.stopClients != nil {
		s.stopClients()
		<-s.clients.loaded
	}
	s.stopAbsorber()
	if err := s.absorb(); err != nil && !errors.Is(err, errClosed) {
		s.log.Warn("sqlite: absorb the message log at close (done at the next open)", "err", err)
	}
	s.stopWriter()
	s.closeStmts()
	s.readStmts.Range(func(_, st any) bool {
		st.(*sql.Stmt).Close()
		return true
	})
	return errors.Join(s.read.Close(), s.abs.close(), s.write.Close())
}

// App returns the handle for the data of app appID.
func (s *Store) App(appID string) store.AppStore {
	return &appStore{s: s, id: appID}
}

// inTx runs fn in a write transaction and commits it if fn returns nil.
// Once it committed, the caches of committed state (heads, cursors) are
// dropped before the next write transaction begins: the hot transactions
// that keep them valid run through inSharedTx instead, and those that
// touch neither messages nor cached state through inSideTx.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	// It may read or change messages: the log goes there first (no append
	// commits meanwhile: writeMu), and leaves the log in the transaction,
	// which holds the messages file's write lock too. Most of it goes
	// before writeMu is taken, while the appends go on: under writeMu only
	// what they logged meanwhile is left to absorb.
	if err := s.absorbTo(ctx, s.loggedRows.Load()); err != nil {
		return err
	}
	// Under writeMu, settle: what another Store on the files logged too.
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.settle(ctx); err != nil {
		return err
	}
	tx, err := s.beginWrite(ctx, true)
	if err != nil {
		return err
	}
	err = s.foldIn(ctx, tx)
	var pruned bool
	if err == nil {
		pruned, err = s.pruneIn(ctx, tx, true)
	}
	if err == nil {
		err = fn(tx)
	}
	if err != nil {
		tx.Rollback()
		if pruned {
			s.lost()
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		s.lost()
		return translate(err)
	}
	s.commits.Add(1)
	s.forget()
	if pruned {
		s.prunedCommitted()
	}
	return nil
}

// forget drops the caches of committed state; call it under writeMu.
func (s *Store) forget() {
	s.heads.reset()
	s.cursors.reset()
}
