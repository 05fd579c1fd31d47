-- When the account's requirement last took effect (NULL while it is off), for "Required since".
ALTER TABLE accounts ADD COLUMN require_2fa_since BIGINT;
