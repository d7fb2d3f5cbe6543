-- 0014: a user's own settings of a conversation (store.ConvPrefs): when it
-- pinned it, its draft, and the seq up to which it cleared the history.

ALTER TABLE user_conversations ADD COLUMN pinned_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE user_conversations ADD COLUMN draft TEXT NOT NULL DEFAULT '';
ALTER TABLE user_conversations ADD COLUMN cleared_seq INTEGER NOT NULL DEFAULT 0;
