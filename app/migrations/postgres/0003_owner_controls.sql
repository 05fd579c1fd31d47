-- Owner controls: invitations, setup links after a reset, and enrollments that switch the
-- account requirement on when they complete.
ALTER TABLE users ADD COLUMN tfa_reset_pending BIGINT NOT NULL DEFAULT 0;
ALTER TABLE enrollments ADD COLUMN then_require_account BIGINT NOT NULL DEFAULT 0;
ALTER TABLE pending_logins ADD COLUMN via_setup_link BIGINT NOT NULL DEFAULT 0;

-- Single-use links handed over by the owner: 'invite' (7 days) or 'setup' (24 hours).
CREATE TABLE user_links (
    token_hash BYTEA    PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL CHECK (kind IN ('invite', 'setup')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX user_links_user ON user_links(user_id);
