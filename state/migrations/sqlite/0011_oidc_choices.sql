-- A verified single sign-on waiting for the person to choose which of their roles to act as (CIS2
-- gave several and they selected none): keyed by the SHA-256 of a browser-bound token, at most
-- 10 minutes, used once.
CREATE TABLE oidc_choices (
    token_sha256 TEXT   NOT NULL PRIMARY KEY,
    identity     TEXT   NOT NULL,
    created_ns   BIGINT NOT NULL
);
CREATE INDEX oidc_choices_by_age ON oidc_choices (created_ns);
