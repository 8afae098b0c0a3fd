//! The interface every telemetry backend offers, in three traits by concern: [`SpanStore`] (traces
//! and the roll-up), [`AuditLog`] (the hash-chained audit trail) and [`AccessMonitoring`] (what the
//! anomaly rules and samples ask), with [`TelemetryStore`] for all three plus retention.
//!
//! Each trait is declared once, through `store_trait!`, which also writes how [`AnyStore`] hands
//! every method to the configured backend: a method's signature is written here and in each
//! backend's implementation, never a third time.

use crate::access::{
    ActivityQuery, Arrivals, CareRelationship, HourProfile, LocalClock, PatientAccess, PatientAccessQuery,
    PatientRecord, SampleQuery, SampledUser, StaffMember, StratumCount, SurnameHouseholds, UserActivity,
};
use crate::model::*;
use crate::{ClickHouseStore, SqliteStore, StoreError};

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

/// Declares a trait of async methods (each optionally with a default body after `=`) and its
/// implementation for [`AnyStore`], which calls the same method on the backend it holds.
macro_rules! store_trait {
    (
        $(#[$trait_meta:meta])*
        pub trait $trait:ident $(: $first:ident $(+ $more:ident)*)? {
            $(
                $(#[$meta:meta])*
                async fn $name:ident(&$self:ident $(, $arg:ident : $ty:ty)* $(,)?) -> $ret:ty $(= $default:block)?;
            )*
        }
    ) => {
        $(#[$trait_meta])*
        #[allow(async_fn_in_trait)]
        pub trait $trait $(: $first $(+ $more)*)? {
            $(
                store_trait!(@method $(#[$meta])* $name ($self, $($arg: $ty),*) -> $ret $(= $default)?);
            )*
        }

        impl $trait for AnyStore {
            $(
                async fn $name(&$self $(, $arg: $ty)*) -> $ret {
                    match $self {
                        AnyStore::Sqlite(store) => store.$name($($arg),*).await,
                        AnyStore::ClickHouse(store) => store.$name($($arg),*).await,
                    }
                }
            )*
        }
    };
    (@method $(#[$meta:meta])* $name:ident ($self:ident, $($arg:ident : $ty:ty),*) -> $ret:ty = $default:block) => {
        $(#[$meta])*
        async fn $name(&$self $(, $arg: $ty)*) -> $ret $default
    };
    (@method $(#[$meta:meta])* $name:ident ($self:ident, $($arg:ident : $ty:ty),*) -> $ret:ty) => {
        $(#[$meta])*
        async fn $name(&$self $(, $arg: $ty)*) -> $ret;
    };
}

store_trait! {
    /// Spans: traces as they arrived, and the per-minute roll-up pages and SLOs read. Writes are
    /// idempotent: a span is keyed by (trace id, span id), so a replayed spool stores nothing twice.
    pub trait SpanStore {
        /// Stores spans; a span already stored (same trace and span id) is kept once.
        async fn insert_spans(&self, spans: &[Span]) -> Result<(), StoreError>;

        /// The spans of one trace, oldest first: at most [`crate::MAX_SPANS_PER_TRACE`], the
        /// earliest (a runaway trace must not be read into memory whole).
        async fn trace(&self, trace_id: &str) -> Result<Vec<Span>, StoreError>;

        /// Every span carrying one correlation id (X-Correlation-ID / X-Request-ID), oldest first.
        async fn spans_by_correlation_id(&self, correlation_id: &str) -> Result<Vec<Span>, StoreError>;

        /// Counts, errors and latency percentiles per time bucket for one service (and optionally
        /// one span name) over `[from_ns, to_ns)`. Buckets with no spans are absent.
        async fn latency_buckets(&self, query: &BucketQuery) -> Result<Vec<LatencyBucket>, StoreError>;

        /// The newest spans of one service and name started in `[from_ns, to_ns)`, newest first, at
        /// most `limit` (e.g. a canary flow's latest runs).
        async fn recent_spans(&self, query: &RecentQuery) -> Result<Vec<Span>, StoreError>;

        /// The spans of one service in the given traces that started in `[from_ns, to_ns)`, oldest
        /// first: a few canary runs' steps, found by trace id without reading other traffic.
        async fn spans_in_traces(&self, query: &TracesQuery) -> Result<Vec<Span>, StoreError>;

        /// Counts, errors and the latency histogram per bucket from the per-minute roll-up, oldest
        /// first; buckets with no spans are absent. Cheap at any traffic: it never reads raw spans.
        async fn span_rollup(&self, query: &RollupQuery) -> Result<Vec<RollupBucket>, StoreError>;

        /// `span_rollup` for several selections over one window: one result per selection, in
        /// order. A span counts in every selection it matches. ClickHouse answers in one query (its
        /// per-query cost outweighs the rows); SQLite asks once per selection, concurrently.
        async fn span_rollups(&self, query: &RollupsQuery) -> Result<Vec<Vec<RollupBucket>>, StoreError> = {
            // Concurrently: SQLite's pool reads on several connections at once (WAL).
            let queries: Vec<RollupQuery> = query.selections.iter().map(|s| query.one(s)).collect();
            futures_util::future::try_join_all(queries.iter().map(|q| self.span_rollup(q))).await
        };

        /// `recent_spans` for several span names of one service: the newest `limit` of each name,
        /// newest first, one result per name in order.
        async fn recent_spans_by_name(
            &self,
            service_name: &str,
            span_names: &[String],
            from_ns: u64,
            to_ns: u64,
            limit: u32,
        ) -> Result<Vec<Vec<Span>>, StoreError> = {
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
        };
    }
}

store_trait! {
    /// The audit trail: events placed in the hash chain by the [`crate::sequencer`], read back by
    /// filter or walked in sequence order. Writes are idempotent: events are keyed by sequence
    /// number.
    pub trait AuditLog {
        /// Stores audit events that the [`crate::sequencer`] has already placed in the chain.
        async fn insert_audit_events(&self, events: &[StoredAuditEvent]) -> Result<(), StoreError>;

        /// Audit events matching a filter, oldest first, at most `filter.limit`.
        async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<StoredAuditEvent>, StoreError>;

        /// Counts of the audit events that occurred in `[from_ns, to_ns)`, computed in the store.
        async fn audit_summary(&self, from_ns: u64, to_ns: u64) -> Result<AuditSummary, StoreError>;

        /// Up to `limit` audit events of `after_seq`'s chain with `seq > after_seq`, in sequence
        /// order: how a chain is walked (from [`crate::chain::chain_start`]).
        async fn audit_chain_page(&self, after_seq: u64, limit: u32) -> Result<Vec<StoredAuditEvent>, StoreError>;

        /// Where verification of chain `chain` starts: the last sequence number and hash retention
        /// removed from it, if any.
        async fn audit_chain_base(&self, chain: u16) -> Result<Option<ChainLink>, StoreError>;

        /// The chains the store holds records of (or held, before retention), in order.
        async fn audit_chains(&self) -> Result<Vec<u16>, StoreError>;

        /// What arrived in `after_seq`'s chain after it: how an incremental run knows which period
        /// to look at again.
        async fn audit_arrivals_after(&self, after_seq: u64) -> Result<Option<Arrivals>, StoreError>;
    }
}

store_trait! {
    /// What access monitoring asks of the store: the context that explains accesses, the
    /// aggregations the anomaly rules read (computed in the store: raw events never leave it), and
    /// reproducible samples.
    pub trait AccessMonitoring {
        /// Replaces the staff directory (what family, neighbour and self-access rules compare with).
        async fn replace_staff_directory(&self, staff: &[StaffMember]) -> Result<(), StoreError>;

        /// Replaces the patient index (surname, address and the flags of sensitive records).
        async fn replace_patient_index(&self, patients: &[PatientRecord]) -> Result<(), StoreError>;

        /// Adds care relationships; one already stored is kept once.
        async fn add_care_relationships(&self, relationships: &[CareRelationship]) -> Result<(), StoreError>;

        /// Per user and bucket: events, distinct patients, exports, prints, searches, break-glass
        /// uses, failures and events outside working hours, computed in the store.
        async fn user_activity(&self, query: &ActivityQuery) -> Result<Vec<UserActivity>, StoreError>;

        /// Per user and local hour of the day: how many events, over `[from_ns, to_ns)`.
        async fn hour_profiles(&self, from_ns: u64, to_ns: u64, clock: &LocalClock) -> Result<Vec<HourProfile>, StoreError>;

        /// Per user, patient and local day, the accesses no care relationship explains or that touch
        /// a patient who is the user, shares their surname or address, or is flagged (VIP,
        /// restricted, deceased). Explained, unremarkable accesses never leave the store.
        async fn patient_access(&self, query: &PatientAccessQuery) -> Result<Vec<PatientAccess>, StoreError>;

        /// How many of the households of the patient index and staff directory hold each of
        /// `surname_keys`, and how many
        /// households it holds.
        async fn surname_households(&self, surname_keys: &[String]) -> Result<SurnameHouseholds, StoreError>;

        /// A reproducible sample of the period's events: `per_stratum` from each stratum, in the
        /// seeded order of [`crate::access::sample_key`]. Auditors' own events are not sampled.
        async fn sample_events(&self, query: &SampleQuery) -> Result<Vec<StoredAuditEvent>, StoreError>;

        /// A reproducible sample of the users active in the period (strata: organisation, role).
        async fn sample_users(&self, query: &SampleQuery) -> Result<Vec<SampledUser>, StoreError>;

        /// The period's events per organisation, role and action.
        async fn stratum_counts(&self, from_ns: u64, to_ns: u64) -> Result<Vec<StratumCount>, StoreError>;
    }
}

store_trait! {
    /// Everything a telemetry backend offers: spans, the audit log, access monitoring, and
    /// retention over both.
    pub trait TelemetryStore: SpanStore + AuditLog + AccessMonitoring {
        /// Removes whole days of data older than `cutoff_day` (a Unix day number) for one kind of
        /// data. Audit retention records where the chain now starts, so verification still detects
        /// deletions.
        async fn drop_days_before(&self, kind: DataKind, cutoff_day: i64) -> Result<(), StoreError>;
    }
}
