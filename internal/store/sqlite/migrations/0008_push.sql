-- 0008: push notifications (see store.PushStore). Devices registered for
-- push, one per (user, device id) and one per (provider, token) in an app;
-- an app's provider credentials, one per provider; the push log, keyed by
-- its entry id, listed by id per user or per message, and expired by time;
-- each user's push settings. A message keeps its sender's push options, an
-- outbox entry the badge and payload it was rendered with, and a user's
-- conversation entry whether the user muted it.

ALTER TABLE messages ADD COLUMN push BLOB;
ALTER TABLE push_outbox ADD COLUMN badge INTEGER NOT NULL DEFAULT 0;
ALTER TABLE push_outbox ADD COLUMN payload BLOB;
ALTER TABLE user_conversations ADD COLUMN muted INTEGER NOT NULL DEFAULT 0;

CREATE TABLE push_devices (
	app_id      TEXT    NOT NULL,
	user_id     TEXT    NOT NULL,
	device_id   TEXT    NOT NULL,
	platform    TEXT    NOT NULL,
	provider    TEXT    NOT NULL,
	token       TEXT    NOT NULL,
	topic       TEXT    NOT NULL,
	environment TEXT    NOT NULL,
	locale      TEXT    NOT NULL,
	time_zone   TEXT    NOT NULL,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	PRIMARY KEY (app_id, user_id, device_id)
) STRICT, WITHOUT ROWID;
-- A token is registered once per app.
CREATE UNIQUE INDEX push_devices_token ON push_devices (app_id, provider, token);

CREATE TABLE push_credentials (
	app_id     TEXT    NOT NULL,
	provider   TEXT    NOT NULL,
	sealed     BLOB,
	info       TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (app_id, provider)
) STRICT, WITHOUT ROWID;

CREATE TABLE push_log (
	app_id    TEXT    NOT NULL,
	id        TEXT    NOT NULL,
	user_id   TEXT    NOT NULL,
	conv_id   TEXT    NOT NULL,
	seq       INTEGER NOT NULL,
	device_id TEXT    NOT NULL,
	provider  TEXT    NOT NULL,
	status    TEXT    NOT NULL,
	reason    TEXT    NOT NULL,
	at        INTEGER NOT NULL,
	PRIMARY KEY (app_id, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX push_log_user ON push_log (app_id, user_id, id);
CREATE INDEX push_log_conv ON push_log (app_id, conv_id, seq, id);
CREATE INDEX push_log_at ON push_log (app_id, at);

CREATE TABLE push_settings (
	app_id     TEXT    NOT NULL,
	user_id    TEXT    NOT NULL,
	disabled   INTEGER NOT NULL,
	dnd_start  INTEGER NOT NULL,
	dnd_end    INTEGER NOT NULL,
	time_zone  TEXT    NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (app_id, user_id)
) STRICT, WITHOUT ROWID;
