-- Spans, one row per span, laid out as the OpenTelemetry Collector's ClickHouse exporter does, but in
-- types that Debian's ClickHouse 18.16 also has: nanoseconds in UInt64 beside a DateTime, attributes
-- as parallel key/value arrays (no Map), no TTL or skip indexes (retention drops day partitions; trace
-- lookups go through trace_index below).
-- ReplacingMergeTree: a span delivered twice (client retry, spool replay) collapses to one row on
-- merge; queries read with LIMIT 1 BY TraceId, SpanId until then.
CREATE TABLE IF NOT EXISTS spans (
    Timestamp DateTime,
    TimestampNs UInt64,
    TraceId String,
    SpanId String,
    ParentSpanId String,
    SpanName String,
    SpanKind UInt8,
    ServiceName String,
    ScopeName String,
    DurationNs UInt64,
    StatusCode UInt8,
    StatusMessage String,
    CorrelationId String,
    AttributeKeys Array(String),
    AttributeValues Array(String),
    ResourceKeys Array(String),
    ResourceValues Array(String),
    EventTimesNs Array(UInt64),
    EventNames Array(String),
    EventAttributes Array(String),
    LinkTraceIds Array(String),
    LinkSpanIds Array(String)
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(Timestamp)
ORDER BY (ServiceName, SpanName, Timestamp, TraceId, SpanId)
SETTINGS index_granularity = 8192;

-- TraceId -> first start and last end, so "find a trace" scans one time range, not every day.
CREATE TABLE IF NOT EXISTS trace_index (
    TraceId String,
    Day Date,
    StartNs AggregateFunction(min, UInt64),
    EndNs AggregateFunction(max, UInt64)
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMMDD(Day)
ORDER BY (TraceId, Day)
SETTINGS index_granularity = 8192;

CREATE MATERIALIZED VIEW IF NOT EXISTS trace_index_mv TO trace_index AS
SELECT TraceId, toDate(Timestamp) AS Day, minState(TimestampNs) AS StartNs, maxState(TimestampNs + DurationNs) AS EndNs
FROM spans GROUP BY TraceId, Day;

-- CorrelationId (X-Correlation-ID / X-Request-ID) -> the traces that carried it.
CREATE TABLE IF NOT EXISTS correlation_index (
    CorrelationId String,
    TraceId String,
    Day Date
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(Day)
ORDER BY (CorrelationId, TraceId)
SETTINGS index_granularity = 8192;

CREATE MATERIALIZED VIEW IF NOT EXISTS correlation_index_mv TO correlation_index AS
SELECT CorrelationId, TraceId, toDate(Timestamp) AS Day FROM spans WHERE CorrelationId != '';
