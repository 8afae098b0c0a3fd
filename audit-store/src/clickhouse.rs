//! The scale-out backend: ClickHouse over HTTP through the `clickhouse` crate.
//!
//! Runs on Debian's ClickHouse 18.16 and on current releases alike: schema validation is off (18.16
//! lacks RowBinaryWithNamesAndTypes), and the schema sticks to types both have (see
//! `schema/clickhouse/*.sql` and `deploy/clickhouse.md`).

use std::time::Duration;

use ::clickhouse::{Client, Row};
use serde::{Deserialize, Serialize};

use crate::model::*;
use crate::{StoreError, TelemetryStore};

/// The schema files, in the order they are applied.
pub const SCHEMA: &[&str] =
    &[include_str!("../schema/clickhouse/001_spans.sql"), include_str!("../schema/clickhouse/002_audit.sql")];

/// Where the ClickHouse server is and who Pathwatch is there.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseConfig {
    /// HTTP interface, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    /// Created on first start if missing.
    pub database: String,
    pub user: String,
    pub password: String,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        ClickHouseConfig {
            url: "http://127.0.0.1:8123".into(),
            database: "pathwatch".into(),
            user: "default".into(),
            password: String::new(),
        }
    }
}

#[derive(Clone)]
pub struct ClickHouseStore {
    client: Client,
    database: String,
    server_version: String,
}

impl ClickHouseStore {
    /// Connects, creates the database and tables if they are missing, and reports the server version.
    pub async fn connect(config: &ClickHouseConfig) -> Result<Self, StoreError> {
        if !config.database.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || config.database.is_empty() {
            return Err(StoreError::Invalid(format!(
                "ClickHouse database name {:?} may only contain letters, digits and underscores",
                config.database
            )));
        }
        let base = Client::default()
            .with_url(&config.url)
            .with_user(&config.user)
            .with_password(&config.password)
            .with_validation(false);
        let server_version: String = base.query("SELECT version()").fetch_one().await?;
        base.query(&format!("CREATE DATABASE IF NOT EXISTS {}", config.database)).execute().await?;
        let client = base.with_database(&config.database);
        for file in SCHEMA {
            for statement in statements(file) {
                client.query(&statement).execute().await?;
            }
        }
        Ok(ClickHouseStore { client, database: config.database.clone(), server_version })
    }

    pub fn server_version(&self) -> &str {
        &self.server_version
    }

    /// Cheap liveness check used by the spool drainer before it retries.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let _: u8 = self.client.query("SELECT 1").fetch_one().await?;
        Ok(())
    }

    /// Runs arbitrary SQL: only for tests that tamper with stored data on purpose.
    #[doc(hidden)]
    pub async fn execute_unchecked(&self, sql: &str) -> Result<(), StoreError> {
        Ok(self.client.query(sql).execute().await?)
    }

    async fn drop_partitions_before(&self, tables: &[&str], cutoff_yyyymmdd: u32) -> Result<(), StoreError> {
        for table in tables {
            let partitions: Vec<String> =
                self.client.query(&sql::partitions(&self.database, table)).fetch_all().await?;
            for p in partitions {
                let Ok(day) = p.trim_matches('\'').parse::<u32>() else {
                    continue;
                };
                if day < cutoff_yyyymmdd {
                    self.client.query(&format!("ALTER TABLE {table} DROP PARTITION {day}")).execute().await?;
                }
            }
        }
        Ok(())
    }
}

/// Splits a schema file into statements (the HTTP interface takes one at a time). Schema files hold
/// no semicolons inside strings or comments.
fn statements(file: &str) -> Vec<String> {
    let without_comments: String =
        file.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
    without_comments.split(';').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

#[derive(Debug, Row, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SpanRow {
    timestamp: u32,
    timestamp_ns: u64,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    span_name: String,
    span_kind: u8,
    service_name: String,
    scope_name: String,
    duration_ns: u64,
    status_code: u8,
    status_message: String,
    correlation_id: String,
    attribute_keys: Vec<String>,
    attribute_values: Vec<String>,
    resource_keys: Vec<String>,
    resource_values: Vec<String>,
    event_times_ns: Vec<u64>,
    event_names: Vec<String>,
    event_attributes: Vec<String>,
    link_trace_ids: Vec<String>,
    link_span_ids: Vec<String>,
}

