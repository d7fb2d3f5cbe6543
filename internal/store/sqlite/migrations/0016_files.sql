-- 0016: uploaded files' metadata (see store.FileStore); their contents are
-- in the blob store. Listed by id, of one uploader (user erasure) or of one
-- conversation.

CREATE TABLE files (
	app_id       TEXT    NOT NULL,
	id           TEXT    NOT NULL,
	uploader_id  TEXT    NOT NULL,
	conv_id      TEXT    NOT NULL,
	name         TEXT    NOT NULL,
	content_type TEXT    NOT NULL,
	size         INTEGER NOT NULL,
	sha256       TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	PRIMARY KEY (app_id, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX files_uploader ON files (app_id, uploader_id, id);
CREATE INDEX files_conv ON files (app_id, conv_id, id);
