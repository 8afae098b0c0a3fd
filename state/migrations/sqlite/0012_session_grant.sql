-- The role and organisations a session acts as, when they are the session's own (someone with
-- several single-sign-on roles chose one for this sign-in): '' means the account's.
ALTER TABLE sessions ADD COLUMN role TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN organisations TEXT NOT NULL DEFAULT '';
