-- Set when a password link sets the password, cleared when the user next proves a second
-- factor with it: until then the password shows only that someone read the user's mail, and
-- the owner's "Send setup link by email" refuses (the mailbox would hold both factors).
ALTER TABLE users ADD COLUMN password_by_link BIGINT NOT NULL DEFAULT 0;
