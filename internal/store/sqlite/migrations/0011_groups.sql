-- 0011: groups (see store.GroupStore). A group's membership is its
-- conversation's entries (user_conversations), which gain the member's
-- role, mute and join time, listed per conversation by user id; a
-- conversation-wide mention of all members is one column on the
-- conversation, a mention of a user one on its entry; messages keep their
-- mentions. Join requests wait in their own table.

CREATE TABLE groups (
	app_id          TEXT    NOT NULL,
	id              TEXT    NOT NULL,
	name            TEXT    NOT NULL,
	avatar_url      TEXT    NOT NULL,
	notice          TEXT    NOT NULL,
	metadata        TEXT    NOT NULL,
	owner_id        TEXT    NOT NULL,
	policy          TEXT    NOT NULL,
	mute_all        INTEGER NOT NULL,
	history_visible INTEGER NOT NULL,
	member_count    INTEGER NOT NULL,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	dismissed_at    INTEGER NOT NULL,
	version         INTEGER NOT NULL,
	PRIMARY KEY (app_id, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE group_join_requests (
	app_id     TEXT    NOT NULL,
	group_id   TEXT    NOT NULL,
	user_id    TEXT    NOT NULL,
	inviter_id TEXT    NOT NULL,
	message    TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (app_id, group_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX group_join_requests_user ON group_join_requests (app_id, user_id);

ALTER TABLE user_conversations ADD COLUMN role TEXT NOT NULL DEFAULT '';
ALTER TABLE user_conversations ADD COLUMN muted_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE user_conversations ADD COLUMN joined_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE user_conversations ADD COLUMN mention_seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX user_conversations_conv ON user_conversations (app_id, conv_id, user_id);

ALTER TABLE conversations ADD COLUMN mention_all_seq INTEGER NOT NULL DEFAULT 0;

ALTER TABLE messages ADD COLUMN mentions TEXT;
ALTER TABLE messages ADD COLUMN mention_all INTEGER NOT NULL DEFAULT 0;
