-- Per-minute roll-up of spans by (service, span name): counts, errors and a cumulative latency
-- histogram (`LeN`: spans that took at most N ms; `Count` is the +Inf bucket). Pages and SLO
-- evaluation read this, never the raw spans. SummingMergeTree adds rows with the same key on merge;
-- queries sum() anyway. The view counts what arrives: the collector's spool looks up the spans of a
-- step that may already be stored before sending it again, so a replay is counted once (and on a
-- cluster replicated tables drop a block sent twice). The bounds are `audit_store::ROLLUP_BOUNDS_MS`.
-- DurationSumNs is Float64: exact to 2^53 ns (104 days of summed latency in a minute), and it never
-- wraps, whatever durations arrive (a UInt64 sum wrapped into small, wrong figures). Stores made
-- before it are converted at start (`ClickHouseStore::connect`).
CREATE TABLE IF NOT EXISTS span_minutes (
    Minute DateTime,
    ServiceName String,
    SpanName String,
    Count UInt64,
    Errors UInt64,
    DurationSumNs Float64,
    Le5 UInt64,
    Le10 UInt64,
    Le25 UInt64,
    Le50 UInt64,
    Le75 UInt64,
    Le100 UInt64,
    Le150 UInt64,
    Le200 UInt64,
    Le250 UInt64,
    Le300 UInt64,
    Le400 UInt64,
    Le500 UInt64,
    Le750 UInt64,
    Le1000 UInt64,
    Le1500 UInt64,
    Le2000 UInt64,
    Le2500 UInt64,
    Le3000 UInt64,
    Le4000 UInt64,
    Le5000 UInt64,
    Le7500 UInt64,
    Le10000 UInt64,
    Le15000 UInt64,
    Le30000 UInt64,
    Le60000 UInt64
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMMDD(Minute)
ORDER BY (ServiceName, SpanName, Minute)
SETTINGS index_granularity = 8192;

CREATE MATERIALIZED VIEW IF NOT EXISTS span_minutes_mv TO span_minutes AS
SELECT toStartOfMinute(Timestamp) AS Minute, ServiceName, SpanName, count() AS Count, countIf(StatusCode = 2) AS Errors,
    sum(toFloat64(DurationNs)) AS DurationSumNs,
    countIf(DurationNs <= 5000000) AS Le5,
    countIf(DurationNs <= 10000000) AS Le10,
    countIf(DurationNs <= 25000000) AS Le25,
    countIf(DurationNs <= 50000000) AS Le50,
    countIf(DurationNs <= 75000000) AS Le75,
    countIf(DurationNs <= 100000000) AS Le100,
    countIf(DurationNs <= 150000000) AS Le150,
    countIf(DurationNs <= 200000000) AS Le200,
    countIf(DurationNs <= 250000000) AS Le250,
    countIf(DurationNs <= 300000000) AS Le300,
    countIf(DurationNs <= 400000000) AS Le400,
    countIf(DurationNs <= 500000000) AS Le500,
    countIf(DurationNs <= 750000000) AS Le750,
    countIf(DurationNs <= 1000000000) AS Le1000,
    countIf(DurationNs <= 1500000000) AS Le1500,
    countIf(DurationNs <= 2000000000) AS Le2000,
    countIf(DurationNs <= 2500000000) AS Le2500,
    countIf(DurationNs <= 3000000000) AS Le3000,
    countIf(DurationNs <= 4000000000) AS Le4000,
    countIf(DurationNs <= 5000000000) AS Le5000,
    countIf(DurationNs <= 7500000000) AS Le7500,
    countIf(DurationNs <= 10000000000) AS Le10000,
    countIf(DurationNs <= 15000000000) AS Le15000,
    countIf(DurationNs <= 30000000000) AS Le30000,
    countIf(DurationNs <= 60000000000) AS Le60000
FROM spans GROUP BY Minute, ServiceName, SpanName;
