-- 0001: the initial schema.
--
-- Times are INTEGER unix milliseconds, 0 meaning "not set". Structured values
-- (metadata, members, limits, settings) are JSON text. Every table that holds
-- app data starts its primary key and each of its indexes with app_id.

CREATE TABLE meta (
	key   TEXT NOT NULL PRIMARY KEY,
	value TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE tenants (
	id         TEXT    NOT NULL PRIMARY KEY,
	name       TEXT    NOT NULL,
	created_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE members (
	id            TEXT    NOT NULL PRIMARY KEY,
	tenant_id     TEXT    NOT NULL,
	email         TEXT    NOT NULL COLLATE NOCASE,
	name          TEXT    NOT NULL,
	role          TEXT    NOT NULL,
	password_hash TEXT    NOT NULL,
	created_at    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX members_email ON members (email);
CREATE INDEX members_tenant ON members (tenant_id, id);

CREATE TABLE sessions (
	token_hash TEXT    NOT NULL PRIMARY KEY,
	member_id  TEXT    NOT NULL REFERENCES members (id) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX sessions_member ON sessions (member_id);

CREATE TABLE apps (
	id         TEXT    NOT NULL PRIMARY KEY,
	tenant_id  TEXT    NOT NULL,
	name       TEXT    NOT NULL,
	key        TEXT    NOT NULL,
	disabled   INTEGER NOT NULL,
	limits     TEXT    NOT NULL,
	settings   TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX apps_key ON apps (key);
CREATE INDEX apps_tenant ON apps (tenant_id, id);

CREATE TABLE secrets (
	app_id     TEXT    NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
	id         TEXT    NOT NULL,
	sealed     BLOB,
	hint       TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	revoked_at INTEGER NOT NULL,
	PRIMARY KEY (app_id, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE users (
	app_id             TEXT    NOT NULL,
	id                 TEXT    NOT NULL,
	name               TEXT    NOT NULL,
	avatar_url         TEXT    NOT NULL,
	metadata           TEXT    NOT NULL,
	blocked            INTEGER NOT NULL,
	tokens_valid_after INTEGER NOT NULL,
	created_at         INTEGER NOT NULL,
	updated_at         INTEGER NOT NULL,
	PRIMARY KEY (app_id, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE idempotency (
	app_id       TEXT    NOT NULL,
	key          TEXT    NOT NULL,
	request_hash TEXT    NOT NULL,
	status       INTEGER NOT NULL,
	body         BLOB,
	created_at   INTEGER NOT NULL,
	PRIMARY KEY (app_id, key)
) STRICT;

CREATE TABLE conversations (
	app_id     TEXT    NOT NULL,
	id         TEXT    NOT NULL,
	members    TEXT    NOT NULL,
	max_seq    INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (app_id, id)
) STRICT, WITHOUT ROWID;

-- Bodies can be large, so messages keep a rowid table (WITHOUT ROWID suits
-- small rows only).
CREATE TABLE messages (
	app_id        TEXT    NOT NULL,
	conv_id       TEXT    NOT NULL,
	seq           INTEGER NOT NULL,
	sender_id     TEXT    NOT NULL,
	client_msg_id TEXT    NOT NULL,
	type          TEXT    NOT NULL,
	body          BLOB,
	created_at    INTEGER NOT NULL,
	recalled_at   INTEGER NOT NULL,
	PRIMARY KEY (app_id, conv_id, seq)
) STRICT;
-- Deduplication: one message per (sender, client message id) in an app.
CREATE UNIQUE INDEX messages_client_msg ON messages (app_id, sender_id, client_msg_id)
	WHERE client_msg_id <> '';

CREATE TABLE user_conversations (
	app_id        TEXT    NOT NULL,
	user_id       TEXT    NOT NULL,
	conv_id       TEXT    NOT NULL,
	read_seq      INTEGER NOT NULL,
	delivered_seq INTEGER NOT NULL,
	PRIMARY KEY (app_id, user_id, conv_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE device_cursors (
	app_id    TEXT    NOT NULL,
	user_id   TEXT    NOT NULL,
	device_id TEXT    NOT NULL,
	conv_id   TEXT    NOT NULL,
	seq       INTEGER NOT NULL,
	PRIMARY KEY (app_id, user_id, device_id, conv_id)
) STRICT, WITHOUT ROWID;
