-- 0010: customer service (see store.SupportStore). An app's agents, one row
-- per agent user, with its skills (JSON; an app has few agents, so listing
-- by skill reads them all) and the count of its active sessions; the
-- support sessions, listed in queue order (by creation time, then id) per
-- state and skill, per agent and state, and per visitor.

CREATE TABLE support_agents (
	app_id     TEXT    NOT NULL,
	user_id    TEXT    NOT NULL,
	skills     TEXT    NOT NULL,
	capacity   INTEGER NOT NULL,
	available  INTEGER NOT NULL,
	active     INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (app_id, user_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE support_sessions (
	app_id      TEXT    NOT NULL,
	id          TEXT    NOT NULL,
	visitor_id  TEXT    NOT NULL,
	skill       TEXT    NOT NULL,
	agent_id    TEXT    NOT NULL,
	state       TEXT    NOT NULL,
	created_at  INTEGER NOT NULL,
	assigned_at INTEGER NOT NULL,
	closed_at   INTEGER NOT NULL,
	closed_by   TEXT    NOT NULL,
	rating      INTEGER NOT NULL,
	comment     TEXT    NOT NULL,
	version     INTEGER NOT NULL,
	PRIMARY KEY (app_id, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX support_sessions_queue ON support_sessions (app_id, state, skill, created_at, id);
CREATE INDEX support_sessions_agent ON support_sessions (app_id, agent_id, state);
CREATE INDEX support_sessions_visitor ON support_sessions (app_id, visitor_id);
CREATE INDEX support_sessions_created ON support_sessions (app_id, created_at, id);
