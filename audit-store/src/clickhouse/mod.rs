//! The scale-out backend: ClickHouse over HTTP through the `clickhouse` crate.
//!
//! Runs on Debian's ClickHouse 18.16 and on current releases alike: schema validation is off (18.16
//! lacks RowBinaryWithNamesAndTypes), and the schema sticks to types both have (see
//! `schema/clickhouse/*.sql` and `deploy/clickhouse.md`).

use std::time::Duration;

use ::clickhouse::{Client, Row};
use chrono::Datelike;
use serde::{Deserialize, Serialize};

use crate::access::*;
use crate::model::*;

use crate::{AuditLog, SpanStore, StoreError, TelemetryStore};

pub mod access;
pub mod layout;
mod replay;
pub mod rowbinary;
mod rows;
pub mod sql;

use layout::Layout;
use rows::{AuditRow, SpanRow};

/// The schema files, in the order they are applied.
pub const SCHEMA: &[&str] = &[
    include_str!("../../schema/clickhouse/001_spans.sql"),
    include_str!("../../schema/clickhouse/002_audit.sql"),
    include_str!("../../schema/clickhouse/003_span_minutes.sql"),
    include_str!("../../schema/clickhouse/004_access.sql"),
    include_str!("../../schema/clickhouse/005_care_teams.sql"),
    include_str!("../../schema/clickhouse/006_places.sql"),
];

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
    /// Compress what goes over the wire (`lz4`, the default) or not (`none`: cheaper on loopback
    /// or a fast LAN, where CPU, not bandwidth, is the limit).
    pub compression: WireCompression,
    /// A cluster named in the servers' `remote_servers` (coordinated by ZooKeeper): Pathwatch then
    /// creates replicated local tables with distributed tables in front, `ON CLUSTER`
    /// (`clickhouse::layout`). Unset: one server.
    pub cluster: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WireCompression {
    Lz4,
    None,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        ClickHouseConfig {
            url: "http://127.0.0.1:8123".into(),
            database: "pathwatch".into(),
            user: "default".into(),
            password: String::new(),
            compression: WireCompression::Lz4,
            cluster: None,
        }
    }
}

#[derive(Clone)]
pub struct ClickHouseStore {
    client: Client,
    database: String,
    server_version: String,
    layout: Layout,
}

impl ClickHouseStore {
    /// Connects, creates the database and tables if they are missing, and reports the server version.
    pub async fn connect(config: &ClickHouseConfig) -> Result<Self, StoreError> {
        let name_ok = |name: &str| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !name_ok(&config.database) {
            return Err(StoreError::Invalid(format!(
                "ClickHouse database name {:?} may only contain letters, digits and underscores",
                config.database
            )));
        }
        let layout = match &config.cluster {
            None => Layout::Single,
            Some(name) if name_ok(name) => Layout::Cluster { name: name.clone(), database: config.database.clone() },
            Some(name) => {
                return Err(StoreError::Invalid(format!(
                    "ClickHouse cluster name {name:?} may only contain letters, digits and underscores"
                )))
            }
        };
        let mut base = Client::default()
            .with_url(&config.url)
            .with_user(&config.user)
            .with_password(&config.password)
            .with_validation(false)
            .with_compression(match config.compression {
                WireCompression::Lz4 => ::clickhouse::Compression::Lz4,
                WireCompression::None => ::clickhouse::Compression::None,
            });
        if layout.is_cluster() {
            // An insert returns once the shards have it (so the collector acknowledges only what is
            // stored), and a subquery over a distributed table runs once, its result sent to every
            // shard (`global`), instead of being refused or run per shard.
            base = base.with_setting("insert_distributed_sync", "1").with_setting("distributed_product_mode", "global");
        }
        let server_version: String = base.query_raw("SELECT version()").fetch_one().await?;
        let client = base.clone().with_database(&config.database);
        match &layout {
            Layout::Single => {
                base.query_raw(&format!("CREATE DATABASE IF NOT EXISTS {}", config.database)).execute().await?;
                // The roll-up arrived after the first release: fill it from existing spans when it is new.
                let had_rollup: u8 = client.query_raw("EXISTS TABLE span_minutes").fetch_one().await?;
                for file in SCHEMA {
                    for statement in statements(file) {
                        client.query_raw(&statement).execute().await?;
                    }
                }
                if had_rollup == 0 {
                    client.query_raw(&sql::backfill_span_minutes()).execute().await?;
                }
                upgrade_duration_sums(&client).await?;
            }
            Layout::Cluster { name, database } => create_on_cluster(&base, &layout, name, database).await?,
        }
        Ok(ClickHouseStore { client, database: config.database.clone(), server_version, layout })
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    /// One server or a cluster.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn server_version(&self) -> &str {
        &self.server_version
    }

