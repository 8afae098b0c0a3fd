//! The telemetry data layer: spans and hash-chained audit events, in SQLite (embedded default) or
//! ClickHouse (at scale), behind one interface, [`TelemetryStore`].
//!
//! This crate knows nothing about HTTP, OTLP wire formats or configuration files: it takes domain
//! values ([`Span`], [`AuditEvent`]) and returns them. Both backends pass one conformance suite
//! (`tests/it/conformance.rs`); a behaviour that only one backend has is a bug.

pub mod access;
pub mod chain;
mod clickhouse;
mod error;
pub mod model;
pub mod sequencer;
mod sqlite;
mod sqlite_access;
mod sqlite_migrations;

pub use crate::access::{
    ActivityQuery, Arrivals, CareRelationship, HourProfile, LocalClock, PatientAccess, PatientAccessQuery,
    PatientRecord, SampleQuery, SampledUser, StaffMember, StratumCount, UserActivity, WorkingHours,
};
pub use crate::clickhouse::{
    rowbinary as clickhouse_rowbinary, sql as clickhouse_sql, ClickHouseConfig, ClickHouseStore, WireCompression,
    SCHEMA as CLICKHOUSE_SCHEMA,
};
pub use crate::error::{sqlite_unavailable, StoreError};
pub use crate::model::*;

/// The most spans one read of a trace (or of the traces of a correlation id) returns: the earliest.
pub const MAX_SPANS_PER_TRACE: usize = 10_000;
pub use crate::sqlite::{open_pool, SqliteBatch, SqliteSpan, SqliteStore};

/// What every telemetry backend offers. Writes are idempotent: spans are keyed by (trace id, span id)
/// and audit events by their sequence number, so replaying a spool after a crash stores nothing twice.
#[allow(async_fn_in_trait)]
pub trait TelemetryStore {
    /// Stores spans; a span already stored (same trace and span id) is kept once.
    async fn insert_spans(&self, spans: &[Span]) -> Result<(), StoreError>;

    /// Stores audit events that the [`sequencer`] has already placed in the chain.
    async fn insert_audit_events(&self, events: &[StoredAuditEvent]) -> Result<(), StoreError>;

    /// The spans of one trace, oldest first: at most [`MAX_SPANS_PER_TRACE`], the earliest (a
    /// runaway trace must not be read into memory whole).
    async fn trace(&self, trace_id: &str) -> Result<Vec<Span>, StoreError>;

    /// Every span carrying one correlation id (X-Correlation-ID / X-Request-ID), oldest first.
    async fn spans_by_correlation_id(&self, correlation_id: &str) -> Result<Vec<Span>, StoreError>;

    /// Counts, errors and latency percentiles per time bucket for one service (and optionally one
    /// span name) over `[from_ns, to_ns)`. Buckets with no spans are absent.
    async fn latency_buckets(&self, query: &BucketQuery) -> Result<Vec<LatencyBucket>, StoreError>;

    /// The newest spans of one service and name started in `[from_ns, to_ns)`, newest first, at
    /// most `limit` (e.g. a canary flow's latest runs).
    async fn recent_spans(&self, query: &RecentQuery) -> Result<Vec<Span>, StoreError>;

    /// `span_rollup` for several selections over one window: one result per selection, in order. A
    /// span counts in every selection it matches. ClickHouse answers in one query (its per-query
    /// cost outweighs the rows); SQLite asks once per selection, concurrently.
    async fn span_rollups(&self, query: &RollupsQuery) -> Result<Vec<Vec<RollupBucket>>, StoreError> {
        // Concurrently: SQLite's pool reads on several connections at once (WAL).
        let queries: Vec<RollupQuery> = query.selections.iter().map(|s| query.one(s)).collect();
        futures_util::future::try_join_all(queries.iter().map(|q| self.span_rollup(q))).await
    }

    /// `recent_spans` for several span names of one service: the newest `limit` of each name,
    /// newest first, one result per name in order.
    async fn recent_spans_by_name(
        &self,
        service_name: &str,
        span_names: &[String],
        from_ns: u64,
        to_ns: u64,
        limit: u32,
    ) -> Result<Vec<Vec<Span>>, StoreError> {
        let queries: Vec<RecentQuery> = span_names
            .iter()
            .map(|name| RecentQuery {
                service_name: service_name.into(),
                span_name: Some(name.clone()),
                from_ns,
                to_ns,
                limit,
            })
            .collect();
        futures_util::future::try_join_all(queries.iter().map(|q| self.recent_spans(q))).await
    }

    /// The spans of one service in the given traces that started in `[from_ns, to_ns)`, oldest
    /// first: a few canary runs' steps, found by trace id without reading other traffic.
    async fn spans_in_traces(&self, query: &TracesQuery) -> Result<Vec<Span>, StoreError>;

