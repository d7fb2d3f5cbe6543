-- 0026: what the message log holds of conversations and members' entries
-- (a conversation's max_seq and updated_at, a sender's read_seq) is no
-- longer written by every append: the log's rows are folded into those
-- tables in bulk (fold.go). folded is the highest log rowid folded; every
-- row up to here was applied when it was appended, before this step.
CREATE TABLE log_fold (
	id     INTEGER PRIMARY KEY CHECK (id = 1),
	folded INTEGER NOT NULL
) STRICT;
INSERT INTO log_fold (id, folded) SELECT 1, COALESCE(max(rowid), 0) FROM message_log;

-- A delivery ack is a row here, in arrival order with no index, until the
-- fold moves it into device_cursors and the member's delivered_seq (the
-- highest of its devices' cursors) and deletes it.
CREATE TABLE ack_log (
	app_id    TEXT    NOT NULL,
	user_id   TEXT    NOT NULL,
	device_id TEXT    NOT NULL,
	conv_id   TEXT    NOT NULL,
	seq       INTEGER NOT NULL
) STRICT;
