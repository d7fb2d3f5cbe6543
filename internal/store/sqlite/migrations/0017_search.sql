-- 0017: keyword search (store.SearchStore).
--
-- message_search is a contentless FTS5 index of the messages' search
-- tokens (store.IndexTokens, computed in Go: folded words, and CJK text as
-- pairs of characters), and of one scope token per (app, conversation), so
-- that a search runs over the searching user's conversations only. Its
-- rowid is the message's search_id, allocated by AppendMessages (the max
-- plus one), never the message's own rowid, which VACUUM may renumber.
--
-- The index is written asynchronously (see internal/store/sqlite/search.go):
-- messages.search_id is NULL for a message waiting for the indexer (every
-- message stored before this step, and each new searchable one: the
-- partial index messages_unindexed is the indexer's queue, in rowid order),
-- 0 for one with nothing to index (no search text, recalled, erased), else
-- its row in message_search.

ALTER TABLE messages ADD COLUMN search_id INTEGER;
CREATE UNIQUE INDEX messages_search ON messages (search_id) WHERE search_id > 0;
CREATE INDEX messages_unindexed ON messages (search_id) WHERE search_id IS NULL;

CREATE VIRTUAL TABLE message_search USING fts5 (
	text, scope,
	content = '', contentless_delete = 1,
	tokenize = 'unicode61 remove_diacritics 2'
);
