-- 0019: daily usage per app: counters (one row per app, UTC day and counter;
-- the peak connections counter is per node, "peak_connections:<node>") and
-- the users active each day (opaque user keys, each once).
CREATE TABLE usage_counters (
	app_id  TEXT    NOT NULL,
	day     TEXT    NOT NULL,
	counter TEXT    NOT NULL,
	value   INTEGER NOT NULL,
	PRIMARY KEY (app_id, day, counter)
) STRICT, WITHOUT ROWID;

CREATE TABLE usage_active_users (
	app_id   TEXT NOT NULL,
	day      TEXT NOT NULL,
	user_key TEXT NOT NULL,
	PRIMARY KEY (app_id, day, user_key)
) STRICT, WITHOUT ROWID;
