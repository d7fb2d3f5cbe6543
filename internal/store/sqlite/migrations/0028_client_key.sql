-- 0028: the dedup index is ordered by client message id before sender
-- (messages_client_key replaces messages_client_msg; the constraint is the
-- same, and a lookup names all three columns). The SDKs make ids that
-- begin with the send time in milliseconds, so a new key lands at the end
-- of its app's range, beside the keys absorbed just before, instead of at
-- the end of each sender's range: an absorb of 8,192 messages from 1,000
-- senders dirtied one or two of the index's pages per sender.
--
-- Only the messages file changes: the step runs in two transactions as
-- step 25 does (schema.go, messagesFileSteps), so every statement here is
-- idempotent.
CREATE UNIQUE INDEX IF NOT EXISTS msgs.messages_client_key ON messages (app_id, client_msg_id, sender_id)
	WHERE client_msg_id <> '';
DROP INDEX IF EXISTS msgs.messages_client_msg;
