-- The audit sequencer: the chain head and the idempotency index of every event id ever chained.
-- It lives apart from audit_events so the collector's spool (in front of ClickHouse) can use the very
-- same tables and code to assign sequence numbers before the events reach their final store.
CREATE TABLE audit_sequencer_head (
    id    INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    seq   BIGINT  NOT NULL,
    hash  TEXT    NOT NULL
);
CREATE TABLE audit_sequencer_ids (
    event_id TEXT   NOT NULL PRIMARY KEY,
    seq      BIGINT NOT NULL
);
