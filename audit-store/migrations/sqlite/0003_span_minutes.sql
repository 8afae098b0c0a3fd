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

-- Kept in the same transaction as the span itself. `INSERT OR IGNORE` of a span already stored
-- inserts no row, so fires nothing: a replayed span is counted once.
CREATE TRIGGER span_minutes_on_insert AFTER INSERT ON spans BEGIN
    INSERT INTO span_minutes VALUES (
        NEW.service_name, NEW.name, (NEW.start_ns / 60000000000) * 60000000000, 1, NEW.status_code = 2, NEW.duration_ns,
        NEW.duration_ns <= 5000000, NEW.duration_ns <= 10000000, NEW.duration_ns <= 25000000, NEW.duration_ns <= 50000000, NEW.duration_ns <= 75000000, NEW.duration_ns <= 100000000, NEW.duration_ns <= 150000000, NEW.duration_ns <= 200000000, NEW.duration_ns <= 250000000, NEW.duration_ns <= 300000000, NEW.duration_ns <= 400000000, NEW.duration_ns <= 500000000, NEW.duration_ns <= 750000000, NEW.duration_ns <= 1000000000, NEW.duration_ns <= 1500000000, NEW.duration_ns <= 2000000000, NEW.duration_ns <= 2500000000, NEW.duration_ns <= 3000000000, NEW.duration_ns <= 4000000000, NEW.duration_ns <= 5000000000, NEW.duration_ns <= 7500000000, NEW.duration_ns <= 10000000000, NEW.duration_ns <= 15000000000, NEW.duration_ns <= 30000000000, NEW.duration_ns <= 60000000000)
    ON CONFLICT (service_name, name, minute_ns) DO UPDATE SET
        count = count + 1,
        errors = errors + excluded.errors,
        duration_sum_ns = duration_sum_ns + excluded.duration_sum_ns,
        le_5 = le_5 + excluded.le_5,
        le_10 = le_10 + excluded.le_10,
        le_25 = le_25 + excluded.le_25,
        le_50 = le_50 + excluded.le_50,
        le_75 = le_75 + excluded.le_75,
        le_100 = le_100 + excluded.le_100,
        le_150 = le_150 + excluded.le_150,
        le_200 = le_200 + excluded.le_200,
        le_250 = le_250 + excluded.le_250,
        le_300 = le_300 + excluded.le_300,
        le_400 = le_400 + excluded.le_400,
        le_500 = le_500 + excluded.le_500,
        le_750 = le_750 + excluded.le_750,
        le_1000 = le_1000 + excluded.le_1000,
        le_1500 = le_1500 + excluded.le_1500,
        le_2000 = le_2000 + excluded.le_2000,
        le_2500 = le_2500 + excluded.le_2500,
        le_3000 = le_3000 + excluded.le_3000,
        le_4000 = le_4000 + excluded.le_4000,
        le_5000 = le_5000 + excluded.le_5000,
        le_7500 = le_7500 + excluded.le_7500,
        le_10000 = le_10000 + excluded.le_10000,
        le_15000 = le_15000 + excluded.le_15000,
        le_30000 = le_30000 + excluded.le_30000,
        le_60000 = le_60000 + excluded.le_60000;
END;

-- The newest runs of one canary flow (service and span name) without reading other flows' spans.
CREATE INDEX spans_by_service_name_time ON spans (service_name, name, start_ns);