    /// Whether the server answers a trivial query now.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let _: u8 = self.client.query_raw("SELECT 1").fetch_one().await?;
        Ok(())
    }

    /// Inserts spans already encoded by [`rowbinary::encode_spans`] (how the spool keeps them).
    pub async fn insert_span_rowbinary(&self, rows: Vec<u8>) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let sql = format!("INSERT INTO spans ({}) FORMAT RowBinary", rowbinary::SPAN_COLUMNS);
        let mut insert =
            self.client.insert_formatted_with(sql).with_timeouts(Some(INSERT_TIMEOUT), Some(INSERT_TIMEOUT));
        insert.send(rows.into()).await?;
        insert.end().await?;
        Ok(())
    }

    /// Reads one number with arbitrary SQL: only for tests that tamper with stored data on purpose.
    #[doc(hidden)]
    pub async fn count_unchecked(&self, sql: &str) -> Result<u64, StoreError> {
        Ok(self.client.query_raw(sql).fetch_one().await?)
    }

    /// Runs arbitrary SQL: only for tests that tamper with stored data on purpose.
    #[doc(hidden)]
    pub async fn execute_unchecked(&self, sql: &str) -> Result<(), StoreError> {
        Ok(self.client.query_raw(sql).execute().await?)
    }

    async fn drop_partitions_before(&self, tables: &[&str], cutoff_yyyymmdd: u32) -> Result<(), StoreError> {
        for table in tables {
            let partitions: Vec<String> = self
                .client
                .query_raw(&sql::partitions(&self.database, &self.layout.parts_table(table)))
                .fetch_all()
                .await?;
            for p in partitions {
                let Ok(day) = p.trim_matches('\'').parse::<u32>() else {
                    continue;
                };
                if day < cutoff_yyyymmdd {
                    let target = self.layout.alter_target(table);
                    self.client.query_raw(&format!("ALTER TABLE {target} DROP PARTITION {day}")).execute().await?;
                }
            }
        }
        Ok(())
    }
}

/// Creates what is missing on every node of the cluster. `ON CLUSTER` statements wait for every
/// node (up to the server's `distributed_ddl_task_timeout`, 180 s by default), so they run only
/// when this node lacks a table: a restart while another node is down starts at once.
async fn create_on_cluster(base: &Client, layout: &Layout, cluster: &str, database: &str) -> Result<(), StoreError> {
    let mut wanted = Vec::new();
    for file in SCHEMA {
        for statement in statements(file) {
            wanted.extend(layout.statements(&statement)?);
        }
    }
    let present: Vec<(String, String)> = base
        .query_raw(&format!("SELECT name, engine FROM system.tables WHERE database = {}", quote(database)))
        .fetch_all()
        .await?;
    // A database made for one server holds the plain tables under the names the distributed ones
    // need: `IF NOT EXISTS` would leave them, and the cluster would be one node's tables.
    for (name, sql) in &wanted {
        let engine = present.iter().find(|(n, _)| n == name).map(|(_, e)| e.as_str());
        if let Some(engine) = engine.filter(|e| sql.contains("ENGINE = Distributed(") && *e != "Distributed") {
            return Err(StoreError::Invalid(format!(
                "ClickHouse table {database}.{name} is {engine}, made for one server: on cluster {cluster} it must be \
                 a Distributed table in front of {name}_local. Lay the cluster out in a new database and copy the \
                 data across (deploy/clickhouse.md)"
            )));
        }
    }
    if wanted.iter().all(|(name, _)| present.iter().any(|(n, _)| n == name)) {
        return Ok(());
    }
    tracing::info!(cluster, database, "creating Pathwatch's tables on every node of the cluster");
    base.query_raw(&format!("CREATE DATABASE IF NOT EXISTS {database} ON CLUSTER {cluster}")).execute().await?;
    for (_, sql) in wanted {
        base.query_raw(&sql).execute().await?;
    }
    Ok(())
}

