-- Ids are never reused: a removed user's id given to the next user made old audit events,
-- sessions being opened and remembered-device cookies point at a stranger. SQLite reuses the
-- highest rowid after a delete unless the key is AUTOINCREMENT, which needs a new table.
-- Migrations run in a transaction, where foreign keys cannot be switched off: dropping the old
-- table deletes the rows that reference it, so those are kept aside and put back.
CREATE TEMP TABLE keep_sessions AS SELECT * FROM sessions;
CREATE TEMP TABLE keep_authenticators AS SELECT * FROM authenticators;
CREATE TEMP TABLE keep_enrollments AS SELECT * FROM enrollments;
CREATE TEMP TABLE keep_recovery_codes AS SELECT * FROM recovery_codes;
CREATE TEMP TABLE keep_pending_logins AS SELECT * FROM pending_logins;
CREATE TEMP TABLE keep_user_links AS SELECT * FROM user_links;
CREATE TABLE users_new (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id        INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name              TEXT    NOT NULL,
    email             TEXT    NOT NULL UNIQUE,
    role              TEXT    NOT NULL CHECK (role IN ('owner', 'admin')),
    password_hash     TEXT,
    created_at        INTEGER NOT NULL,
    tfa_on            INTEGER NOT NULL DEFAULT 0,
    tfa_source        TEXT CHECK (tfa_source IN ('account', 'owner', 'self')),
    tfa_set_by        INTEGER,
    tfa_set_at        INTEGER,
    code_failures     INTEGER NOT NULL DEFAULT 0,
    code_lockouts     INTEGER NOT NULL DEFAULT 0,
    code_locked_until INTEGER NOT NULL DEFAULT 0,
    tfa_reset_pending INTEGER NOT NULL DEFAULT 0,
    -- Bumped when the user's remembered devices must be forgotten (a 2FA reset).
    device_epoch      INTEGER NOT NULL DEFAULT 0,
    -- Remembered-device tokens issued so far: only the newest few count.
    devices_issued    INTEGER NOT NULL DEFAULT 0
);
INSERT INTO users_new (id, account_id, name, email, role, password_hash, created_at, tfa_on,
    tfa_source, tfa_set_by, tfa_set_at, code_failures, code_lockouts, code_locked_until,
    tfa_reset_pending)
  SELECT id, account_id, name, email, role, password_hash, created_at, tfa_on,
    tfa_source, tfa_set_by, tfa_set_at, code_failures, code_lockouts, code_locked_until,
    tfa_reset_pending FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
INSERT INTO sessions SELECT * FROM keep_sessions;
DROP TABLE keep_sessions;
INSERT INTO authenticators SELECT * FROM keep_authenticators;
DROP TABLE keep_authenticators;
INSERT INTO enrollments SELECT * FROM keep_enrollments;
DROP TABLE keep_enrollments;
INSERT INTO recovery_codes SELECT * FROM keep_recovery_codes;
DROP TABLE keep_recovery_codes;
INSERT INTO pending_logins SELECT * FROM keep_pending_logins;
DROP TABLE keep_pending_logins;
INSERT INTO user_links SELECT * FROM keep_user_links;
DROP TABLE keep_user_links;
CREATE INDEX users_account ON users(account_id);
CREATE UNIQUE INDEX users_one_owner ON users(account_id) WHERE role = 'owner';

-- A step proved by a code that came with the clock hint: never accepted afterwards.
ALTER TABLE authenticators ADD COLUMN hinted_step INTEGER;

-- An enrollment belongs to the session or half sign-in that started it (the SHA-256 of its
-- id): another browser of the same user can neither see its QR code nor confirm it.
DELETE FROM enrollments;
ALTER TABLE enrollments ADD COLUMN holder_hash BLOB NOT NULL DEFAULT x'';

-- Throttling gains scopes for sign-ups per client address and for attempts with one link,
-- and the time a row last counted an attempt (the purge drops rows quiet for a day). A CHECK
-- changes only with a new table; nothing references this one.
CREATE TABLE sign_in_throttle_new (
    scope         TEXT    NOT NULL CHECK (scope IN ('account', 'addr', 'device', 'sign_up', 'link')),
    subject       TEXT    NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    blocked_until INTEGER NOT NULL DEFAULT 0,
    updated_at    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, subject)
);
INSERT INTO sign_in_throttle_new (scope, subject, attempts, blocked_until)
  SELECT scope, subject, attempts, blocked_until FROM sign_in_throttle;
DROP TABLE sign_in_throttle;
ALTER TABLE sign_in_throttle_new RENAME TO sign_in_throttle;

-- The periodic purge of expired rows reads these.
CREATE INDEX sessions_expires ON sessions(expires_at);
CREATE INDEX enrollments_expires ON enrollments(expires_at);
CREATE INDEX user_links_expires ON user_links(expires_at);
CREATE INDEX sign_in_throttle_updated ON sign_in_throttle(updated_at);
