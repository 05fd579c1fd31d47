-- The owner may require passkeys or security keys (phishing-resistant methods) while the
-- account requires 2FA.
ALTER TABLE accounts ADD COLUMN require_passkeys INTEGER NOT NULL DEFAULT 0;
-- A half sign-in whose user proved it is them with a code or a recovery code while their account
-- requires passkeys: it becomes a session only with a new passkey.
ALTER TABLE pending_logins ADD COLUMN owes_passkey INTEGER NOT NULL DEFAULT 0;
