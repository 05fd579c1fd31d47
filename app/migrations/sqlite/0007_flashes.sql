-- The result of a plain form post (no JavaScript), held for the page the browser is sent back
-- to: recovery codes, a link to hand over, or a sentence saying what was done. One per session
-- or half sign-in (the SHA-256 of its id), sealed with the server key, gone once shown or after
-- a few minutes, and with its user.
CREATE TABLE flashes (
    holder_hash BLOB    PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    sealed      BLOB    NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX flashes_user ON flashes(user_id);
