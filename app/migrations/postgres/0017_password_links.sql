-- Password links (a forgotten password, or the owner's "Reset password"): single use, like the
-- invitation and setup links, in the same table. No CHECK on the kind: the code names them.
ALTER TABLE user_links DROP CONSTRAINT user_links_kind_check;

-- Throttling gains a scope for password links asked for by email. Without a CHECK on the scope
-- from now on: the code names the scopes.
ALTER TABLE sign_in_throttle DROP CONSTRAINT sign_in_throttle_scope_check;
