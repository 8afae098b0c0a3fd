//! Every statement the backend sends, built in one place so that `examples/clickhouse_queries.rs`
//! can hand the same SQL to a current ClickHouse (chDB) in CI. Values are inlined with [`quote`]
//! (strings) or as numbers, never spliced raw.
use super::{quote, seconds, AUDIT_FIELDS, SPAN_FIELDS};
use crate::chain;
use crate::model::{AuditFilter, BucketQuery, RecentQuery, RollupsQuery, TracesQuery, NANOS_PER_SEC, ROLLUP_BOUNDS_MS};

pub fn trace_range(trace_id: &str) -> String {
    format!(
        "SELECT minMerge(StartNs) AS start_ns, maxMerge(EndNs) AS end_ns FROM trace_index \
         WHERE TraceId = {} GROUP BY TraceId",
        quote(trace_id)
    )
}

fn spans_where(condition: &str) -> String {
    format!("SELECT {SPAN_FIELDS} FROM spans WHERE {condition} ORDER BY TimestampNs, SpanId LIMIT 1 BY TraceId, SpanId")
}

/// The spans of one trace, reading only the days between its first start and last end: at most
/// `MAX_SPANS_PER_TRACE`, the earliest.
pub fn trace_spans(trace_id: &str, start_ns: u64, end_ns: u64) -> String {
    let spans = spans_where(&format!(
        "Timestamp >= toDateTime({}) AND Timestamp <= toDateTime({}) AND TraceId = {}",
        seconds(start_ns),
        seconds(end_ns),
        quote(trace_id)
    ));
    format!("{spans} LIMIT {}", crate::MAX_SPANS_PER_TRACE)
}

pub fn spans_by_correlation_id(correlation_id: &str) -> String {
    let spans = spans_where(&format!(
        "TraceId IN (SELECT TraceId FROM correlation_index WHERE CorrelationId = {})",
        quote(correlation_id)
    ));
    format!("{spans} LIMIT {}", crate::MAX_SPANS_PER_TRACE)
}

/// The spans of one service in a few traces; the service and time narrow the primary key first.
pub fn spans_in_traces(query: &TracesQuery, trace_ids: &[String]) -> String {
    let ids: Vec<String> = trace_ids.iter().map(|t| quote(t)).collect();
    spans_where(&format!(
        "ServiceName = {} AND Timestamp >= toDateTime({}) AND Timestamp <= toDateTime({}) \
         AND TimestampNs >= {} AND TimestampNs < {} AND TraceId IN ({})",
        quote(&query.service_name),
        seconds(query.from_ns),
        seconds(query.to_ns),
        query.from_ns,
        query.to_ns,
        if ids.is_empty() { "''".to_string() } else { ids.join(", ") }
    ))
}

/// The newest spans of one name; duplicates (not yet merged away) collapse before the limit.
pub fn recent_spans(query: &RecentQuery) -> String {
    format!(
        "SELECT {SPAN_FIELDS} FROM spans WHERE ServiceName = {service} {name_filter} \
           AND Timestamp >= toDateTime({from_s}) AND Timestamp <= toDateTime({to_s}) \
           AND TimestampNs >= {from} AND TimestampNs < {to} \
         ORDER BY TimestampNs DESC, SpanId LIMIT 1 BY TraceId, SpanId LIMIT {limit}",
        service = quote(&query.service_name),
        name_filter = match &query.span_name {
            Some(name) => format!("AND SpanName = {}", quote(name)),
            None => String::new(),
        },
        from_s = seconds(query.from_ns),
        to_s = seconds(query.to_ns),
        from = query.from_ns,
        to = query.to_ns,
        limit = query.limit,
    )
}

