-- Leases for work that must run on one instance at a time (the monitor's loops): who holds each,
-- until when, and its epoch, which grows by one at every change of holder (the fencing token).
CREATE TABLE leases (
    name        TEXT    NOT NULL PRIMARY KEY,
    holder      TEXT    NOT NULL,
    epoch       BIGINT  NOT NULL,
    expires_ns  BIGINT  NOT NULL
);
