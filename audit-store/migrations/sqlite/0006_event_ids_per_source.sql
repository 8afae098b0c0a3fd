-- Event ids are unique per source system, not across all of them: two systems that happen to use
-- the same id are two events. (SQLite cannot drop a UNIQUE constraint: the table is rebuilt.)
CREATE TABLE audit_events_per_source (
    seq             BIGINT  NOT NULL PRIMARY KEY,
    event_id        TEXT    NOT NULL,
    occurred_ns     BIGINT  NOT NULL,
    received_ns     BIGINT  NOT NULL,
    actor_user_id   TEXT    NOT NULL,
    actor_name      TEXT    NOT NULL,
    actor_role      TEXT    NOT NULL,
    actor_org       TEXT    NOT NULL,
    purpose_of_use  TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    nhs_number      TEXT    NOT NULL,
    resource_type   TEXT    NOT NULL,
    resource_id     TEXT    NOT NULL,
    outcome         TEXT    NOT NULL,
    correlation_id  TEXT    NOT NULL,
    request_id      TEXT    NOT NULL,
    source_system   TEXT    NOT NULL,
    client_address  TEXT    NOT NULL,
    device          TEXT    NOT NULL,
    prev_hash       TEXT    NOT NULL,
    hash            TEXT    NOT NULL,
    UNIQUE (source_system, event_id)
);
INSERT INTO audit_events_per_source SELECT * FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_per_source RENAME TO audit_events;
CREATE INDEX audit_by_patient ON audit_events (nhs_number, occurred_ns);
CREATE INDEX audit_by_user ON audit_events (actor_user_id, occurred_ns);
CREATE INDEX audit_by_time ON audit_events (occurred_ns);
