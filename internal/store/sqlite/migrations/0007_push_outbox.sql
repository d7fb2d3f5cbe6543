-- 0007: the push outbox, where the push workers record the offline
-- notifications of each app (see store.OutboxStore). An entry is keyed by
-- its push job's id, so a job handled twice is recorded once. Entries are
-- listed by id, per app or per user, and expire by creation time.

CREATE TABLE push_outbox (
	app_id     TEXT    NOT NULL,
	id         TEXT    NOT NULL,
	user_id    TEXT    NOT NULL,
	conv_id    TEXT    NOT NULL,
	seq        INTEGER NOT NULL,
	sender_id  TEXT    NOT NULL,
	type       TEXT    NOT NULL,
	preview    TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (app_id, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX push_outbox_user ON push_outbox (app_id, user_id, id);
CREATE INDEX push_outbox_created ON push_outbox (app_id, created_at);
