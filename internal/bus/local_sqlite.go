package bus

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// The embedded bus keeps its jobs in a table of its own, in a database file
// of its own: SQLite has one writer per file, and the bus should not queue
// behind the message store's writer (or make it wait).
//
// A row is a job that is pending (status 0: ready once due_ms has passed)
// or dead (status 1). Acknowledged jobs are deleted. headers is the job's
// headers as a JSON object, with the bus's own under reserved keys
// (headerPublished); rows written before the bus had any lack them.
const localSchema = `
CREATE TABLE IF NOT EXISTS bus_jobs (
	seq        INTEGER PRIMARY KEY,
	queue      TEXT    NOT NULL,
	id         TEXT    NOT NULL,
	app_id     TEXT    NOT NULL,
	type       TEXT    NOT NULL,
	body       BLOB    NOT NULL,
	headers    TEXT    NOT NULL,
	attempt    INTEGER NOT NULL,
	due_ms     INTEGER NOT NULL,
	status     INTEGER NOT NULL DEFAULT 0,
	last_error TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX IF NOT EXISTS bus_jobs_status ON bus_jobs (queue, status, seq);
PRAGMA user_version = 1;
`

// opKind is a change to the jobs table, committed in groups.
type opKind uint8

const (
	opInsert opKind = iota // a published job
	opDelete               // an acknowledged job
	opRetry                // a failed attempt: new attempt, due time, error
	opDead                 // a job moved to the dead letters
	opFlush                // nothing: committed once everything before it is
)

// op is one change; e.due and e.job carry the values to write.
type op struct {
	kind opKind
	e    *entry
}

