-- Sign-in attempts within the throttle window, counted before the password is checked, so a
-- restart does not forgive them. Rows older than the window are swept on every attempt.
CREATE TABLE sign_in_attempts (
    name     TEXT   NOT NULL,
    -- The client's address; empty when unknown (then only the per-account limits apply).
    address  TEXT   NOT NULL,
    at_ns    BIGINT NOT NULL
);
CREATE INDEX sign_in_attempts_by_name ON sign_in_attempts (name, at_ns);
CREATE INDEX sign_in_attempts_by_address ON sign_in_attempts (address, at_ns);
CREATE INDEX sign_in_attempts_by_time ON sign_in_attempts (at_ns);