pub fn latency_buckets(query: &BucketQuery) -> String {
    let width = u64::from(query.bucket_secs) * NANOS_PER_SEC;
    let name_filter = match &query.span_name {
        Some(name) => format!("AND SpanName = {}", quote(name)),
        None => String::new(),
    };
    format!(
        "SELECT intDiv(TimestampNs, {width}) * {width} AS bucket, count() AS n, countIf(StatusCode = 2) AS errors, \
            quantilesExact(0.5, 0.95, 0.99)(DurationNs) AS q \
         FROM (SELECT TraceId, SpanId, TimestampNs, DurationNs, StatusCode FROM spans \
               WHERE ServiceName = {service} {name_filter} \
                 AND Timestamp >= toDateTime({from_s}) AND Timestamp <= toDateTime({to_s}) \
                 AND TimestampNs >= {from} AND TimestampNs < {to} \
               LIMIT 1 BY TraceId, SpanId) \
         GROUP BY bucket ORDER BY bucket",
        service = quote(&query.service_name),
        from_s = seconds(query.from_ns),
        to_s = seconds(query.to_ns),
        from = query.from_ns,
        to = query.to_ns,
    )
}

/// Several selections' roll-ups in one query, by service and span name; the caller sums the rows
/// into each selection they match.
pub fn span_rollups(query: &RollupsQuery) -> String {
    let width = u64::from(query.bucket_secs);
    let le: Vec<String> = match query.histogram {
        true => ROLLUP_BOUNDS_MS.iter().map(|b| format!("sum(Le{b})")).collect(),
        false => Vec::new(),
    };
    let selected: Vec<String> = query
        .selections
        .iter()
        .map(|s| match &s.span_name {
            Some(name) => format!("(ServiceName = {} AND SpanName = {})", quote(&s.service_name), quote(name)),
            None => format!("ServiceName = {}", quote(&s.service_name)),
        })
        .collect();
    format!(
        "SELECT ServiceName AS service_name, SpanName AS span_name, \
            toUInt64(intDiv(toUInt32(Minute), {width}) * {width}) * {NANOS_PER_SEC} AS bucket, \
            sum(Count) AS count, sum(Errors) AS errors, sum(DurationSumNs) AS duration_sum_ns, {le} AS le \
         FROM span_minutes WHERE ({selected}) \
           AND Minute >= toDateTime({from_s}) AND Minute < toDateTime({to_s}) \
         GROUP BY service_name, span_name, bucket ORDER BY bucket",
        le = if le.is_empty() { "emptyArrayUInt64()".to_string() } else { format!("[{}]", le.join(", ")) },
        selected = if selected.is_empty() { "0".to_string() } else { selected.join(" OR ") },
        from_s = seconds(query.from_ns.div_ceil(60 * NANOS_PER_SEC) * 60 * NANOS_PER_SEC),
        to_s = seconds(query.to_ns.div_ceil(60 * NANOS_PER_SEC) * 60 * NANOS_PER_SEC),
    )
}

/// The newest `limit` spans of each name, duplicates collapsed first.
pub fn recent_spans_by_name(service_name: &str, span_names: &[String], from_ns: u64, to_ns: u64, limit: u32) -> String {
    let names: Vec<String> = span_names.iter().map(|n| quote(n)).collect();
    format!(
        "SELECT {SPAN_FIELDS} FROM (SELECT {SPAN_FIELDS} FROM spans WHERE ServiceName = {service} \
           AND SpanName IN ({names}) \
           AND Timestamp >= toDateTime({from_s}) AND Timestamp <= toDateTime({to_s}) \
           AND TimestampNs >= {from_ns} AND TimestampNs < {to_ns} \
         ORDER BY TimestampNs DESC, SpanId LIMIT 1 BY TraceId, SpanId) \
         ORDER BY TimestampNs DESC, SpanId LIMIT {limit} BY SpanName",
        service = quote(service_name),
        names = if names.is_empty() { "''".to_string() } else { names.join(", ") },
        from_s = seconds(from_ns),
        to_s = seconds(to_ns),
    )
}

/// Fills a newly created roll-up from the spans already stored (an upgrade of an existing store).
pub fn backfill_span_minutes() -> String {
    let le: Vec<String> =
        ROLLUP_BOUNDS_MS.iter().map(|b| format!("countIf(DurationNs <= {}) AS Le{b}", b * 1_000_000)).collect();
    format!(
        "INSERT INTO span_minutes SELECT toStartOfMinute(Timestamp) AS Minute, ServiceName, SpanName, count() AS Count, \
            countIf(StatusCode = 2) AS Errors, sum(toFloat64(DurationNs)) AS DurationSumNs, {le} \
         FROM (SELECT Timestamp, ServiceName, SpanName, DurationNs, StatusCode FROM spans LIMIT 1 BY TraceId, SpanId) \
         GROUP BY Minute, ServiceName, SpanName",
        le = le.join(", ")
    )
}

