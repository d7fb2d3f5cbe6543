-- 0005: apps carry a version, so that an update is a conditional write
-- (cluster mode: several processes may update one app at once).
ALTER TABLE apps ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
