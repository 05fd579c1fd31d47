-- The browser a session was opened from (its User-Agent, cut to 256 bytes), so people can tell
-- their sessions apart in Profile.
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
