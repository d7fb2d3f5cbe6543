-- 0020: when a user was last online (store.User.LastSeenAt, presence
-- subscriptions), and a group's owner and admins found without reading
-- its other members (ListGroupAdmins: join requests notify them). The
-- index is partial: it holds the few entries with a role above member.

ALTER TABLE users ADD COLUMN last_seen_at INTEGER NOT NULL DEFAULT 0;

CREATE INDEX user_conversations_admins ON user_conversations (app_id, conv_id, user_id)
	WHERE role IN ('owner', 'admin');
