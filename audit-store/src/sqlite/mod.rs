//! The embedded backend: one SQLite file in WAL mode, written through `sqlx`.
//!
//! Durability: `synchronous = FULL`, so a committed transaction survives a crash or power cut; the
//! collector acknowledges a batch only after its transaction commits.
//!
//! This module opens the store and commits the collector's batches (spans and chained audit events in
//! one transaction); `spans` is the [`crate::SpanStore`], `audit` the [`crate::AuditLog`], `access`
//! the [`crate::AccessMonitoring`], `migrations` the schema's history. Rows are read by column name.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, ConnectOptions, SqlitePool};

use crate::model::*;
use crate::sequencer::{self, to_i64};
mod access;
mod audit;
pub(crate) mod migrations;
mod spans;

use self::audit::insert_audit;
use self::migrations::store_migrator;
use self::spans::insert_spans;
use crate::{StoreError, TelemetryStore};

/// Rows per multi-row INSERT: 16 columns × 1,000 stays under SQLite's 32,766 bound parameters.
pub(super) const SPAN_ROWS_PER_STATEMENT: usize = 1_000;
pub(super) const AUDIT_ROWS_PER_STATEMENT: usize = 1_000;

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

/// Opens (creating if needed) a SQLite database tuned for durable ingest: WAL, synchronous FULL,
/// a busy timeout instead of immediate "database is locked" errors.
///
/// Write transactions must start with `BEGIN IMMEDIATE`: a deferred transaction that reads first
/// (the sequencer reads the chain head) and writes later fails at once with SQLITE_BUSY_SNAPSHOT
/// when another connection committed in between (retention, the spool drainer), busy timeout or not.
pub async fn open_pool(path: &Path, max_connections: u32) -> Result<SqlitePool, StoreError> {
    let options = SqliteConnectOptions::from_str("sqlite:")?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true)
        // Scans by the anomaly rules take seconds by design: slow statements are logged at INFO,
        // where a service's log shows them and a one-shot command's stays quiet.
        .log_slow_statements(log::LevelFilter::Info, Duration::from_secs(1));
    Ok(SqlitePoolOptions::new().max_connections(max_connections).connect_with(options).await?)
}

impl SqliteStore {
    /// Whether the database answers a trivial query now.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Opens the store at `path`, creating the file and running migrations as needed.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let pool = open_pool(path, 4).await?;
        store_migrator().run(&pool).await?;
        Ok(SqliteStore { pool })
    }

    /// Stores spans and new audit events in ONE transaction: when this returns `Ok`, all of it is on
    /// disk; when it returns `Err`, none of it is.
    /// Several requests' batches are committed together (group commit); each gets its own receipt.
    pub async fn commit_ingest(
        &self,
        received_ns: u64,
        batches: Vec<SqliteBatch>,
    ) -> Result<Vec<IngestReceipt>, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut receipts = Vec::with_capacity(batches.len());
        for batch in batches {
            let span_count = batch.spans.len();
            insert_spans(&mut tx, batch.spans).await?;
            let sequenced = sequencer::sequence(&mut tx, 0, received_ns, batch.audit).await?;
            insert_audit(&mut tx, &sequenced.stored).await?;
            receipts.push(IngestReceipt {
                spans: span_count,
                audit_events: sequenced.stored.len(),
                audit_duplicates: sequenced.duplicates,
                audit_conflicts: sequenced.conflicts,
            });
        }
        tx.commit().await?;
        Ok(receipts)
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes the connections: every later call (on this store and its clones) fails with
    /// "pool closed", as during shutdown. Waits for calls in progress to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Runs arbitrary SQL: only for tests that tamper with stored data on purpose.
    #[doc(hidden)]
    pub async fn execute_unchecked(&self, sql: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query(AssertSqlSafe(sql.to_string())).execute(&self.pool).await?.rows_affected())
    }
}

/// A span ready to insert: its JSON columns encoded and its integers checked. Preparing is the
/// CPU-heavy part of an insert; callers do it on their own task ([`SqliteBatch::prepare`]) so the
/// single writer only binds and executes.
pub struct SqliteSpan {
    text: [String; 8],
    json: [String; 4],
    kind: i64,
    start_ns: i64,
    duration_ns: i64,
    status: i64,
}

impl SqliteSpan {
    pub fn prepare(s: Span) -> Result<SqliteSpan, StoreError> {
        Ok(SqliteSpan {
            kind: s.kind as i64,
            start_ns: to_i64(s.start_ns)?,
            duration_ns: s.duration_ns.min(i64::MAX as u64) as i64,
            status: s.status as i64,
            json: [json(&s.attributes), json(&s.resource), json(&s.events), json(&s.links)],
            text: [
                s.trace_id,
                s.span_id,
                s.parent_span_id,
                s.name,
                s.service_name,
                s.scope_name,
                s.status_message,
                s.correlation_id,
            ],
        })
    }
}

/// One request's batch, prepared for [`SqliteStore::commit_ingest`].
pub struct SqliteBatch {
    pub spans: Vec<SqliteSpan>,
    pub audit: Vec<AuditEvent>,
}

impl SqliteBatch {
    pub fn prepare(batch: IngestBatch) -> Result<SqliteBatch, StoreError> {
        let spans = batch.spans.into_iter().map(SqliteSpan::prepare).collect::<Result<_, _>>()?;
        Ok(SqliteBatch { spans, audit: batch.audit })
    }
}

pub(super) fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

pub(super) fn from_json<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("spans.{column}: {e}")))
}

impl TelemetryStore for SqliteStore {
    async fn drop_days_before(&self, kind: DataKind, cutoff_day: i64) -> Result<(), StoreError> {
        let cutoff_ns = cutoff_day.saturating_mul(NANOS_PER_DAY as i64);
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        match kind {
            DataKind::Spans => {
                sqlx::query("DELETE FROM spans WHERE start_ns < ?").bind(cutoff_ns).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM span_minutes WHERE minute_ns < ?").bind(cutoff_ns).execute(&mut *tx).await?;
            }
            DataKind::AuditEvents => {
                // The chain is in receive order, so removing by receive day removes a prefix of it.
                let last: Option<(i64, String)> = sqlx::query_as(
                    "SELECT seq, hash FROM audit_events WHERE received_ns < ? ORDER BY seq DESC LIMIT 1",
                )
                .bind(cutoff_ns)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((seq, hash)) = last {
                    sqlx::query(
                        "INSERT INTO audit_chain_base (id, last_removed_seq, last_removed_hash) VALUES (1, ?, ?) \
                         ON CONFLICT (id) DO UPDATE SET last_removed_seq = excluded.last_removed_seq, \
                         last_removed_hash = excluded.last_removed_hash",
                    )
                    .bind(seq)
                    .bind(hash)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("DELETE FROM audit_events WHERE seq <= ?").bind(seq).execute(&mut *tx).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