    /// Counts, errors and the latency histogram per bucket from the per-minute roll-up, oldest
    /// first; buckets with no spans are absent. Cheap at any traffic: it never reads raw spans.
    async fn span_rollup(&self, query: &RollupQuery) -> Result<Vec<RollupBucket>, StoreError>;

    /// Audit events matching a filter, oldest first, at most `filter.limit`.
    async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<StoredAuditEvent>, StoreError>;

    /// Counts of the audit events that occurred in `[from_ns, to_ns)`, computed in the store.
    async fn audit_summary(&self, from_ns: u64, to_ns: u64) -> Result<AuditSummary, StoreError>;

    /// Up to `limit` audit events with `seq > after_seq`, in sequence order: how the chain is walked.
    async fn audit_chain_page(&self, after_seq: u64, limit: u32) -> Result<Vec<StoredAuditEvent>, StoreError>;

    /// Where verification starts: the last sequence number and hash removed by retention, if any.
    async fn audit_chain_base(&self) -> Result<Option<ChainLink>, StoreError>;

    /// Replaces the staff directory (what family, neighbour and self-access rules compare with).
    async fn replace_staff_directory(&self, staff: &[StaffMember]) -> Result<(), StoreError>;

    /// Replaces the patient index (surname, address and the flags of sensitive records).
    async fn replace_patient_index(&self, patients: &[PatientRecord]) -> Result<(), StoreError>;

    /// Adds care relationships; one already stored is kept once.
    async fn add_care_relationships(&self, relationships: &[CareRelationship]) -> Result<(), StoreError>;

    /// Per user and bucket: events, distinct patients, exports, prints, searches, break-glass uses,
    /// failures and events outside working hours, computed in the store.
    async fn user_activity(&self, query: &ActivityQuery) -> Result<Vec<UserActivity>, StoreError>;

    /// Per user and local hour of the day: how many events, over `[from_ns, to_ns)`.
    async fn hour_profiles(&self, from_ns: u64, to_ns: u64, clock: &LocalClock)
        -> Result<Vec<HourProfile>, StoreError>;

    /// Per user, patient and local day, the accesses no care relationship explains or that touch a
    /// patient who is the user, shares their surname or address, or is flagged (VIP, restricted,
    /// deceased). Explained, unremarkable accesses never leave the store.
    async fn patient_access(&self, query: &PatientAccessQuery) -> Result<Vec<PatientAccess>, StoreError>;

    /// What arrived after `after_seq`: how an incremental run knows which period to look at again.
    async fn audit_arrivals_after(&self, after_seq: u64) -> Result<Option<Arrivals>, StoreError>;

    /// A reproducible sample of the period's events: `per_stratum` from each stratum, in the
    /// seeded order of [`access::sample_key`]. Auditors' own events are not sampled.
    async fn sample_events(&self, query: &SampleQuery) -> Result<Vec<StoredAuditEvent>, StoreError>;

    /// A reproducible sample of the users active in the period (strata: organisation, role).
    async fn sample_users(&self, query: &SampleQuery) -> Result<Vec<SampledUser>, StoreError>;

    /// The period's events per organisation, role and action.
    async fn stratum_counts(&self, from_ns: u64, to_ns: u64) -> Result<Vec<StratumCount>, StoreError>;

    /// Removes whole days of data older than `cutoff_day` (a Unix day number) for one kind of data.
    /// Audit retention records where the chain now starts, so verification still detects deletions.
    async fn drop_days_before(&self, kind: DataKind, cutoff_day: i64) -> Result<(), StoreError>;
}

/// The backend chosen by configuration. An enum rather than a trait object: the set is closed, and
/// the compiler then knows every future is `Send`.
#[derive(Clone)]
pub enum AnyStore {
    Sqlite(SqliteStore),
    ClickHouse(Box<ClickHouseStore>),
}

impl AnyStore {
    /// Whether the store answers a trivial query now (the health page, `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.ping().await,
            AnyStore::ClickHouse(c) => c.ping().await,
        }
    }

    /// "SQLite" or "ClickHouse", for people.
    pub fn backend_name(&self) -> &'static str {
        match self {
            AnyStore::Sqlite(_) => "SQLite",
            AnyStore::ClickHouse(_) => "ClickHouse",
        }
    }
}

macro_rules! delegate {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            AnyStore::Sqlite($store) => $call.await,
            AnyStore::ClickHouse($store) => $call.await,
        }
    };
}

impl TelemetryStore for AnyStore {
    async fn insert_spans(&self, spans: &[Span]) -> Result<(), StoreError> {
        delegate!(self, s => s.insert_spans(spans))
    }
    async fn insert_audit_events(&self, events: &[StoredAuditEvent]) -> Result<(), StoreError> {
        delegate!(self, s => s.insert_audit_events(events))
    }
    async fn trace(&self, trace_id: &str) -> Result<Vec<Span>, StoreError> {
        delegate!(self, s => s.trace(trace_id))
    }
    async fn spans_by_correlation_id(&self, correlation_id: &str) -> Result<Vec<Span>, StoreError> {
        delegate!(self, s => s.spans_by_correlation_id(correlation_id))
    }
    async fn latency_buckets(&self, query: &BucketQuery) -> Result<Vec<LatencyBucket>, StoreError> {
        delegate!(self, s => s.latency_buckets(query))
    }
    async fn recent_spans(&self, query: &RecentQuery) -> Result<Vec<Span>, StoreError> {
        delegate!(self, s => s.recent_spans(query))
    }

