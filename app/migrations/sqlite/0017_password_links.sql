-- Password links (a forgotten password, or the owner's "Reset password"): single use, like the
-- invitation and setup links, in the same table. The kind's CHECK changes only with a new
-- table; nothing references this one. No CHECK this time: the code names the kinds.
CREATE TABLE user_links_new (
    token_hash BLOB    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
INSERT INTO user_links_new (token_hash, user_id, kind, created_at, expires_at, used_at)
  SELECT token_hash, user_id, kind, created_at, expires_at, used_at FROM user_links;
DROP TABLE user_links;
ALTER TABLE user_links_new RENAME TO user_links;
CREATE INDEX user_links_user ON user_links(user_id);
CREATE INDEX user_links_expires ON user_links(expires_at);

-- Throttling gains a scope for password links asked for by email, by the email. Without a CHECK
-- on the scope from now on: the code names the scopes.
CREATE TABLE sign_in_throttle_new (
    scope         TEXT    NOT NULL,
    subject       TEXT    NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    blocked_until INTEGER NOT NULL DEFAULT 0,
    updated_at    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, subject)
);
INSERT INTO sign_in_throttle_new (scope, subject, attempts, blocked_until, updated_at)
  SELECT scope, subject, attempts, blocked_until, updated_at FROM sign_in_throttle;
DROP TABLE sign_in_throttle;
ALTER TABLE sign_in_throttle_new RENAME TO sign_in_throttle;
CREATE INDEX sign_in_throttle_updated ON sign_in_throttle(updated_at);
