-- Accounts, users, sessions and the audit log. Times are Unix seconds.
CREATE TABLE accounts (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    require_2fa INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    account_id    INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    email         TEXT    NOT NULL UNIQUE,
    role          TEXT    NOT NULL CHECK (role IN ('owner', 'admin')),
    password_hash TEXT,
    created_at    INTEGER NOT NULL
);
CREATE INDEX users_account ON users(account_id);
CREATE UNIQUE INDEX users_one_owner ON users(account_id) WHERE role = 'owner';

CREATE TABLE sessions (
    id_hash      BLOB    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    client_addr  TEXT    NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE audit_events (
    id             INTEGER PRIMARY KEY,
    account_id     INTEGER REFERENCES accounts(id) ON DELETE CASCADE,
    actor_user_id  INTEGER,
    target_user_id INTEGER,
    event          TEXT    NOT NULL,
    detail         TEXT    NOT NULL,
    client_addr    TEXT    NOT NULL,
    created_at     INTEGER NOT NULL
);
CREATE INDEX audit_account ON audit_events(account_id, id);
