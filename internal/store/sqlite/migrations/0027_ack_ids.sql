-- 0027: the ack log's rows get ids that are never used twice
-- (AUTOINCREMENT), so that a prune's fold can take the acks up to an id in
-- one commit and delete them in a later one (fold.go): a plain rowid
-- starts again from 1 once the table is empty, and a row logged after a
-- fold emptied it could take the id of one folded before.
CREATE TABLE ack_log_ids (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	app_id    TEXT    NOT NULL,
	user_id   TEXT    NOT NULL,
	device_id TEXT    NOT NULL,
	conv_id   TEXT    NOT NULL,
	seq       INTEGER NOT NULL
) STRICT;
INSERT INTO ack_log_ids (app_id, user_id, device_id, conv_id, seq)
	SELECT app_id, user_id, device_id, conv_id, seq FROM ack_log ORDER BY rowid;
DROP TABLE ack_log;
ALTER TABLE ack_log_ids RENAME TO ack_log;
