-- Password sign-in throttling. One row per subject: a normalized email ('account', also for
-- emails nobody registered, so throttling says nothing about who exists), a client address
-- ('addr') or a remembered device ('device'). 'attempts' counts attempts since the last
-- success; an attempt is counted before the password is checked, so parallel guesses cannot
-- overshoot the limits.
CREATE TABLE sign_in_throttle (
    scope         TEXT   NOT NULL CHECK (scope IN ('account', 'addr', 'device')),
    subject       TEXT   NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    blocked_until BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, subject)
);
