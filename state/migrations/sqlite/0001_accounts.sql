-- Local dashboard accounts (standalone mode; OpenID Connect users are added on first sign-in).
CREATE TABLE accounts (
    name                  TEXT    NOT NULL PRIMARY KEY,
    role                  TEXT    NOT NULL,
    -- ODS codes the user's data is scoped to, as a JSON array; empty means every organisation.
    organisations         TEXT    NOT NULL,
    -- Argon2id in PHC string format; empty for accounts that only sign in through OpenID Connect.
    password_hash         TEXT    NOT NULL,
    must_change_password  INTEGER NOT NULL,
    disabled              INTEGER NOT NULL,
    created_ns            BIGINT  NOT NULL,
    password_changed_ns   BIGINT  NOT NULL
);
