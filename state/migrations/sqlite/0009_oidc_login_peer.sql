-- Who started each pending single sign-on (the client address), so one address cannot fill the
-- table: at most a few pending sign-ins per address, and the table as a whole is capped.
ALTER TABLE oidc_logins ADD COLUMN peer TEXT NOT NULL DEFAULT '';
CREATE INDEX oidc_logins_by_peer ON oidc_logins (peer);
