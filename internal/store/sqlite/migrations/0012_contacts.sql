-- 0012: contacts (see store.ContactStore). A friendship is two rows of
-- friends, one per side with its own remark; friend requests are listed
-- outgoing by the primary key and incoming by the to_id index; blocks are
-- listed by the primary key, and the reverse index serves DeleteUser.

CREATE TABLE friends (
	app_id     TEXT    NOT NULL,
	user_id    TEXT    NOT NULL,
	friend_id  TEXT    NOT NULL,
	remark     TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (app_id, user_id, friend_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE friend_requests (
	app_id     TEXT    NOT NULL,
	from_id    TEXT    NOT NULL,
	to_id      TEXT    NOT NULL,
	message    TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (app_id, from_id, to_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX friend_requests_to ON friend_requests (app_id, to_id, from_id);

CREATE TABLE blocks (
	app_id     TEXT    NOT NULL,
	user_id    TEXT    NOT NULL,
	target_id  TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (app_id, user_id, target_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX blocks_target ON blocks (app_id, target_id);
