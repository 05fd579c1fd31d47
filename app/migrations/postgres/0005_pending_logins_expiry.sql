-- A new half sign-in ends the user's earlier one and every expired one in one statement
-- (`WHERE user_id = $1 OR expires_at <= $2`). Without an index on the expiry that OR read the
-- whole table: with 4,000 half sign-ins, ~2.5 M SQLite instructions of every password sign-in.
CREATE INDEX pending_logins_expires ON pending_logins(expires_at);
