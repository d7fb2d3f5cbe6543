-- 0009: webhooks (see store.WebhookStore). An app's endpoints, counted per
-- kind for the per-kind limit; the events delivered to them, kept for
-- replay and expired by creation time; the log of delivery attempts, listed
-- newest first per endpoint (and per event of an endpoint) and expired by
-- time; the app's keyword rules, one row per app. Lists (an endpoint's
-- event types and secrets, the rules) are JSON.

CREATE TABLE webhooks (
	app_id          TEXT    NOT NULL,
	id              TEXT    NOT NULL,
	kind            TEXT    NOT NULL,
	url             TEXT    NOT NULL,
	description     TEXT    NOT NULL,
	events          TEXT    NOT NULL,
	enabled         INTEGER NOT NULL,
	disabled_reason TEXT    NOT NULL,
	secrets         TEXT    NOT NULL,
	timeout_ns      INTEGER NOT NULL,
	fail_open       INTEGER NOT NULL,
	server_api      INTEGER NOT NULL,
	failures        INTEGER NOT NULL,
	failing_since   INTEGER NOT NULL,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	version         INTEGER NOT NULL,
	PRIMARY KEY (app_id, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX webhooks_kind ON webhooks (app_id, kind);

CREATE TABLE webhook_events (
	app_id     TEXT    NOT NULL,
	id         TEXT    NOT NULL,
	type       TEXT    NOT NULL,
	payload    BLOB,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (app_id, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX webhook_events_created ON webhook_events (app_id, created_at);

CREATE TABLE webhook_attempts (
	app_id     TEXT    NOT NULL,
	id         TEXT    NOT NULL,
	webhook_id TEXT    NOT NULL,
	event_id   TEXT    NOT NULL,
	event_type TEXT    NOT NULL,
	attempt    INTEGER NOT NULL,
	outcome    TEXT    NOT NULL,
	status     INTEGER NOT NULL,
	error      TEXT    NOT NULL,
	response   TEXT    NOT NULL,
	latency_ns INTEGER NOT NULL,
	at         INTEGER NOT NULL,
	PRIMARY KEY (app_id, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX webhook_attempts_webhook ON webhook_attempts (app_id, webhook_id, id);
CREATE INDEX webhook_attempts_event ON webhook_attempts (app_id, webhook_id, event_id, id);
CREATE INDEX webhook_attempts_at ON webhook_attempts (app_id, at);

CREATE TABLE keyword_rules (
	app_id     TEXT    NOT NULL,
	rules      TEXT    NOT NULL,
	updated_at INTEGER NOT NULL,
	version    INTEGER NOT NULL,
	PRIMARY KEY (app_id)
) STRICT, WITHOUT ROWID;