fn unzip(pairs: &[(String, String)]) -> (Vec<String>, Vec<String>) {
    pairs.iter().cloned().unzip()
}

fn zip(keys: Vec<String>, values: Vec<String>) -> Vec<(String, String)> {
    keys.into_iter().zip(values).collect()
}

fn seconds(ns: u64) -> u32 {
    (ns / NANOS_PER_SEC).min(u64::from(u32::MAX)) as u32
}

impl From<&Span> for SpanRow {
    fn from(s: &Span) -> Self {
        let (attribute_keys, attribute_values) = unzip(&s.attributes);
        let (resource_keys, resource_values) = unzip(&s.resource);
        SpanRow {
            timestamp: seconds(s.start_ns),
            timestamp_ns: s.start_ns,
            trace_id: s.trace_id.clone(),
            span_id: s.span_id.clone(),
            parent_span_id: s.parent_span_id.clone(),
            span_name: s.name.clone(),
            span_kind: s.kind as u8,
            service_name: s.service_name.clone(),
            scope_name: s.scope_name.clone(),
            duration_ns: s.duration_ns,
            status_code: s.status as u8,
            status_message: s.status_message.clone(),
            correlation_id: s.correlation_id.clone(),
            attribute_keys,
            attribute_values,
            resource_keys,
            resource_values,
            event_times_ns: s.events.iter().map(|e| e.time_ns).collect(),
            event_names: s.events.iter().map(|e| e.name.clone()).collect(),
            event_attributes: s
                .events
                .iter()
                .map(|e| serde_json::to_string(&e.attributes).unwrap_or_else(|_| "[]".into()))
                .collect(),
            link_trace_ids: s.links.iter().map(|l| l.trace_id.clone()).collect(),
            link_span_ids: s.links.iter().map(|l| l.span_id.clone()).collect(),
        }
    }
}

impl TryFrom<SpanRow> for Span {
    type Error = StoreError;
    fn try_from(r: SpanRow) -> Result<Self, StoreError> {
        let events = r
            .event_times_ns
            .into_iter()
            .zip(r.event_names)
            .zip(r.event_attributes)
            .map(|((time_ns, name), attrs)| {
                let attributes = serde_json::from_str(&attrs)
                    .map_err(|e| StoreError::Corrupt(format!("spans.EventAttributes: {e}")))?;
                Ok(SpanEvent { time_ns, name, attributes })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Span {
            trace_id: r.trace_id,
            span_id: r.span_id,
            parent_span_id: r.parent_span_id,
            name: r.span_name,
            kind: SpanKind::from_code(i64::from(r.span_kind)),
            service_name: r.service_name,
            scope_name: r.scope_name,
            start_ns: r.timestamp_ns,
            duration_ns: r.duration_ns,
            status: SpanStatus::from_code(i64::from(r.status_code)),
            status_message: r.status_message,
            correlation_id: r.correlation_id,
            attributes: zip(r.attribute_keys, r.attribute_values),
            resource: zip(r.resource_keys, r.resource_values),
            events,
            links: r
                .link_trace_ids
                .into_iter()
                .zip(r.link_span_ids)
                .map(|(trace_id, span_id)| SpanLink { trace_id, span_id })
                .collect(),
        })
    }
}

#[derive(Debug, Row, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AuditRow {
    seq: u64,
    event_id: String,
    occurred: u32,
    occurred_ns: u64,
    received: u32,
    received_ns: u64,
    actor_user_id: String,
    actor_name: String,
    actor_role: String,
    actor_org: String,
    purpose_of_use: String,
    action: String,
    nhs_number: String,
    resource_type: String,
    resource_id: String,
    outcome: String,
    correlation_id: String,
    request_id: String,
    source_system: String,
    client_address: String,
    device: String,
    prev_hash: String,
    hash: String,
}