/// Audit events by filter. The look-up tables are ordered by (key, OccurredNs, Seq): narrow by
/// them first, then read the full rows by Seq, the main table's primary key.
pub fn audit_events(filter: &AuditFilter) -> String {
    let mut conditions = vec!["1 = 1".to_string()];
    let mut time = String::new();
    if let Some(from) = filter.from_ns {
        time.push_str(&format!(" AND OccurredNs >= {from}"));
    }
    if let Some(to) = filter.to_ns {
        time.push_str(&format!(" AND OccurredNs < {to}"));
    }
    if let Some(n) = &filter.nhs_number {
        conditions.push(format!("Seq IN (SELECT Seq FROM audit_by_patient WHERE NhsNumber = {}{time})", quote(n)));
    }
    if let Some(u) = &filter.user_id {
        conditions.push(format!("Seq IN (SELECT Seq FROM audit_by_user WHERE ActorUserId = {}{time})", quote(u)));
    }
    if let Some(c) = &filter.correlation_id {
        conditions.push(format!("CorrelationId = {}", quote(c)));
    }
    if let Some(o) = &filter.organisation {
        conditions.push(format!("ActorOrg = {}", quote(o)));
    }
    if let Some(s) = &filter.source_system {
        conditions.push(format!("SourceSystem = {}", quote(s)));
    }
    if let Some((occurred, seq)) = filter.after {
        time.push_str(&format!(" AND OccurredNs >= {occurred}"));
        conditions.push(format!("(OccurredNs > {occurred} OR (OccurredNs = {occurred} AND Seq > {seq}))"));
    }
    format!(
        "SELECT {AUDIT_FIELDS} FROM audit_events WHERE {}{time} ORDER BY OccurredNs, Seq LIMIT 1 BY Seq LIMIT {}",
        conditions.join(" AND "),
        filter.limit
    )
}

/// The events of a period, each once (a replayed record may not have merged yet).
fn audit_period(from_ns: u64, to_ns: u64) -> String {
    format!(
        "(SELECT ActorUserId, ActorOrg, NhsNumber, Action, Outcome FROM audit_events \
         WHERE OccurredNs >= {from_ns} AND OccurredNs < {to_ns} LIMIT 1 BY Seq)"
    )
}

pub fn audit_summary_counts(from_ns: u64, to_ns: u64) -> String {
    format!(
        "SELECT count() AS events, uniqExactIf(ActorUserId, ActorUserId != '') AS users, \
         uniqExactIf(NhsNumber, NhsNumber != '') AS patients, uniqExactIf(ActorOrg, ActorOrg != '') AS organisations, \
         countIf(ActorUserId = '') AS unattributed FROM {}",
        audit_period(from_ns, to_ns)
    )
}

pub fn audit_summary_groups(from_ns: u64, to_ns: u64) -> String {
    let period = audit_period(from_ns, to_ns);
    format!(
        "SELECT 'action' AS kind, Action AS key, count() AS n FROM {period} GROUP BY Action \
         UNION ALL SELECT 'outcome' AS kind, Outcome AS key, count() AS n FROM {period} GROUP BY Outcome"
    )
}

/// The records of `after_seq`'s chain after it (a chain's records are one range of `Seq`).
pub fn audit_chain_page(after_seq: u64, limit: u32) -> String {
    let last = chain::chain_last(after_seq);
    format!(
        "SELECT {AUDIT_FIELDS} FROM audit_events WHERE Seq > {after_seq} AND Seq <= {last} \
         ORDER BY Seq LIMIT 1 BY Seq LIMIT {limit}"
    )
}

