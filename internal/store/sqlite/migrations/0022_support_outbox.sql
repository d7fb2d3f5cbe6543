-- 0022: the support outbox (see store.SupportEvent): the post events of
-- support sessions' steps, written in the transaction of the step's change
-- and deleted once published. It holds only what is not published yet, so
-- it stays small; the drain reads it whole.
CREATE TABLE support_outbox (
	app_id     TEXT    NOT NULL,
	id         TEXT    NOT NULL,
	session_id TEXT    NOT NULL,
	type       TEXT    NOT NULL,
	at         INTEGER NOT NULL,
	payload    BLOB    NOT NULL,
	PRIMARY KEY (app_id, id)
) STRICT, WITHOUT ROWID;
