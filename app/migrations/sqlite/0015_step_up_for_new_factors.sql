-- An enrollment started after a step-up (a passkey proved): only such an enrollment may add an
-- authenticator app beside a second factor already in use.
ALTER TABLE enrollments ADD COLUMN proven INTEGER NOT NULL DEFAULT 0;

-- Throttling gains a scope for the passkey ceremonies one user starts. A CHECK changes only with
-- a new table; nothing references this one.
CREATE TABLE sign_in_throttle_new (
    scope         TEXT    NOT NULL
        CHECK (scope IN ('account', 'addr', 'device', 'sign_up', 'link', 'passkey')),
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