impl From<&StoredAuditEvent> for AuditRow {
    fn from(r: &StoredAuditEvent) -> Self {
        let e = &r.event;
        AuditRow {
            seq: r.seq,
            event_id: e.event_id.clone(),
            occurred: seconds(e.occurred_ns),
            occurred_ns: e.occurred_ns,
            received: seconds(r.received_ns),
            received_ns: r.received_ns,
            actor_user_id: e.actor.user_id.clone(),
            actor_name: e.actor.name.clone(),
            actor_role: e.actor.role.clone(),
            actor_org: e.actor.organisation.clone(),
            purpose_of_use: e.purpose_of_use.clone(),
            action: e.action.as_str().into(),
            nhs_number: e.nhs_number.clone(),
            resource_type: e.resource_type.clone(),
            resource_id: e.resource_id.clone(),
            outcome: e.outcome.as_str().into(),
            correlation_id: e.correlation_id.clone(),
            request_id: e.request_id.clone(),
            source_system: e.source_system.clone(),
            client_address: e.client_address.clone(),
            device: e.device.clone(),
            prev_hash: r.prev_hash.clone(),
            hash: r.hash.clone(),
        }
    }
}

impl TryFrom<AuditRow> for StoredAuditEvent {
    type Error = StoreError;
    fn try_from(r: AuditRow) -> Result<Self, StoreError> {
        Ok(StoredAuditEvent {
            seq: r.seq,
            received_ns: r.received_ns,
            event: AuditEvent {
                event_id: r.event_id,
                occurred_ns: r.occurred_ns,
                actor: Actor {
                    user_id: r.actor_user_id,
                    name: r.actor_name,
                    role: r.actor_role,
                    organisation: r.actor_org,
                },
                purpose_of_use: r.purpose_of_use,
                action: Action::parse(&r.action)
                    .ok_or_else(|| StoreError::Corrupt(format!("audit_events.Action {:?}", r.action)))?,
                nhs_number: r.nhs_number,
                resource_type: r.resource_type,
                resource_id: r.resource_id,
                outcome: Outcome::parse(&r.outcome)
                    .ok_or_else(|| StoreError::Corrupt(format!("audit_events.Outcome {:?}", r.outcome)))?,
                correlation_id: r.correlation_id,
                request_id: r.request_id,
                source_system: r.source_system,
                client_address: r.client_address,
                device: r.device,
            },
            prev_hash: r.prev_hash,
            hash: r.hash,
        })
    }
}

#[derive(Debug, Row, Deserialize)]
struct TraceRange {
    start_ns: u64,
    end_ns: u64,
}

#[derive(Debug, Row, Deserialize)]
struct BucketRow {
    bucket: u64,
    n: u64,
    errors: u64,
    q: Vec<u64>,
}

const SPAN_FIELDS: &str = "Timestamp, TimestampNs, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, \
    ScopeName, DurationNs, StatusCode, StatusMessage, CorrelationId, AttributeKeys, AttributeValues, ResourceKeys, \
    ResourceValues, EventTimesNs, EventNames, EventAttributes, LinkTraceIds, LinkSpanIds";

const AUDIT_FIELDS: &str = "Seq, EventId, Occurred, OccurredNs, Received, ReceivedNs, ActorUserId, ActorName, \
    ActorRole, ActorOrg, PurposeOfUse, Action, NhsNumber, ResourceType, ResourceId, Outcome, CorrelationId, \
    RequestId, SourceSystem, ClientAddress, Device, PrevHash, Hash";

/// A generous timeout for one batch insert: a server that takes longer is treated as down.
const INSERT_TIMEOUT: Duration = Duration::from_secs(30);

impl ClickHouseStore {
    async fn spans(&self, sql: &str) -> Result<Vec<Span>, StoreError> {
        let rows: Vec<SpanRow> = self.client.query(sql).fetch_all().await?;
        rows.into_iter().map(Span::try_from).collect()
    }

    async fn audit(&self, sql: &str) -> Result<Vec<StoredAuditEvent>, StoreError> {
        let rows: Vec<AuditRow> = self.client.query(sql).fetch_all().await?;
        rows.into_iter().map(StoredAuditEvent::try_from).collect()
    }
}