const (
	sqlInsert = `INSERT INTO bus_jobs (seq, queue, id, app_id, type, body, headers, attempt, due_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlDelete = `DELETE FROM bus_jobs WHERE seq = ?`
	sqlRetry  = `UPDATE bus_jobs SET attempt = ?, due_ms = ?, last_error = ? WHERE seq = ?`
	sqlDead   = `UPDATE bus_jobs SET status = 1, attempt = ?, last_error = ? WHERE seq = ?`
	sqlLoad   = `SELECT seq, queue, id, app_id, type, body, headers, attempt, due_ms, last_error
		FROM bus_jobs WHERE status = 0 ORDER BY seq`
	sqlDeadLetters = `SELECT seq, queue, id, app_id, type, body, headers, attempt, due_ms, last_error
		FROM bus_jobs WHERE queue = ? AND status = 1 ORDER BY seq LIMIT ?`
)

// openLocalDB opens (creating if needed) the bus database at path with one
// connection: every statement, reads included, runs on it, in turn.
func openLocalDB(ctx context.Context, path string) (*sql.DB, error) {
	if path == "" || strings.HasPrefix(path, ":memory:") {
		return nil, fmt.Errorf("open bus database: need a file path, got %q", path)
	}
	q := url.Values{}
	q.Set("_busy_timeout", "5000")
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL") // a published job is on disk before Publish returns
	q.Set("_txlock", "immediate")
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	db, err := sql.Open("sqlite", "file:"+esc+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open bus database: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if _, err := db.ExecContext(ctx, localSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create bus schema: %w", err)
	}
	return db, nil
}

// commit applies ops in one transaction: they all succeed or all fail.
func (l *Local) commit(ctx context.Context, ops []op) ([]struct{}, []error) {
	errs := make([]error, len(ops))
	if err := l.commitTx(ctx, ops); err != nil {
		for i := range errs {
			errs[i] = err
		}
	}
	return make([]struct{}, len(ops)), errs
}

func (l *Local) commitTx(ctx context.Context, ops []op) error {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin bus commit: %w", err)
	}
	defer tx.Rollback()
	var stmts [opFlush]*sql.Stmt
	for _, o := range ops {
		if o.kind == opFlush {
			continue
		}
		if stmts[o.kind] == nil {
			stmts[o.kind] = tx.StmtContext(ctx, l.stmts[o.kind])
		}
		if err := execOp(ctx, stmts[o.kind], o); err != nil {
			return fmt.Errorf("bus commit job %s: %w", o.e.job.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("bus commit: %w", err)
	}
	return nil
}

func execOp(ctx context.Context, st *sql.Stmt, o op) error {
	e, j := o.e, &o.e.job
	var err error
	switch o.kind {
	case opInsert:
		var hdr []byte
		if hdr, err = json.Marshal(storedHeaders(j.Headers, e.published)); err == nil {
			_, err = st.ExecContext(ctx, e.seq, e.queue, j.ID, j.AppID, j.Type, nonNil(j.Body), string(hdr),
				j.Attempt, e.due.UnixMilli())
		}
	case opDelete:
		_, err = st.ExecContext(ctx, e.seq)
	case opRetry:
		_, err = st.ExecContext(ctx, j.Attempt, e.due.UnixMilli(), j.LastError, e.seq)
	case opDead:
		_, err = st.ExecContext(ctx, j.Attempt, j.LastError, e.seq)
	}
	return err
}

// storedHeaders returns the headers of a row: the job's, and the
// publication time under headerPublished.
func storedHeaders(h map[string]string, published time.Time) map[string]string {
	if published.IsZero() {
		return h
	}
	out := make(map[string]string, len(h)+1)
	maps.Copy(out, h)
	out[headerPublished] = strconv.FormatInt(published.UnixMilli(), 10)
	return out
}

// loadedHeaders splits the headers of a row into the job's and the
// publication time (zero if the row has none).
func loadedHeaders(h map[string]string) (map[string]string, time.Time) {
	v, ok := h[headerPublished]
	if !ok {
		return h, time.Time{}
	}
	delete(h, headerPublished)
	if len(h) == 0 {
		h = nil
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return h, time.Time{}
	}
	return h, time.UnixMilli(ms)
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func (l *Local) prepare(ctx context.Context) error {
	for kind, q := range map[opKind]string{opInsert: sqlInsert, opDelete: sqlDelete, opRetry: sqlRetry, opDead: sqlDead} {
		st, err := l.db.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare bus statement: %w", err)
		}
		l.stmts[kind] = st
	}
	return nil
}

// scanJobs reads rows of sqlLoad's columns.
func scanJobs(rows *sql.Rows) ([]*entry, error) {
	defer rows.Close()
	var out []*entry
	for rows.Next() {
		e := &entry{}
		var hdr string
		var due int64
		if err := rows.Scan(&e.seq, &e.queue, &e.job.ID, &e.job.AppID, &e.job.Type, &e.job.Body, &hdr,
			&e.job.Attempt, &due, &e.job.LastError); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(hdr), &e.job.Headers); err != nil {
			return nil, fmt.Errorf("job %s headers: %w", e.job.ID, err)
		}
		e.job.Headers, e.published = loadedHeaders(e.job.Headers)
		e.due = time.UnixMilli(due)
		out = append(out, e)
	}
	return out, rows.Err()
}

// load returns the pending jobs, in publication order, and the highest seq
// in the table.
func (l *Local) load(ctx context.Context) ([]*entry, int64, error) {
	var maxSeq sql.NullInt64
	if err := l.db.QueryRowContext(ctx, `SELECT MAX(seq) FROM bus_jobs`).Scan(&maxSeq); err != nil {
		return nil, 0, fmt.Errorf("load bus jobs: %w", err)
	}
	rows, err := l.db.QueryContext(ctx, sqlLoad)
	if err != nil {
		return nil, 0, fmt.Errorf("load bus jobs: %w", err)
	}
	es, err := scanJobs(rows)
	if err != nil {
		return nil, 0, fmt.Errorf("load bus jobs: %w", err)
	}
	return es, maxSeq.Int64, nil
}

// DeadLetters implements Bus.
func (l *Local) DeadLetters(ctx context.Context, queue string, limit int) ([]Job, error) {
	if err := checkName("queue", queue); err != nil {
		return nil, err
	}
	if l.isClosed() {
		return nil, ErrClosed
	}
	if limit <= 0 {
		return nil, nil
	}
	rows, err := l.db.QueryContext(ctx, sqlDeadLetters, queue, limit)
	if err != nil {
		return nil, fmt.Errorf("list dead letters of %s: %w", queue, err)
	}
	es, err := scanJobs(rows)
	if err != nil {
		return nil, fmt.Errorf("list dead letters of %s: %w", queue, err)
	}
	jobs := make([]Job, len(es))
	for i, e := range es {
		jobs[i] = e.job
	}
	return jobs, nil
}
