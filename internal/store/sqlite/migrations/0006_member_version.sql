-- 0006: console members carry a version, so that an update is a conditional
-- write (cluster mode: several processes may change one member at once).
ALTER TABLE members ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
