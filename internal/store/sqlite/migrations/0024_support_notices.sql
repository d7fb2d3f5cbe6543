-- 0024: the support outbox holds notices too (see store.SupportEvent): the
-- system messages of a step to the visitor and the agents, written in the
-- transaction of the step's change like its post events and deleted once
-- sent. kind is '' for an event, 'notice' for a notice; user_id is a
-- notice's recipient. Each kind has its own drain, which reads by kind and
-- time.
ALTER TABLE support_outbox ADD COLUMN kind TEXT NOT NULL DEFAULT '';
ALTER TABLE support_outbox ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
CREATE INDEX support_outbox_kind_at ON support_outbox (kind, at);
