-- Security mail waits here, written in the transaction of the change it reports, until a worker
-- of some instance sends it (see app/src/server/mail.rs). The recipient is a user (NULL: the
-- account's owner at the time of sending); a removed user's mail goes with them.
CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id    INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    user_id       INTEGER REFERENCES users(id) ON DELETE CASCADE,
    kind          TEXT    NOT NULL,
    -- What the mail says besides the names (JSON); never a code or a secret.
    params        TEXT    NOT NULL DEFAULT '{}',
    -- An invitation or setup link the owner chose to send, sealed with the server key; cleared
    -- once sent.
    link_sealed   BLOB,
    -- The half sign-in an "unfinished sign-in" mail is about (the SHA-256 of its id).
    subject       BLOB,
    created_at    INTEGER NOT NULL,
    due_at        INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    -- A worker's claim: the row is its own until then (a crashed worker's claim runs out).
    claimed_until INTEGER NOT NULL DEFAULT 0,
    claim         TEXT,
    done_at       INTEGER,
    -- 'sent', or 'given_up' (a day of failures, or refused for good). A mail an hourly limit
    -- suppresses, or that has nobody to go to any more, is deleted instead.
    outcome       TEXT,
    last_error    TEXT,
    -- The address a sent mail went to: one address gets a bounded number an hour.
    sent_to       TEXT
);
CREATE INDEX outbox_due ON outbox(due_at) WHERE done_at IS NULL;
CREATE INDEX outbox_subject ON outbox(subject) WHERE subject IS NOT NULL;
CREATE INDEX outbox_waiting ON outbox(account_id, user_id) WHERE done_at IS NULL;
CREATE INDEX outbox_sent_to ON outbox(sent_to, done_at) WHERE sent_to IS NOT NULL;
CREATE INDEX outbox_done ON outbox(done_at) WHERE done_at IS NOT NULL;

-- "Someone has your password" mail goes at most once an hour per user.
ALTER TABLE users ADD COLUMN password_alert_at INTEGER NOT NULL DEFAULT 0;
-- A half sign-in from a browser that was not a remembered device of its user.
ALTER TABLE pending_logins ADD COLUMN new_browser INTEGER NOT NULL DEFAULT 0;
