-- A fourth ceremony: the owner adding a passkey as the step that switches the account's
-- requirement on. Ceremonies live five minutes, so the table is made anew rather than altered.
DROP TABLE webauthn_ceremonies;
CREATE TABLE webauthn_ceremonies (
    holder_hash BYTEA  NOT NULL,
    kind        TEXT   NOT NULL
        CHECK (kind IN ('register', 'register_require', 'authenticate', 'confirm')),
    user_id     BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    state       BYTEA  NOT NULL,
    name        TEXT,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (holder_hash, kind)
);
CREATE INDEX webauthn_ceremonies_user ON webauthn_ceremonies(user_id);
