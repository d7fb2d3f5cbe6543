-- 0025: messages and their search index move to the messages file
-- (MessagesPath, attached to every connection as "msgs"), which has a
-- writer of its own, the absorber (absorber.go). Queries name the tables
-- without the schema, as before.
--
-- This step runs in two transactions, one per file (schema.go,
-- moveMessages): this script and the copy of the old table commit in the
-- messages file first; then the old tables are dropped, with the step's
-- row in schema_version, in the database file. A crash between the two
-- runs it again: every statement here is idempotent. A later step that
-- changes the messages file's tables must do the same (a transaction over
-- two files in WAL mode is atomic per file only).
--
-- The search index is not copied (a contentless FTS5 table cannot be
-- read back): the copied messages are queued for the indexer again.

CREATE TABLE IF NOT EXISTS msgs.messages (
	app_id        TEXT    NOT NULL,
	conv_id       TEXT    NOT NULL,
	seq           INTEGER NOT NULL,
	sender_id     TEXT    NOT NULL,
	client_msg_id TEXT    NOT NULL,
	type          TEXT    NOT NULL,
	body          BLOB,
	created_at    INTEGER NOT NULL,
	recalled_at   INTEGER NOT NULL,
	push          BLOB,
	mentions      TEXT,
	mention_all   INTEGER NOT NULL DEFAULT 0,
	edited_at     INTEGER NOT NULL DEFAULT 0,
	search_id     INTEGER,
	PRIMARY KEY (app_id, conv_id, seq)
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS msgs.messages_client_msg ON messages (app_id, sender_id, client_msg_id)
	WHERE client_msg_id <> '';
CREATE UNIQUE INDEX IF NOT EXISTS msgs.messages_search ON messages (search_id) WHERE search_id > 0;
CREATE INDEX IF NOT EXISTS msgs.messages_unindexed ON messages (search_id) WHERE search_id IS NULL;

CREATE VIRTUAL TABLE IF NOT EXISTS msgs.message_search USING fts5 (
	text, scope,
	content = '', contentless_delete = 1,
	tokenize = 'unicode61 remove_diacritics 2'
);
