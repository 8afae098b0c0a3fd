-- Per-minute roll-up of spans by (service, span name): counts, errors and a cumulative latency
-- histogram (`le_N`: spans that took at most N ms; `count` is the +Inf bucket). Pages and SLO
-- evaluation read this, never the raw spans, so their cost does not grow with traffic.
-- The bounds are `audit_store::ROLLUP_BOUNDS_MS`; a unit test keeps the two in step.
CREATE TABLE span_minutes (
    service_name    TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    minute_ns       BIGINT  NOT NULL,
    count           BIGINT  NOT NULL,
    errors          BIGINT  NOT NULL,
    duration_sum_ns BIGINT  NOT NULL,
    le_5 BIGINT NOT NULL,
    le_10 BIGINT NOT NULL,
    le_25 BIGINT NOT NULL,
    le_50 BIGINT NOT NULL,
    le_75 BIGINT NOT NULL,
    le_100 BIGINT NOT NULL,
    le_150 BIGINT NOT NULL,
    le_200 BIGINT NOT NULL,
    le_250 BIGINT NOT NULL,
    le_300 BIGINT NOT NULL,
    le_400 BIGINT NOT NULL,
    le_500 BIGINT NOT NULL,
    le_750 BIGINT NOT NULL,
    le_1000 BIGINT NOT NULL,
    le_1500 BIGINT NOT NULL,
    le_2000 BIGINT NOT NULL,
    le_2500 BIGINT NOT NULL,
    le_3000 BIGINT NOT NULL,
    le_4000 BIGINT NOT NULL,
    le_5000 BIGINT NOT NULL,
    le_7500 BIGINT NOT NULL,
    le_10000 BIGINT NOT NULL,
    le_15000 BIGINT NOT NULL,
    le_30000 BIGINT NOT NULL,
    le_60000 BIGINT NOT NULL,
    PRIMARY KEY (service_name, name, minute_ns)
) WITHOUT ROWID;

INSERT INTO span_minutes
SELECT service_name, name, (start_ns / 60000000000) * 60000000000, COUNT(*), SUM(status_code = 2), SUM(duration_ns),
    SUM(duration_ns <= 5000000), SUM(duration_ns <= 10000000), SUM(duration_ns <= 25000000), SUM(duration_ns <= 50000000), SUM(duration_ns <= 75000000), SUM(duration_ns <= 100000000), SUM(duration_ns <= 150000000), SUM(duration_ns <= 200000000), SUM(duration_ns <= 250000000), SUM(duration_ns <= 300000000), SUM(duration_ns <= 400000000), SUM(duration_ns <= 500000000), SUM(duration_ns <= 750000000), SUM(duration_ns <= 1000000000), SUM(duration_ns <= 1500000000), SUM(duration_ns <= 2000000000), SUM(duration_ns <= 2500000000), SUM(duration_ns <= 3000000000), SUM(duration_ns <= 4000000000), SUM(duration_ns <= 5000000000), SUM(duration_ns <= 7500000000), SUM(duration_ns <= 10000000000), SUM(duration_ns <= 15000000000), SUM(duration_ns <= 30000000000), SUM(duration_ns <= 60000000000)
FROM spans GROUP BY 1, 2, 3;

-- Kept up to date by `insert_spans`, in the span's own transaction: it sums the spans the INSERT
-- actually stored (a replayed span is not counted) and adds one row per (service, name, minute).
-- (A per-row trigger did the same at a third of the ingest rate.)

-- Pages look up one service's spans of one name (a canary flow's runs) by time. This replaces the
-- (service_name, start_ns) index rather than adding to it, so ingest maintains no more indexes.
DROP INDEX spans_by_service_time;
CREATE INDEX spans_by_service_name_time ON spans (service_name, name, start_ns);
