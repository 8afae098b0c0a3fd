-- SLO alerts: at most one open (unresolved) alert per SLO; resolved ones are kept as history.
CREATE TABLE alerts (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    slo               TEXT    NOT NULL,
    flow              TEXT    NOT NULL,
    severity          TEXT    NOT NULL,
    started_ns        BIGINT  NOT NULL,
    resolved_ns       BIGINT,
    -- When the condition stopped firing; the alert resolves only after it stays clear a while.
    clear_since_ns    BIGINT,
    last_notified_ns  BIGINT  NOT NULL,
    summary           TEXT    NOT NULL
);
CREATE UNIQUE INDEX alerts_one_open_per_slo ON alerts (slo) WHERE resolved_ns IS NULL;
CREATE INDEX alerts_by_start ON alerts (started_ns);