pub fn audit_chain_base(chain: u16) -> String {
    let start = chain::chain_start(chain);
    let last = chain::chain_last(start);
    format!(
        "SELECT LastRemovedSeq AS seq, LastRemovedHash AS hash FROM audit_chain_base \
         WHERE LastRemovedSeq > {start} AND LastRemovedSeq <= {last} ORDER BY LastRemovedSeq DESC LIMIT 1"
    )
}

/// The first record at or after `from`: walking the chains by the primary key, one look-up each.
pub fn first_seq_from(from: u64) -> String {
    format!("SELECT Seq FROM audit_events WHERE Seq >= {from} ORDER BY Seq LIMIT 1")
}

/// The chains retention has left a starting point for.
pub fn based_chains() -> String {
    format!(
        "SELECT DISTINCT toUInt16(bitShiftRight(LastRemovedSeq, {})) AS chain FROM audit_chain_base",
        chain::CHAIN_SHIFT
    )
}

/// Each chain's last record received before the day: where it starts once older days are dropped.
pub fn last_audit_received_before(yyyymmdd: u32) -> String {
    let shift = chain::CHAIN_SHIFT;
    format!(
        "SELECT max(Seq) AS seq, argMax(Hash, Seq) AS hash FROM audit_events WHERE toYYYYMMDD(Received) < {yyyymmdd} \
         GROUP BY bitShiftRight(Seq, {shift})"
    )
}

pub fn insert_chain_base(seq: u64, hash: &str) -> String {
    format!("INSERT INTO audit_chain_base (LastRemovedSeq, LastRemovedHash) VALUES ({seq}, {})", quote(hash))
}

/// The records in a range of `Seq`, by hash (replays included).
pub fn audit_hashes(from: u64, to: u64) -> String {
    format!("SELECT Seq AS seq, Hash AS hash FROM audit_events WHERE Seq >= {from} AND Seq <= {to}")
}

/// Which of these traces' spans started between the two times (seconds, inclusive) are stored.
pub fn stored_span_keys(from_secs: u32, to_secs: u32, trace_ids: &[&str]) -> String {
    let ids: Vec<String> = trace_ids.iter().map(|t| quote(t)).collect();
    format!(
        "SELECT TraceId, SpanId FROM spans WHERE Timestamp >= toDateTime({from_secs}) AND Timestamp <= toDateTime({to_secs}) \
         AND TraceId IN ({}) GROUP BY TraceId, SpanId",
        ids.join(", ")
    )
}

/// The look-up indexes of these traces' spans stored between the two times (seconds, inclusive),
/// written again from the spans themselves: a process killed between ClickHouse writing a span
/// block and its views' blocks leaves spans no trace look-up finds. Both indexes collapse repeats
/// (min and max merge to the same; a replacing table), so writing them again is harmless.
pub fn reindex_spans(from_secs: u32, to_secs: u32, trace_ids: &[&str]) -> [String; 2] {
    let ids: Vec<String> = trace_ids.iter().map(|t| quote(t)).collect();
    let within = format!(
        "Timestamp >= toDateTime({from_secs}) AND Timestamp <= toDateTime({to_secs}) AND TraceId IN ({})",
        ids.join(", ")
    );
    [
        format!(
            "INSERT INTO trace_index (TraceId, Day, StartNs, EndNs) \
             SELECT TraceId, toDate(Timestamp) AS Day, minState(TimestampNs), maxState(TimestampNs + DurationNs) \
             FROM spans WHERE {within} GROUP BY TraceId, Day"
        ),
        format!(
            "INSERT INTO correlation_index (CorrelationId, TraceId, Day) \
             SELECT DISTINCT CorrelationId, TraceId, toDate(Timestamp) FROM spans WHERE {within} AND CorrelationId != ''"
        ),
    ]
}

pub fn partitions(database: &str, table: &str) -> String {
    format!(
        "SELECT DISTINCT partition FROM system.parts WHERE database = {} AND table = {} AND active",
        quote(database),
        quote(table)
    )
}

/// The schema as the statements sent one by one on first start.
pub fn schema_statements() -> Vec<String> {
    super::SCHEMA.iter().flat_map(|file| super::statements(file)).collect()
}