/// Stores made before the roll-up summed durations in Float64 kept a UInt64 that wraps: convert the
/// column, and make the view again so it sums in Float64 (the schema file's view, created when
/// missing). Inserts from another collector in the moment between are not rolled up: upgrade with
/// one collector running.
async fn upgrade_duration_sums(client: &Client) -> Result<(), StoreError> {
    let kind: String = client
        .query_raw(
            "SELECT type FROM system.columns WHERE database = currentDatabase() \
             AND table = 'span_minutes' AND name = 'DurationSumNs'",
        )
        .fetch_one()
        .await?;
    if kind == "Float64" {
        return Ok(());
    }
    tracing::info!(was = %kind, "converting span_minutes.DurationSumNs to Float64 (sums that cannot wrap)");
    client.query_raw("ALTER TABLE span_minutes MODIFY COLUMN DurationSumNs Float64").execute().await?;
    client.query_raw("DROP TABLE IF EXISTS span_minutes_mv").execute().await?;
    for statement in statements(SCHEMA[2]) {
        client.query_raw(&statement).execute().await?;
    }
    Ok(())
}

/// Splits a schema file into statements (the HTTP interface takes one at a time). Schema files hold
/// no semicolons inside strings or comments.
fn statements(file: &str) -> Vec<String> {
    let without_comments: String =
        file.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
    without_comments.split(';').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

fn seconds(ns: u64) -> u32 {
    (ns / NANOS_PER_SEC).min(u64::from(u32::MAX)) as u32
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

/// The columns `SpanRow` reads, in its field order.
const SPAN_FIELDS: &str = "TimestampNs, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, \
    ScopeName, DurationNs, StatusCode, StatusMessage, CorrelationId, AttributeKeys, AttributeValues, ResourceKeys, \
    ResourceValues, EventTimesNs, EventNames, EventAttributes, LinkTraceIds, LinkSpanIds";

pub(crate) const AUDIT_FIELDS: &str =
    "Seq, EventId, Occurred, OccurredNs, Received, ReceivedNs, ActorUserId, ActorName, \
    ActorRole, ActorOrg, PurposeOfUse, Action, NhsNumber, ResourceType, ResourceId, Outcome, CorrelationId, \
    RequestId, SourceSystem, ClientAddress, Device, PrevHash, Hash";

/// A generous timeout for one batch insert: a server that takes longer is treated as down.
const INSERT_TIMEOUT: Duration = Duration::from_secs(30);

impl ClickHouseStore {
    async fn spans(&self, sql: &str) -> Result<Vec<Span>, StoreError> {
        let rows: Vec<SpanRow> = self.client.query_raw(sql).fetch_all().await?;
        rows.into_iter().map(Span::try_from).collect()
    }

    pub(crate) async fn audit(&self, sql: &str) -> Result<Vec<StoredAuditEvent>, StoreError> {
        let rows: Vec<AuditRow> = self.client.query_raw(sql).fetch_all().await?;
        rows.into_iter().map(StoredAuditEvent::try_from).collect()
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
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

impl SpanStore for ClickHouseStore {
    async fn insert_spans(&self, spans: &[Span]) -> Result<(), StoreError> {
        let mut rows = Vec::with_capacity(spans.len() * 512);
        rowbinary::encode_spans(spans, &mut rows);
        self.insert_span_rowbinary(rows).await
    }

    async fn trace(&self, trace_id: &str) -> Result<Vec<Span>, StoreError> {
        let range: Option<TraceRange> = self.client.query_raw(&sql::trace_range(trace_id)).fetch_optional().await?;
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
        let rows: Vec<BucketRow> = self.client.query_raw(&sql).fetch_all().await?;
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

    async fn recent_spans(&self, query: &RecentQuery) -> Result<Vec<Span>, StoreError> {
        self.spans(&sql::recent_spans(query)).await
    }

    async fn span_rollups(&self, query: &RollupsQuery) -> Result<Vec<Vec<RollupBucket>>, StoreError> {
        query.selections.iter().try_for_each(|s| query.one(s).check())?;
        if query.selections.is_empty() {
            return Ok(Vec::new());
        }
        #[derive(Row, Deserialize)]
        struct Row2 {
            service_name: String,
            span_name: String,
            bucket: u64,
            count: u64,
            errors: u64,
            duration_sum_ns: f64,
            le: Vec<u64>,
        }
        let rows: Vec<Row2> = self.client.query_raw(&sql::span_rollups(query)).fetch_all().await?;
        let mut out: Vec<Vec<RollupBucket>> = vec![Vec::new(); query.selections.len()];
        for r in rows {
            for (i, selection) in query.selections.iter().enumerate() {
                if selection.matches(&r.service_name, &r.span_name) {
                    out[i].push(RollupBucket {
                        start_ns: r.bucket,
                        count: r.count,
                        errors: r.errors,
                        // Saturates past u64::MAX (only durations no collector accepts get there).
                        duration_sum_ns: r.duration_sum_ns as u64,
                        le: r.le.clone(),
                    });
                }
            }
        }
        Ok(out.into_iter().map(merge_rollups).collect())
    }

    async fn recent_spans_by_name(
        &self,
        service_name: &str,
        span_names: &[String],
        from_ns: u64,
        to_ns: u64,
        limit: u32,
    ) -> Result<Vec<Vec<Span>>, StoreError> {
        if span_names.is_empty() {
            return Ok(Vec::new());
        }
        let spans = self.spans(&sql::recent_spans_by_name(service_name, span_names, from_ns, to_ns, limit)).await?;
        let mut out: Vec<Vec<Span>> = vec![Vec::new(); span_names.len()];
        for span in spans {
            if let Some(i) = span_names.iter().position(|n| *n == span.name) {
                out[i].push(span);
            }
        }
        Ok(out)
    }

    async fn spans_in_traces(&self, query: &TracesQuery) -> Result<Vec<Span>, StoreError> {
        let mut spans = Vec::new();
        for chunk in query.trace_ids.chunks(1_000) {
            spans.extend(self.spans(&sql::spans_in_traces(query, chunk)).await?);
        }
        spans.sort_by(|a, b| (a.start_ns, &a.span_id).cmp(&(b.start_ns, &b.span_id)));
        Ok(spans)
    }

    async fn span_rollup(&self, query: &RollupQuery) -> Result<Vec<RollupBucket>, StoreError> {
        // One selection of the many-selection query: one SQL statement to keep right, not two.
        let many = RollupsQuery {
            selections: vec![SpanSelection {
                service_name: query.service_name.clone(),
                span_name: query.span_name.clone(),
            }],
            from_ns: query.from_ns,
            to_ns: query.to_ns,
            bucket_secs: query.bucket_secs,
            histogram: query.histogram,
        };
        Ok(self.span_rollups(&many).await?.pop().unwrap_or_default())
    }
}

impl AuditLog for ClickHouseStore {
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

    async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<StoredAuditEvent>, StoreError> {
        self.audit(&sql::audit_events(filter)).await
    }

    async fn audit_summary(&self, from_ns: u64, to_ns: u64) -> Result<AuditSummary, StoreError> {
        #[derive(Row, Deserialize)]
        struct Counts {
            events: u64,
            users: u64,
            patients: u64,
            organisations: u64,
            unattributed: u64,
        }
        #[derive(Row, Deserialize)]
        struct Group {
            kind: String,
            key: String,
            n: u64,
        }
        let c: Counts = self.client.query_raw(&sql::audit_summary_counts(from_ns, to_ns)).fetch_one().await?;
        let groups: Vec<Group> = self.client.query_raw(&sql::audit_summary_groups(from_ns, to_ns)).fetch_all().await?;
        let mut summary = AuditSummary {
            events: c.events,
            users: c.users,
            patients: c.patients,
            organisations: c.organisations,
            unattributed: c.unattributed,
            ..AuditSummary::default()
        };
        for g in groups {
            let map = if g.kind == "action" { &mut summary.by_action } else { &mut summary.by_outcome };
            map.insert(g.key, g.n);
        }
        Ok(summary)
    }

    async fn audit_chain_page(&self, after_seq: u64, limit: u32) -> Result<Vec<StoredAuditEvent>, StoreError> {
        self.audit(&sql::audit_chain_page(after_seq, limit)).await
    }

    async fn audit_chain_base(&self, chain: u16) -> Result<Option<ChainLink>, StoreError> {
        #[derive(Row, Deserialize)]
        struct Base {
            seq: u64,
            hash: String,
        }
        let base: Option<Base> = self.client.query_raw(&sql::audit_chain_base(chain)).fetch_optional().await?;
        Ok(base.map(|b| ChainLink { seq: b.seq, hash: b.hash }))
    }

    async fn audit_chains(&self) -> Result<Vec<u16>, StoreError> {
        // One look-up on the primary key per chain, never a scan of the table.
        let mut chains: Vec<u16> = self.client.query_raw(&sql::based_chains()).fetch_all().await?;
        let mut from = 0u64;
        while let Some(first) = self.client.query_raw(&sql::first_seq_from(from)).fetch_optional::<u64>().await? {
            let number = crate::chain::chain_of(first);
            chains.push(number);
            if number >= crate::chain::MAX_CHAIN {
                break;
            }
            from = crate::chain::chain_start(number + 1);
        }
        chains.sort_unstable();
        chains.dedup();
        Ok(chains)
    }

    async fn audit_arrivals_after(&self, after_seq: u64) -> Result<Option<Arrivals>, StoreError> {
        self.ch_arrivals_after(after_seq).await
    }
}

impl TelemetryStore for ClickHouseStore {
    async fn drop_days_before(&self, kind: DataKind, cutoff_day: i64) -> Result<(), StoreError> {
        // Nothing is that old: a cutoff before 1970 (a retention longer than the epoch) drops nothing,
        // and one that does not fit a date is refused rather than wrapped into a recent day.
        if cutoff_day <= 0 {
            return Ok(());
        }
        // 1970-01-01 is day 719 163 of the Common Era.
        let cutoff = i32::try_from(cutoff_day)
            .ok()
            .and_then(|day| day.checked_add(719_163))
            .and_then(chrono::NaiveDate::from_num_days_from_ce_opt)
            .ok_or_else(|| StoreError::Invalid(format!("cutoff day {cutoff_day}: out of range")))?;
        let yyyymmdd = cutoff.year() as u32 * 10_000 + cutoff.month() * 100 + cutoff.day();
        match kind {
            DataKind::Spans => {
                self.drop_partitions_before(&["spans", "trace_index", "correlation_index", "span_minutes"], yyyymmdd)
                    .await
            }
            DataKind::AuditEvents => {
                #[derive(Row, Deserialize)]
                struct Last {
                    seq: u64,
                    hash: String,
                }
                // Where each chain starts once these days are gone.
                let lasts: Vec<Last> =
                    self.client.query_raw(&sql::last_audit_received_before(yyyymmdd)).fetch_all().await?;
                for last in lasts {
                    self.client.query_raw(&sql::insert_chain_base(last.seq, &last.hash)).execute().await?;
                }
                self.drop_partitions_before(&["audit_events", "audit_by_patient", "audit_by_user"], yyyymmdd).await
            }
        }
    }
}
