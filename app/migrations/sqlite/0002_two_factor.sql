-- Two-factor authentication: per-user setting, authenticators, pending enrollments,
-- recovery codes, lockout state and the half-signed-in state between password and code.
ALTER TABLE users ADD COLUMN tfa_on INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN tfa_source TEXT CHECK (tfa_source IN ('account', 'owner', 'self'));
ALTER TABLE users ADD COLUMN tfa_set_by INTEGER;
ALTER TABLE users ADD COLUMN tfa_set_at INTEGER;
ALTER TABLE users ADD COLUMN code_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN code_lockouts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN code_locked_until INTEGER NOT NULL DEFAULT 0;

ALTER TABLE sessions ADD COLUMN second_factor INTEGER NOT NULL DEFAULT 0;

CREATE TABLE authenticators (
    user_id    INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret_enc BLOB    NOT NULL,
    last_step  INTEGER,
    created_at INTEGER NOT NULL
);

CREATE TABLE enrollments (
    user_id    INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret_enc BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE recovery_codes (
    id        INTEGER PRIMARY KEY,
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash BLOB    NOT NULL,
    used_at   INTEGER
);
CREATE INDEX recovery_codes_user ON recovery_codes(user_id);

CREATE TABLE pending_logins (
    id_hash    BLOB    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    enrolled   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX pending_logins_user ON pending_logins(user_id);
