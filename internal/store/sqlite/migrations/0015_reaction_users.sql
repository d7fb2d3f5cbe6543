-- 0015: a user's reactions, for DeleteUser.
CREATE INDEX message_reactions_user ON message_reactions (app_id, user_id);
