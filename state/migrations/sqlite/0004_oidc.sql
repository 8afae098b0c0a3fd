-- OpenID Connect sign-in.
--
-- Accounts created by a sign-in through the configured provider remember who the provider said
-- they are; such accounts have an empty password_hash and can never sign in with a password.
ALTER TABLE accounts ADD COLUMN oidc_issuer TEXT;
ALTER TABLE accounts ADD COLUMN oidc_subject TEXT;
-- The person's name as the provider gave it (the `name_claim`), shown in the page header.
ALTER TABLE accounts ADD COLUMN display_name TEXT;
CREATE UNIQUE INDEX accounts_by_oidc_subject ON accounts (oidc_issuer, oidc_subject) WHERE oidc_subject IS NOT NULL;

-- Sign-ins on their way through the provider: at most 10 minutes old, used once. Keyed by the
-- SHA-256 of the `state` sent to the provider; tied to the browser that started it by the SHA-256
-- of a short-lived cookie. The nonce and PKCE verifier are needed in clear to finish the sign-in.
CREATE TABLE oidc_logins (
    state_sha256    TEXT    NOT NULL PRIMARY KEY,
    browser_sha256  TEXT    NOT NULL,
    nonce           TEXT    NOT NULL,
    pkce_verifier   TEXT    NOT NULL,
    created_ns      BIGINT  NOT NULL
);
CREATE INDEX oidc_logins_by_age ON oidc_logins (created_ns);
