package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// migrations holds the schema steps, named NNNN_description.sql. Steps are
// applied in order, each in its own transaction together with its row in
// schema_version, so a step is applied exactly once. A step is skipped only
// when its own version is recorded, so one merged later with a lower number
// than steps already applied still runs. Never edit a released step: add a
// new one.
//
//go:embed migrations/*.sql
var migrations embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations returns the embedded steps sorted by version.
func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number and '_'", base)
		}
		b, err := migrations.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share a version", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// migrate applies the steps db has not seen yet. It is safe to run on every
// Open and from several processes at once: each step re-reads the version
// inside its write transaction.
func migrate(ctx context.Context, db *sql.DB) error {
	ms, err := loadMigrations()
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	const create = `CREATE TABLE IF NOT EXISTS schema_version (
		version    INTEGER NOT NULL PRIMARY KEY,
		applied_at INTEGER NOT NULL
	) STRICT`
	if _, err := db.ExecContext(ctx, create); err != nil {
		return fmt.Errorf("create schema_version: %w", translate(err))
	}
	for _, m := range ms {
		if err := applyMigration(ctx, db, m); err != nil {
			return fmt.Errorf("migrate %s: %w", m.name, err)
		}
	}
	return nil
}

func applyMigration(ctx context.Context, db *sql.DB, m migration) error {
	if m.version == messagesFileStep {
		return moveMessages(ctx, db, m)
	}
	if messagesFileSteps[m.version] {
		return applyInMessagesFile(ctx, db, m)
	}
	tx, applied, err := beginStep(ctx, db, m)
	if err != nil || applied {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return translate(err)
	}
	return commitStep(ctx, tx, m)
}

// beginStep begins the write transaction of step m, holding the database
// file's write lock (the connection begins transactions deferred), and
// reports whether the step was applied already (the transaction is then
// closed).
func beginStep(ctx context.Context, db *sql.DB, m migration) (*sql.Tx, bool, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, translate(err)
	}
	if _, err := tx.ExecContext(ctx, stmtSQL[stmtLockDatabase]); err != nil {
		tx.Rollback()
		return nil, false, translate(err)
	}
	// Look for this very step, not at the highest applied: a step merged
	// from another branch may carry a lower number than one already applied.
	var applied int
	err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_version WHERE version = ?`, m.version).Scan(&applied)
	if err != nil {
		tx.Rollback()
		return nil, false, translate(err)
	}
	if applied > 0 {
		tx.Rollback()
		return nil, true, nil
	}
	return tx, false, nil
}

// messagesFileStep is the step that moved messages to the messages file.
const messagesFileStep = 25

// moveMessages applies step 25 (0025_messages_file.sql): the messages
// file's tables, and a copy of the old messages, commit there first; the
// old tables are dropped in the database file after. Once applied, the
// messages file must hold its tables: a database whose messages file went
// missing fails to open rather than start without its messages.
func moveMessages(ctx context.Context, db *sql.DB, m migration) error {
	var applied int
	err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_version WHERE version = ?`, m.version).Scan(&applied)
	if err != nil {
		return translate(err)
	}
	if applied > 0 {
		var ok bool
		err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+messagesSchema+`.sqlite_master WHERE type = 'table' AND name = 'messages')`).Scan(&ok)
		if err != nil {
			return translate(err)
		}
		if !ok {
			return errors.New("the messages file has no messages table: it is missing or was replaced; restore it from the backup taken with the database file")
		}
		return nil
	}
	if err := inMessagesFile(ctx, db, m, copyMessages); err != nil {
		return err
	}
	// In the database file: the old tables go.
	return recordStep(ctx, db, m, `DROP TABLE IF EXISTS main.message_search`, `DROP TABLE IF EXISTS main.messages`)
}

// messagesFileSteps are the steps after step 25 that change only the
// messages file's tables. Each runs in two transactions, as step 25 does
// (a transaction over two files in WAL mode is atomic per file only): its
// script, idempotent, in the messages file, then its row in schema_version
// in the database file. A crash between the two runs the script again.
var messagesFileSteps = map[int]bool{28: true}

// applyInMessagesFile applies step m, one of messagesFileSteps.
func applyInMessagesFile(ctx context.Context, db *sql.DB, m migration) error {
	var applied int
	err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_version WHERE version = ?`, m.version).Scan(&applied)
	if err != nil || applied > 0 {
		return translate(err)
	}
	if err := inMessagesFile(ctx, db, m, nil); err != nil {
		return err
	}
	return recordStep(ctx, db, m)
}

// inMessagesFile is the first transaction of a step that changes the
// messages file: step m's script, then more (if not nil), in one
// transaction that writes the messages file only.
func inMessagesFile(ctx context.Context, db *sql.DB, m migration, more func(context.Context, *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return translate(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return translate(err)
	}
	if more != nil {
		if err := more(ctx, tx); err != nil {
			return err
		}
	}
	return translate(tx.Commit())
}

// recordStep is the last transaction of a step that changes the messages
// file, in the database file: stmts, then step m's row in schema_version,
// unless another process recorded it first.
func recordStep(ctx context.Context, db *sql.DB, m migration, stmts ...string) error {
	tx, applied, err := beginStep(ctx, db, m)
	if err != nil || applied {
		return err
	}
	defer tx.Rollback()
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return translate(err)
		}
	}
	return commitStep(ctx, tx, m)
}

// copyMessages is the rest of step 25's first transaction, in the
// messages file: the old table's rows (none left once the second
// transaction committed).
func copyMessages(ctx context.Context, tx *sql.Tx) error {
	var old bool
	err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = 'messages')`).Scan(&old)
	if err != nil {
		return translate(err)
	}
	if !old {
		return nil
	}
	const cols = `app_id, conv_id, seq, sender_id, client_msg_id, type, body, created_at, recalled_at,
		push, mentions, mention_all, edited_at`
	_, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO `+messagesSchema+`.messages (`+cols+`, search_id)
		SELECT `+cols+`, CASE WHEN search_id > 0 THEN NULL ELSE search_id END FROM main.messages`)
	return translate(err)
}

// commitStep records step m in schema_version and commits tx.
func commitStep(ctx context.Context, tx *sql.Tx, m migration) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, applied_at) VALUES (?, ?)`,
		m.version, time.Now().UnixMilli())
	if err != nil {
		return translate(err)
	}
	return translate(tx.Commit())
}

// SchemaVersion returns the highest migration step applied to the database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.read.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("schema version: %w", translate(err))
	}
	return v, nil
}