/// Every statement the backend sends, built in one place so that `examples/clickhouse_queries.rs`
/// can hand the same SQL to a current ClickHouse (chDB) in CI. Values are inlined with [`quote`]
/// (strings) or as numbers, never spliced raw.
pub mod sql {
    use super::{quote, seconds, AUDIT_FIELDS, SPAN_FIELDS};
    use crate::model::{AuditFilter, BucketQuery, NANOS_PER_SEC};

    pub fn trace_range(trace_id: &str) -> String {
        format!(
            "SELECT minMerge(StartNs) AS start_ns, maxMerge(EndNs) AS end_ns FROM trace_index \
             WHERE TraceId = {} GROUP BY TraceId",
            quote(trace_id)
        )
    }

    fn spans_where(condition: &str) -> String {
        format!(
            "SELECT {SPAN_FIELDS} FROM spans WHERE {condition} ORDER BY TimestampNs, SpanId LIMIT 1 BY TraceId, SpanId"
        )
    }

    /// The spans of one trace, reading only the days between its first start and last end.
    pub fn trace_spans(trace_id: &str, start_ns: u64, end_ns: u64) -> String {
        spans_where(&format!(
            "Timestamp >= toDateTime({}) AND Timestamp <= toDateTime({}) AND TraceId = {}",
            seconds(start_ns),
            seconds(end_ns),
            quote(trace_id)
        ))
    }

    pub fn spans_by_correlation_id(correlation_id: &str) -> String {
        spans_where(&format!(
            "TraceId IN (SELECT TraceId FROM correlation_index WHERE CorrelationId = {})",
            quote(correlation_id)
        ))
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
        format!(
            "SELECT {AUDIT_FIELDS} FROM audit_events WHERE {}{time} ORDER BY OccurredNs, Seq LIMIT 1 BY Seq LIMIT {}",
            conditions.join(" AND "),
            filter.limit
        )
    }

    pub fn audit_chain_page(after_seq: u64, limit: u32) -> String {
        format!(
            "SELECT {AUDIT_FIELDS} FROM audit_events WHERE Seq > {after_seq} ORDER BY Seq LIMIT 1 BY Seq LIMIT {limit}"
        )
    }

    pub fn audit_chain_base() -> String {
        "SELECT LastRemovedSeq AS seq, LastRemovedHash AS hash FROM audit_chain_base ORDER BY LastRemovedSeq DESC LIMIT 1"
            .to_string()
    }

    pub fn last_audit_received_before(yyyymmdd: u32) -> String {
        format!("SELECT Seq AS seq, Hash AS hash FROM audit_events WHERE toYYYYMMDD(Received) < {yyyymmdd} ORDER BY Seq DESC LIMIT 1")
    }

    pub fn insert_chain_base(seq: u64, hash: &str) -> String {
        format!("INSERT INTO audit_chain_base (LastRemovedSeq, LastRemovedHash) VALUES ({seq}, {})", quote(hash))
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
            from_ns: Some(t0),
            to_ns: Some(t0 + 3600 * NANOS_PER_SEC),
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
            ("trace_range", trace_range(trace)),
            ("trace_spans", trace_spans(trace, t0, t0 + NANOS_PER_SEC)),
            ("spans_by_correlation_id", spans_by_correlation_id("corr-1")),
            ("latency_buckets", latency_buckets(&buckets)),
            ("audit_events", audit_events(&filter)),
            ("audit_events_unfiltered", audit_events(&AuditFilter { limit: 10, ..Default::default() })),
            ("audit_chain_page", audit_chain_page(0, 1000)),
            ("audit_chain_base", audit_chain_base()),
            ("last_audit_received_before", last_audit_received_before(20261120)),
            ("partitions", partitions("pathwatch", "spans")),
        ]
    }
}

/// Quotes a string for ClickHouse SQL (single quotes, backslash escapes).
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

