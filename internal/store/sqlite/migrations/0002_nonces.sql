-- 0002: request nonces of the signed server API, kept for the replay window
-- so that a replay is refused after a restart too.

CREATE TABLE nonces (
	app_id     TEXT    NOT NULL,
	value      TEXT    NOT NULL,
	expires_at INTEGER NOT NULL,
	PRIMARY KEY (app_id, value)
) STRICT, WITHOUT ROWID;
CREATE INDEX nonces_expiry ON nonces (expires_at);
