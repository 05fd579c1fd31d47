-- Owner controls: invitations, setup links after a reset, and enrollments that switch the
-- account requirement on when they complete.
ALTER TABLE users ADD COLUMN tfa_reset_pending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE enrollments ADD COLUMN then_require_account INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pending_logins ADD COLUMN via_setup_link INTEGER NOT NULL DEFAULT 0;

-- Single-use links handed over by the owner: 'invite' (7 days) or 'setup' (24 hours).
CREATE TABLE user_links (
    token_hash BLOB    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL CHECK (kind IN ('invite', 'setup')),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX user_links_user ON user_links(user_id);
