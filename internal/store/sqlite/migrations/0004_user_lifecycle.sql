-- 0004: deleting a user deletes it. A deleted user's id may be used again by
-- a new user, who must not inherit anything: tombstones remember when an
-- id was deleted (tokens issued before stay invalid), a conversation entry
-- records the first seq its user may see, and a conversation that lost a
-- member's entry is flagged so that its next message re-creates the entry
-- of a member who exists again.

CREATE TABLE user_tombstones (
	app_id     TEXT    NOT NULL,
	id         TEXT    NOT NULL,
	deleted_at INTEGER NOT NULL,
	PRIMARY KEY (app_id, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX user_tombstones_deleted ON user_tombstones (deleted_at);

ALTER TABLE user_conversations ADD COLUMN first_seq INTEGER NOT NULL DEFAULT 1;
ALTER TABLE conversations ADD COLUMN rejoin INTEGER NOT NULL DEFAULT 0;
