-- Identity columns never reuse an id; SQLite's table needed AUTOINCREMENT for the same.
-- Bumped when the user's remembered devices must be forgotten (a 2FA reset).
ALTER TABLE users ADD COLUMN device_epoch BIGINT NOT NULL DEFAULT 0;
-- Remembered-device tokens issued so far: only the newest few count.
ALTER TABLE users ADD COLUMN devices_issued BIGINT NOT NULL DEFAULT 0;

-- A step proved by a code that came with the clock hint: never accepted afterwards.
ALTER TABLE authenticators ADD COLUMN hinted_step BIGINT;

-- An enrollment belongs to the session or half sign-in that started it (the SHA-256 of its
-- id): another browser of the same user can neither see its QR code nor confirm it.
DELETE FROM enrollments;
ALTER TABLE enrollments ADD COLUMN holder_hash BYTEA NOT NULL DEFAULT ''::bytea;

-- Throttling gains scopes for sign-ups per client address and for attempts with one link,
-- and the time a row last counted an attempt (the purge drops rows quiet for a day).
ALTER TABLE sign_in_throttle DROP CONSTRAINT sign_in_throttle_scope_check;
ALTER TABLE sign_in_throttle ADD CONSTRAINT sign_in_throttle_scope_check
    CHECK (scope IN ('account', 'addr', 'device', 'sign_up', 'link'));
ALTER TABLE sign_in_throttle ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;

-- The periodic purge of expired rows reads these.
CREATE INDEX sessions_expires ON sessions(expires_at);
CREATE INDEX enrollments_expires ON enrollments(expires_at);
CREATE INDEX user_links_expires ON user_links(expires_at);
CREATE INDEX sign_in_throttle_updated ON sign_in_throttle(updated_at);
