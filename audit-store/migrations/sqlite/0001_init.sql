-- Pathwatch telemetry store, SQLite flavour. Kept to SQL that PostgreSQL also accepts where it can:
-- BIGINT/TEXT columns, no AUTOINCREMENT, no SQLite-only functions in the schema.

-- One row per span. Times are Unix nanoseconds. Attributes are JSON objects of string values.
CREATE TABLE spans (
    trace_id        TEXT    NOT NULL,
    span_id         TEXT    NOT NULL,
    parent_span_id  TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    kind            INTEGER NOT NULL,
    service_name    TEXT    NOT NULL,
    scope_name      TEXT    NOT NULL,
    start_ns        BIGINT  NOT NULL,
    duration_ns     BIGINT  NOT NULL,
    status_code     INTEGER NOT NULL,
    status_message  TEXT    NOT NULL,
    correlation_id  TEXT    NOT NULL,
    attributes      TEXT    NOT NULL,
    resource        TEXT    NOT NULL,
    events          TEXT    NOT NULL,
    links           TEXT    NOT NULL,
    PRIMARY KEY (trace_id, span_id)
);
CREATE INDEX spans_by_service_time ON spans (service_name, start_ns);
CREATE INDEX spans_by_correlation ON spans (correlation_id) WHERE correlation_id <> '';
CREATE INDEX spans_by_time ON spans (start_ns);

-- Audit events, hash-chained in `seq` order. `event_id` is the client's idempotency key.
CREATE TABLE audit_events (
    seq             BIGINT  NOT NULL PRIMARY KEY,
    event_id        TEXT    NOT NULL UNIQUE,
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
    hash            TEXT    NOT NULL
);
CREATE INDEX audit_by_patient ON audit_events (nhs_number, occurred_ns);
CREATE INDEX audit_by_user ON audit_events (actor_user_id, occurred_ns);
CREATE INDEX audit_by_time ON audit_events (occurred_ns);

-- Where the chain starts after retention removed its oldest records: verification begins here.
CREATE TABLE audit_chain_base (
    id              INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    last_removed_seq BIGINT NOT NULL,
    last_removed_hash TEXT  NOT NULL
);
