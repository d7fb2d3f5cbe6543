-- The message log (tail.go): AppendMessages writes a new message here, in
-- arrival order and with no index, so a commit writes a few sequential
-- pages instead of a leaf page of each of the messages table's indexes per
-- conversation and sender. The Store moves the log into messages in large
-- batches, sorted by conversation, before any read or other write of
-- messages, and on open.
CREATE TABLE message_log (
	app_id        TEXT    NOT NULL,
	conv_id       TEXT    NOT NULL,
	seq           INTEGER NOT NULL,
	sender_id     TEXT    NOT NULL,
	client_msg_id TEXT    NOT NULL,
	type          TEXT    NOT NULL,
	body          BLOB,
	created_at    INTEGER NOT NULL,
	push          BLOB,
	mentions      TEXT,
	mention_all   INTEGER NOT NULL,
	search_id     INTEGER
) STRICT;
