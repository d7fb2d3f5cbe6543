-- 0018: chat rooms (see store.RoomStore). Only the room records: a room's
-- membership and messages are not stored. muted is a JSON array of user
-- ids, sorted.

CREATE TABLE rooms (
	app_id       TEXT    NOT NULL,
	id           TEXT    NOT NULL,
	name         TEXT    NOT NULL,
	owner_id     TEXT    NOT NULL,
	history_size INTEGER NOT NULL,
	rate_limit   REAL    NOT NULL,
	max_members  INTEGER NOT NULL,
	muted        TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	PRIMARY KEY (app_id, id)
) STRICT, WITHOUT ROWID;