/// Every read query with example values, for checking them against other ClickHouse versions.
pub fn examples() -> Vec<(&'static str, String)> {
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let t0 = 1_795_132_800 * NANOS_PER_SEC;
    let filter = AuditFilter {
        nhs_number: Some("9000000009".into()),
        user_id: Some("alice".into()),
        correlation_id: Some("c'1".into()),
        organisation: Some("A81001".into()),
        source_system: Some("ehr".into()),
        from_ns: Some(t0),
        to_ns: Some(t0 + 3600 * NANOS_PER_SEC),
        after: Some((t0, 5)),
        limit: 100,
    };
    let buckets = BucketQuery {
        service_name: "pds-canary".into(),
        span_name: Some("GET /Patient/{id}".into()),
        from_ns: t0,
        to_ns: t0 + 3600 * NANOS_PER_SEC,
        bucket_secs: 60,
    };
    vec![
        ("audit_summary_counts", audit_summary_counts(t0, t0 + 3600 * NANOS_PER_SEC)),
        ("audit_summary_groups", audit_summary_groups(t0, t0 + 3600 * NANOS_PER_SEC)),
        ("trace_range", trace_range(trace)),
        ("trace_spans", trace_spans(trace, t0, t0 + NANOS_PER_SEC)),
        ("spans_by_correlation_id", spans_by_correlation_id("corr-1")),
        ("latency_buckets", latency_buckets(&buckets)),
        (
            "recent_spans",
            recent_spans(&RecentQuery {
                service_name: "pathwatch-canary".into(),
                span_name: Some("canary pds".into()),
                from_ns: t0,
                to_ns: t0 + 86_400 * NANOS_PER_SEC,
                limit: 100,
            }),
        ),
        (
            "span_rollups_counts",
            span_rollups(&RollupsQuery {
                selections: vec![crate::model::SpanSelection {
                    service_name: "pathwatch-canary".into(),
                    span_name: None,
                }],
                from_ns: t0,
                to_ns: t0 + 86_400 * NANOS_PER_SEC,
                bucket_secs: 3600,
                histogram: false,
            }),
        ),
        ("backfill_span_minutes", backfill_span_minutes()),
        (
            "span_rollups",
            span_rollups(&RollupsQuery {
                selections: vec![
                    crate::model::SpanSelection {
                        service_name: "pathwatch-canary".into(),
                        span_name: Some("canary pds".into()),
                    },
                    crate::model::SpanSelection { service_name: "gp-booking-api".into(), span_name: None },
                ],
                from_ns: t0,
                to_ns: t0 + 86_400 * NANOS_PER_SEC,
                bucket_secs: 60,
                histogram: true,
            }),
        ),
        (
            "recent_spans_by_name",
            recent_spans_by_name(
                "pathwatch-canary",
                &["canary pds".into(), "canary mesh".into()],
                t0,
                t0 + 86_400 * NANOS_PER_SEC,
                240,
            ),
        ),
        (
            "spans_in_traces",
            spans_in_traces(
                &TracesQuery {
                    service_name: "pathwatch-canary".into(),
                    trace_ids: vec![trace.into()],
                    from_ns: t0,
                    to_ns: t0 + 3600 * NANOS_PER_SEC,
                },
                &[trace.into(), "x'y".into()],
            ),
        ),
        ("audit_events", audit_events(&filter)),
        ("audit_events_unfiltered", audit_events(&AuditFilter { limit: 10, ..Default::default() })),
        ("audit_chain_page", audit_chain_page(0, 1000)),
        ("audit_chain_base", audit_chain_base(0)),
        ("audit_chain_base_7", audit_chain_base(7)),
        ("first_seq_from", first_seq_from(1 << 48)),
        ("audit_hashes", audit_hashes(1, 1000)),
        ("based_chains", based_chains()),
        ("last_audit_received_before", last_audit_received_before(20261120)),
        ("partitions", partitions("pathwatch", "spans")),
        ("stored_span_keys", stored_span_keys(1_795_132_800, 1_795_132_860, &[trace, "x'y"])),
    ]
    .into_iter()
    .chain(super::access::examples(t0))
    .collect()
}
