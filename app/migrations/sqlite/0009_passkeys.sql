-- Passkeys and security keys (WebAuthn) as a second factor: webauthn-rs's `Passkey` as JSON
-- (public key, signature counter, backup state), updated after each use. A credential id
-- belongs to one user only.
CREATE TABLE passkeys (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    credential_id BLOB    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    passkey       TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);
CREATE INDEX passkeys_user ON passkeys(user_id);

-- A WebAuthn ceremony in progress (adding a passkey, proving one), sealed with the server key,
-- for the session or half sign-in that started it; taken once by a conditional DELETE.
CREATE TABLE webauthn_ceremonies (
    holder_hash BLOB    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('register', 'authenticate')),
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    state       BLOB    NOT NULL,
    name        TEXT,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (holder_hash, kind)
);
CREATE INDEX webauthn_ceremonies_user ON webauthn_ceremonies(user_id);
