-- 0013: rich messages (see store.RichStore). A message keeps the time of
-- its last edit; reactions are one row per (message, emoji, user).

ALTER TABLE messages ADD COLUMN edited_at INTEGER NOT NULL DEFAULT 0;

CREATE TABLE message_reactions (
	app_id     TEXT    NOT NULL,
	conv_id    TEXT    NOT NULL,
	seq        INTEGER NOT NULL,
	emoji      TEXT    NOT NULL,
	user_id    TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (app_id, conv_id, seq, emoji, user_id)
) STRICT, WITHOUT ROWID;