impl TelemetryStore for ClickHouseStore {
    async fn insert_spans(&self, spans: &[Span]) -> Result<(), StoreError> {
        if spans.is_empty() {
            return Ok(());
        }
        let mut insert =
            self.client.insert::<SpanRow>("spans").await?.with_timeouts(Some(INSERT_TIMEOUT), Some(INSERT_TIMEOUT));
        for span in spans {
            insert.write(&SpanRow::from(span)).await?;
        }
        insert.end().await?;
        Ok(())
    }

    async fn insert_audit_events(&self, events: &[StoredAuditEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut insert = self
            .client
            .insert::<AuditRow>("audit_events")
            .await?
            .with_timeouts(Some(INSERT_TIMEOUT), Some(INSERT_TIMEOUT));
        for event in events {
            insert.write(&AuditRow::from(event)).await?;
        }
        insert.end().await?;
        Ok(())
    }

    async fn trace(&self, trace_id: &str) -> Result<Vec<Span>, StoreError> {
        let range: Option<TraceRange> = self.client.query(&sql::trace_range(trace_id)).fetch_optional().await?;
        let Some(range) = range else { return Ok(Vec::new()) };
        self.spans(&sql::trace_spans(trace_id, range.start_ns, range.end_ns)).await
    }

    async fn spans_by_correlation_id(&self, correlation_id: &str) -> Result<Vec<Span>, StoreError> {
        self.spans(&sql::spans_by_correlation_id(correlation_id)).await
    }

    async fn latency_buckets(&self, query: &BucketQuery) -> Result<Vec<LatencyBucket>, StoreError> {
        if query.bucket_secs == 0 {
            return Err(StoreError::Invalid("bucket width must be at least one second".into()));
        }
        let sql = sql::latency_buckets(query);
        let rows: Vec<BucketRow> = self.client.query(&sql).fetch_all().await?;
        rows.into_iter()
            .map(|r| {
                let q = |i: usize| {
                    r.q.get(i)
                        .copied()
                        .ok_or_else(|| StoreError::Corrupt("quantilesExact returned too few values".into()))
                };
                Ok(LatencyBucket {
                    start_ns: r.bucket,
                    count: r.n,
                    errors: r.errors,
                    p50_ns: q(0)?,
                    p95_ns: q(1)?,
                    p99_ns: q(2)?,
                })
            })
            .collect()
    }

    async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<StoredAuditEvent>, StoreError> {
        self.audit(&sql::audit_events(filter)).await
    }

    async fn audit_chain_page(&self, after_seq: u64, limit: u32) -> Result<Vec<StoredAuditEvent>, StoreError> {
        self.audit(&sql::audit_chain_page(after_seq, limit)).await
    }

    async fn audit_chain_base(&self) -> Result<Option<ChainLink>, StoreError> {
        #[derive(Row, Deserialize)]
        struct Base {
            seq: u64,
            hash: String,
        }
        let base: Option<Base> = self.client.query(&sql::audit_chain_base()).fetch_optional().await?;
        Ok(base.map(|b| ChainLink { seq: b.seq, hash: b.hash }))
    }

    async fn drop_days_before(&self, kind: DataKind, cutoff_day: i64) -> Result<(), StoreError> {
        let cutoff = time::Date::from_julian_day(2_440_588 + cutoff_day as i32)
            .map_err(|e| StoreError::Invalid(format!("cutoff day {cutoff_day}: {e}")))?;
        let yyyymmdd =
            cutoff.year() as u32 * 10_000 + u32::from(u8::from(cutoff.month())) * 100 + u32::from(cutoff.day());
        match kind {
            DataKind::Spans => {
                self.drop_partitions_before(&["spans", "trace_index", "correlation_index"], yyyymmdd).await
            }
            DataKind::AuditEvents => {
                #[derive(Row, Deserialize)]
                struct Last {
                    seq: u64,
                    hash: String,
                }
                let last: Option<Last> =
                    self.client.query(&sql::last_audit_received_before(yyyymmdd)).fetch_optional().await?;
                if let Some(last) = last {
                    self.client.query(&sql::insert_chain_base(last.seq, &last.hash)).execute().await?;
                }
                self.drop_partitions_before(&["audit_events", "audit_by_patient", "audit_by_user"], yyyymmdd).await
            }
        }
    }
}
