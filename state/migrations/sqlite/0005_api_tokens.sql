-- Personal API tokens for scripts (`Authorization: Bearer pw_…` on /api/v1 only). Only the token's
-- SHA-256 is stored; the token itself is shown once, when it is made.
CREATE TABLE api_tokens (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    account        TEXT    NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
    label          TEXT    NOT NULL,
    token_sha256   TEXT    NOT NULL UNIQUE,
    created_ns     BIGINT  NOT NULL,
    expires_ns     BIGINT  NOT NULL,
    last_used_ns   BIGINT,
    revoked_ns     BIGINT
);
CREATE INDEX api_tokens_by_account ON api_tokens (account);
