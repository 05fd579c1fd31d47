-- An enrollment started after a step-up (a passkey proved): only such an enrollment may add an
-- authenticator app beside a second factor already in use.
ALTER TABLE enrollments ADD COLUMN proven BIGINT NOT NULL DEFAULT 0;

-- Throttling gains a scope for the passkey ceremonies one user starts.
ALTER TABLE sign_in_throttle DROP CONSTRAINT sign_in_throttle_scope_check;
ALTER TABLE sign_in_throttle ADD CONSTRAINT sign_in_throttle_scope_check
    CHECK (scope IN ('account', 'addr', 'device', 'sign_up', 'link', 'passkey'));
