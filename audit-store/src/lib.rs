//! The telemetry data layer: spans and hash-chained audit events, in SQLite (embedded default) or
//! ClickHouse (at scale), behind one interface, [`TelemetryStore`]: [`SpanStore`], [`AuditLog`] and
//! [`AccessMonitoring`] (`store`). Each backend has a folder of its own, `sqlite/` and `clickhouse/`.
//!
//! This crate knows nothing about HTTP, OTLP wire formats or configuration files: it takes domain
//! values ([`Span`], [`AuditEvent`]) and returns them. Both backends pass one conformance suite
//! (`tests/it/conformance.rs`); a behaviour that only one backend has is a bug.

pub mod access;
pub mod chain;
mod clickhouse;
mod error;
pub mod fhir;
pub mod model;
pub mod places;
pub mod sequencer;
mod sqlite;
mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use crate::access::{
    ActivityQuery, Arrivals, CareRelationship, HourProfile, LocalClock, PatientAccess, PatientAccessQuery,
    PatientRecord, SampleQuery, SampledUser, StaffMember, StratumCount, SurnameHouseholds, UserActivity, WorkingHours,
};
pub use crate::clickhouse::{
    rowbinary as clickhouse_rowbinary, sql as clickhouse_sql, ClickHouseConfig, ClickHouseStore, WireCompression,
    SCHEMA as CLICKHOUSE_SCHEMA,
};
pub use crate::error::{database_unavailable, StoreError};
pub use crate::model::*;
pub use crate::store::{AccessMonitoring, AnyStore, AuditLog, SpanStore, TelemetryStore};

/// The most spans one read of a trace (or of the traces of a correlation id) returns: the earliest.
pub const MAX_SPANS_PER_TRACE: usize = 10_000;
pub use crate::sqlite::migrations::migrator as sqlite_migrator;
pub use crate::sqlite::{open_pool, SqliteBatch, SqliteSpan, SqliteStore};

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
