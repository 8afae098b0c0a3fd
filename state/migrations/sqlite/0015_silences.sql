-- Who acknowledged a firing alert and when (repeats stop until it escalates or resolves); the
-- last silence that covered it (0: none) and whether it holds its notifications back now; whether
-- any notification of it reached a channel (one never notified resolves quietly).
ALTER TABLE alerts ADD COLUMN acknowledged_by TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN acknowledged_ns BIGINT;
ALTER TABLE alerts ADD COLUMN silence_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN notified INTEGER NOT NULL DEFAULT 1;

-- Silences and maintenance windows: one-off (starts_ns to ends_ns) or recurring (a cron
-- expression in UK time, each window duration_secs long, between starts_ns and ends_ns).
CREATE TABLE silences (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    target_kind    TEXT    NOT NULL,
    target         TEXT    NOT NULL,
    reason         TEXT    NOT NULL,
    author         TEXT    NOT NULL,
    created_ns     BIGINT  NOT NULL,
    starts_ns      BIGINT  NOT NULL,
    ends_ns        BIGINT  NOT NULL,
    recurrence     TEXT    NOT NULL DEFAULT '',
    duration_secs  BIGINT  NOT NULL DEFAULT 0,
    ended_ns       BIGINT,
    ended_by       TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX silences_by_end ON silences (ends_ns);

-- What happened to each alert, in order: fired, notified, silenced, acknowledged, resolved...
CREATE TABLE alert_history (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id  BIGINT  NOT NULL,
    at_ns     BIGINT  NOT NULL,
    event     TEXT    NOT NULL,
    actor     TEXT    NOT NULL DEFAULT '',
    detail    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX alert_history_by_alert ON alert_history (alert_id, id);
