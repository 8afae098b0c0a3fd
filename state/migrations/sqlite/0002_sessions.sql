-- Signed-in sessions. The cookie holds a random token; only its SHA-256 is stored, so a copy of
-- this file does not let anyone sign in.
CREATE TABLE sessions (
    token_sha256   TEXT    NOT NULL PRIMARY KEY,
    account        TEXT    NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
    csrf_token     TEXT    NOT NULL,
    created_ns     BIGINT  NOT NULL,
    last_seen_ns   BIGINT  NOT NULL
);
CREATE INDEX sessions_by_account ON sessions (account);