    async fn span_rollup(&self, query: &RollupQuery) -> Result<Vec<RollupBucket>, StoreError> {
        delegate!(self, s => s.span_rollup(query))
    }

    async fn spans_in_traces(&self, query: &TracesQuery) -> Result<Vec<Span>, StoreError> {
        delegate!(self, s => s.spans_in_traces(query))
    }

    async fn span_rollups(&self, query: &RollupsQuery) -> Result<Vec<Vec<RollupBucket>>, StoreError> {
        delegate!(self, s => s.span_rollups(query))
    }

    async fn recent_spans_by_name(
        &self,
        service_name: &str,
        span_names: &[String],
        from_ns: u64,
        to_ns: u64,
        limit: u32,
    ) -> Result<Vec<Vec<Span>>, StoreError> {
        delegate!(self, s => s.recent_spans_by_name(service_name, span_names, from_ns, to_ns, limit))
    }
    async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<StoredAuditEvent>, StoreError> {
        delegate!(self, s => s.audit_events(filter))
    }
    async fn audit_chain_page(&self, after_seq: u64, limit: u32) -> Result<Vec<StoredAuditEvent>, StoreError> {
        delegate!(self, s => s.audit_chain_page(after_seq, limit))
    }
    async fn audit_chain_base(&self) -> Result<Option<ChainLink>, StoreError> {
        delegate!(self, s => s.audit_chain_base())
    }
    async fn audit_summary(&self, from_ns: u64, to_ns: u64) -> Result<AuditSummary, StoreError> {
        delegate!(self, s => s.audit_summary(from_ns, to_ns))
    }
    async fn replace_staff_directory(&self, staff: &[StaffMember]) -> Result<(), StoreError> {
        delegate!(self, s => s.replace_staff_directory(staff))
    }
    async fn replace_patient_index(&self, patients: &[PatientRecord]) -> Result<(), StoreError> {
        delegate!(self, s => s.replace_patient_index(patients))
    }
    async fn add_care_relationships(&self, relationships: &[CareRelationship]) -> Result<(), StoreError> {
        delegate!(self, s => s.add_care_relationships(relationships))
    }
    async fn user_activity(&self, query: &ActivityQuery) -> Result<Vec<UserActivity>, StoreError> {
        delegate!(self, s => s.user_activity(query))
    }
    async fn hour_profiles(
        &self,
        from_ns: u64,
        to_ns: u64,
        clock: &LocalClock,
    ) -> Result<Vec<HourProfile>, StoreError> {
        delegate!(self, s => s.hour_profiles(from_ns, to_ns, clock))
    }
    async fn patient_access(&self, query: &PatientAccessQuery) -> Result<Vec<PatientAccess>, StoreError> {
        delegate!(self, s => s.patient_access(query))
    }
    async fn audit_arrivals_after(&self, after_seq: u64) -> Result<Option<Arrivals>, StoreError> {
        delegate!(self, s => s.audit_arrivals_after(after_seq))
    }
    async fn sample_events(&self, query: &SampleQuery) -> Result<Vec<StoredAuditEvent>, StoreError> {
        delegate!(self, s => s.sample_events(query))
    }
    async fn sample_users(&self, query: &SampleQuery) -> Result<Vec<SampledUser>, StoreError> {
        delegate!(self, s => s.sample_users(query))
    }
    async fn stratum_counts(&self, from_ns: u64, to_ns: u64) -> Result<Vec<StratumCount>, StoreError> {
        delegate!(self, s => s.stratum_counts(from_ns, to_ns))
    }
    async fn drop_days_before(&self, kind: DataKind, cutoff_day: i64) -> Result<(), StoreError> {
        delegate!(self, s => s.drop_days_before(kind, cutoff_day))
    }
}

/// The spans an operator means by `id`: a 32-hex-digit trace id, or a correlation id. A canary
/// run's correlation id is a UUID whose digits are its trace id, so a UUID that no span carries as
/// a correlation id is also tried as a trace id. Oldest first; empty when nothing matches.
pub async fn spans_for_id(store: &impl TelemetryStore, id: &str) -> Result<Vec<Span>, StoreError> {
    let hex = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if hex(id) {
        return store.trace(&id.to_ascii_lowercase()).await;
    }
    let spans = store.spans_by_correlation_id(id).await?;
    let undashed: String = id.chars().filter(|c| *c != '-').collect();
    if spans.is_empty() && hex(&undashed) {
        return store.trace(&undashed.to_ascii_lowercase()).await;
    }
    Ok(spans)
}
