-- A deadline to set up a second factor while the account requires 2FA: Enroll by (the moment it
-- passes, NULL for none) and the days a new user has from the day they were added. A user's
-- deadline is computed from these when read, never stored per user: a change of the dates takes
-- effect for everyone at once.
ALTER TABLE accounts ADD COLUMN enroll_by INTEGER;
ALTER TABLE accounts ADD COLUMN new_user_days INTEGER NOT NULL DEFAULT 0;
