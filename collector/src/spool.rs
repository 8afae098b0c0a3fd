//! The write-ahead spool in front of ClickHouse: a local SQLite file (WAL, synchronous FULL) where an
//! accepted batch is durable before the client hears 2xx. A drainer moves batches to ClickHouse in
//! order and deletes them only after ClickHouse has them; if ClickHouse is down, batches wait (up to
//! `spool_max_bytes`, then ingest answers 503) and drain on recovery or on the next start.
//!
//! The spool also holds the audit sequencer (chain head and seen event ids), so audit events are
//! chained, and duplicates dropped, at the moment they are accepted.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use audit_store::clickhouse_rowbinary as rowbinary;
use audit_store::{
    chain, open_pool, sequencer, AuditEvent, ClickHouseStore, IngestBatch, IngestReceipt, StoreError, StoredAuditEvent,
};
use sqlx::{AssertSqlSafe, SqlitePool};
use tokio::sync::Notify;

use crate::metrics::Metrics;
use crate::writer::CommitError;
use audit_store::AuditLog;

/// One row per accepted batch: its spans already in ClickHouse's RowBinary (so draining is a copy of
/// bytes) and its chained audit events as JSON (few, and read back only here).
const SPOOL_TABLE: &str = "CREATE TABLE spool (id INTEGER NOT NULL PRIMARY KEY, spans BLOB NOT NULL, \
    audit BLOB NOT NULL, bytes BIGINT NOT NULL)";

/// Batches ClickHouse refused for good (bad data, too many partitions, a type it will not take):
/// kept whole, with the reason, so nothing accepted is lost and nothing blocks the batches after it.
/// Ids never reused (AUTOINCREMENT), so an id an operator read stays that batch's.
const DEAD_LETTERS_TABLE: &str =
    "CREATE TABLE dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT, spans BLOB NOT NULL, \
    audit BLOB NOT NULL, bytes BIGINT NOT NULL, error TEXT NOT NULL, failed_ns BIGINT NOT NULL)";

/// When each spooled batch was received, so the health page can say how long the oldest has waited.
/// Batches spooled before this column existed read 0 (unknown).
const RECEIVED_COLUMN: &str = "ALTER TABLE spool ADD COLUMN received_ns BIGINT NOT NULL DEFAULT 0";
/// The oldest batch's time without reading every row (the column sits after the BLOBs).
const RECEIVED_INDEX: &str = "CREATE INDEX spool_received ON spool (received_ns)";

/// Batches put back from `dead_letters` may have been stored in part before ClickHouse refused the
/// rest: their spans are looked up before they are sent again.
const IN_DOUBT_COLUMN: &str = "ALTER TABLE spool ADD COLUMN in_doubt INTEGER NOT NULL DEFAULT 0";

/// The audit chain this spool's sequencer writes (`audit_store::chain`): chosen once, when the spool
/// is new, and kept for its life.
const CHAIN_TABLE: &str = "CREATE TABLE spool_chain (id INTEGER PRIMARY KEY CHECK (id = 1), chain INTEGER NOT NULL)";

/// Batches moved to ClickHouse per drain step.
const DRAIN_BATCHES: i64 = 64;
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Times in a row the oldest batch alone may fail with an error that looks passing (a lost
/// connection, a timeout, an answer without a ClickHouse code) while ClickHouse answers a ping,
/// before the batch is taken for the cause and set aside.
const POISON_AFTER: u32 = 5;

/// A batch ready for the spool: spans already RowBinary (encoded on the request's task), audit
/// events still to be chained by the sequencer inside the commit.
pub struct SpoolBatch {
    pub spans_rowbinary: Vec<u8>,
    pub span_count: usize,
    pub audit: Vec<AuditEvent>,
}

impl SpoolBatch {
    pub fn encode(batch: IngestBatch) -> SpoolBatch {
        let mut spans_rowbinary = Vec::with_capacity(batch.spans.len() * 512);
        rowbinary::encode_spans(&batch.spans, &mut spans_rowbinary);
        SpoolBatch { spans_rowbinary, span_count: batch.spans.len(), audit: batch.audit }
    }
}

pub struct Spool {
    pool: SqlitePool,
    max_bytes: u64,
    bytes: AtomicU64,
    batches: AtomicU64,
    wake: Notify,
    metrics: Arc<Metrics>,
    /// One drain step at a time (the drainer, and the last drain at shutdown): two at once would
    /// insert the same batches twice. Holds the last batch id ClickHouse may already have (0: none):
    /// a step that failed may have been stored in whole or in part before its answer was lost, and
    /// so may the steps a crashed process was sending. Their spans are looked up before they go
    /// again, so the roll-up counts each once.
    draining: tokio::sync::Mutex<i64>,
    /// The chain new audit events start when the sequencer has no head yet (`claim_chain`).
    chain: std::sync::atomic::AtomicU16,
}

impl Spool {
    pub async fn open(path: &Path, max_bytes: u64, metrics: Arc<Metrics>) -> Result<Spool, StoreError> {
        let pool = open_pool(path, 2).await?;
        let migrator = audit_store::sqlite_migrator(&[
            (1, "sequencer", sequencer::SCHEMA),
            (2, "spool", SPOOL_TABLE),
            (3, "dead_letters", DEAD_LETTERS_TABLE),
            (4, "received", RECEIVED_COLUMN),
            (5, "received_index", RECEIVED_INDEX),
            (6, "sequencer content", sequencer::CONTENT_COLUMN),
            (7, "sequencer per source", sequencer::PER_SOURCE),
            (8, "in doubt", IN_DOUBT_COLUMN),
            (9, "chain", CHAIN_TABLE),
        ]);
        migrator.run(&pool).await?;
        // What the last process may have been sending when it stopped: at most one step's batches.
        let sent_before: Option<i64> =
            sqlx::query_scalar("SELECT MAX(id) FROM (SELECT id FROM spool ORDER BY id LIMIT ?)")
                .bind(DRAIN_BATCHES)
                .fetch_one(&pool)
                .await?;
        let chain: Option<i64> =
            sqlx::query_scalar("SELECT chain FROM spool_chain WHERE id = 1").fetch_optional(&pool).await?;
        let spool = Spool {
            pool,
            max_bytes,
            bytes: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            wake: Notify::new(),
            metrics,
            draining: tokio::sync::Mutex::new(sent_before.unwrap_or(0)),
            chain: std::sync::atomic::AtomicU16::new(chain.and_then(|c| u16::try_from(c).ok()).unwrap_or(0)),
        };
        spool.recount().await?;
        Ok(spool)
    }

    /// Reads the depth from the table itself: `pathwatch spool retry` may have added batches from
    /// another process, and counting down what this one drained would then go wrong.
    async fn recount(&self) -> Result<(), StoreError> {
        let (batches, bytes): (i64, Option<i64>) =
            sqlx::query_as("SELECT COUNT(*), SUM(bytes) FROM spool").fetch_one(&self.pool).await?;
        let dead: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dead_letters").fetch_one(&self.pool).await?;
        self.batches.store(batches.max(0) as u64, Ordering::Relaxed);
        self.bytes.store(bytes.unwrap_or(0).max(0) as u64, Ordering::Relaxed);
        self.metrics.spool_dead_letters.set(dead);
        self.publish();
        Ok(())
    }

    fn publish(&self) {
        self.metrics.spool_bytes.set(self.bytes.load(Ordering::Relaxed) as i64);
        self.metrics.spool_batches.set(self.batches.load(Ordering::Relaxed) as i64);
    }

    pub fn depth(&self) -> (u64, u64) {
        (self.batches.load(Ordering::Relaxed), self.bytes.load(Ordering::Relaxed))
    }

    /// What the health page shows: depth, the oldest batch's receipt time and the batches set aside.
    pub async fn status(&self) -> Result<SpoolStatus, StoreError> {
        let oldest: Option<i64> = sqlx::query_scalar("SELECT MIN(received_ns) FROM spool WHERE received_ns > 0")
            .fetch_one(&self.pool)
            .await?;
        let (dead_letters, with_audit): (i64, Option<i64>) =
            sqlx::query_as("SELECT COUNT(*), SUM(length(audit) > 0) FROM dead_letters").fetch_one(&self.pool).await?;
        let (batches, bytes) = self.depth();
        Ok(SpoolStatus {
            batches,
            bytes,
            max_bytes: self.max_bytes,
            oldest_received_ns: oldest.map(|ns| ns.max(0) as u64),
            dead_letters: dead_letters.max(0) as u64,
            dead_letters_with_audit: with_audit.unwrap_or(0).max(0) as u64,
        })
    }

    /// Settles which audit chain this spool writes, before it takes any event: the one it has
    /// written (a spool from before there were several chains writes chain 0), else `configured`
    /// (`collector.audit_chain`), else an unused one picked at random. Refuses when `configured`
    /// names another chain than the spool's, or when the store holds records of the chain past this
    /// spool's own head: another collector writes it, and two writers of one chain would overwrite
    /// each other's records.
    pub async fn claim_chain<S: AuditLog>(&self, store: &S, configured: Option<u16>) -> Result<u16, ChainClaimError> {
        let mut conn = self.pool.acquire().await?;
        let head = sequencer::head(&mut conn).await?;
        let persisted: Option<i64> =
            sqlx::query_scalar("SELECT chain FROM spool_chain WHERE id = 1").fetch_optional(&mut *conn).await?;
        let current = persisted.and_then(|c| u16::try_from(c).ok()).or(head.as_ref().map(|h| chain::chain_of(h.seq)));
        let chain = match (current, configured) {
            (Some(have), Some(want)) if have != want => return Err(ChainClaimError::Renamed { have, want }),
            (Some(have), _) => have,
            (None, Some(want)) => want,
            (None, None) => unused_chain(store).await?,
        };
        let ours = head.map_or(chain::chain_start(chain), |h| h.seq);
        if let Some(past) = store.audit_arrivals_after(ours).await? {
            return Err(ChainClaimError::Taken { chain, ours, stored: past.last_seq });
        }
        sqlx::query(
            "INSERT INTO spool_chain (id, chain) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET chain = excluded.chain",
        )
        .bind(i64::from(chain))
        .execute(&mut *conn)
        .await?;
        self.chain.store(chain, Ordering::Relaxed);
        Ok(chain)
    }

    /// The audit chain this spool writes.
    pub fn chain(&self) -> u16 {
        self.chain.load(Ordering::Relaxed)
    }

    /// Makes the batches durable in the spool (one transaction) and chains their audit events.
    pub async fn commit(&self, received_ns: u64, batches: Vec<SpoolBatch>) -> Result<Vec<IngestReceipt>, CommitError> {
        let bytes = self.bytes.load(Ordering::Relaxed);
        if bytes >= self.max_bytes {
            return Err(CommitError::SpoolFull { bytes });
        }
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(StoreError::from)?;
        let mut receipts = Vec::with_capacity(batches.len());
        let mut added = 0u64;
        let mut count = 0u64;
        for batch in batches {
            let sequenced = if batch.audit.is_empty() {
                sequencer::Sequenced::default()
            } else {
                sequencer::sequence(&mut tx, self.chain.load(Ordering::Relaxed), received_ns, batch.audit).await?
            };
            receipts.push(IngestReceipt {
                spans: batch.span_count,
                audit_events: sequenced.stored.len(),
                audit_duplicates: sequenced.duplicates,
                audit_conflicts: sequenced.conflicts,
            });
            if batch.span_count == 0 && sequenced.stored.is_empty() {
                continue;
            }
            let spans = batch.spans_rowbinary;
            let audit = if sequenced.stored.is_empty() {
                Vec::new()
            } else {
                serde_json::to_vec(&sequenced.stored)
                    .map_err(|e| StoreError::Invalid(format!("spool encoding: {e}")))?
            };
            let bytes = (spans.len() + audit.len()) as i64;
            added += bytes as u64;
            count += 1;
            sqlx::query("INSERT INTO spool (spans, audit, bytes, received_ns) VALUES (?, ?, ?, ?)")
                .bind(&spans)
                .bind(&audit)
                .bind(bytes)
                .bind(i64::try_from(received_ns).unwrap_or(i64::MAX))
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        self.bytes.fetch_add(added, Ordering::Relaxed);
        self.batches.fetch_add(count, Ordering::Relaxed);
        self.publish();
        self.wake.notify_one();
        Ok(receipts)
    }

    /// Moves spooled batches to ClickHouse forever: in order, deleting each only once stored, and
    /// backing off (capped) while ClickHouse is unreachable. Replays are harmless: both tables
    /// collapse repeated rows, and the spans of a step that may have been stored are looked up
    /// first, so the roll-up counts them once. When ClickHouse refuses a step for good (`!is_transient`), the
    /// oldest batch is tried alone and, if refused again, set aside (`dead_letter`), so one bad
    /// batch never stops the rest.
    pub async fn drain_forever(self: Arc<Self>, store: ClickHouseStore) {
        let mut backoff = Duration::from_millis(100);
        // Failures in a row of the oldest batch alone that looked like the network's: counted for
        // one batch only, so a healthy batch behind a set-aside one never inherits its count.
        let mut suspect = 0u32;
        loop {
            let step = match self.drain_step(&store, DRAIN_BATCHES).await {
                Ok(n) => {
                    suspect = 0;
                    Ok(n)
                }
                // Something in these batches, or ClickHouse itself: try the oldest batch alone, after
                // a pause when ClickHouse may still be writing the step (a timeout, a lost answer), so
                // the replay's look-up finds what it wrote.
                Err(first) => match self.drain_alone_after(&first, backoff, &store).await {
                    Err(e) if !e.is_transient() => {
                        suspect = 0;
                        self.dead_letter(&e).await
                    }
                    // A server that drops the connection over a malformed insert looks like a network
                    // fault: the same batch failing so while a ping gets through is the cause. What
                    // ClickHouse calls overload is only ever waited out.
                    Err(e) if !e.is_server_overload() => {
                        suspect += 1;
                        if suspect >= POISON_AFTER && store.ping().await.is_ok() {
                            suspect = 0;
                            self.dead_letter(&e).await
                        } else {
                            Err(e)
                        }
                    }
                    other => {
                        suspect = 0;
                        other
                    }
                },
            };
            match step {
                Ok(0) => {
                    backoff = Duration::from_millis(100);
                    // Wake on new data, or re-check now and then in case a notify was missed.
                    let _ = tokio::time::timeout(Duration::from_secs(1), self.wake.notified()).await;
                }
                Ok(_) => backoff = Duration::from_millis(100),
                Err(e) => {
                    self.metrics.spool_drain_failures.inc();
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "ClickHouse did not take the spooled batches");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// The oldest batch alone, after `pause` when `failed` may have left ClickHouse still writing.
    async fn drain_alone_after(
        &self,
        failed: &StoreError,
        pause: Duration,
        store: &ClickHouseStore,
    ) -> Result<usize, StoreError> {
        if failed.is_transient() {
            tokio::time::sleep(pause).await;
        }
        self.drain_step(store, 1).await
    }

    /// Moves the oldest spooled batch to `dead_letters` with `error`, the reason ClickHouse gave;
    /// returns 1 (a batch left the spool). Audit events in it leave a gap in ClickHouse's chain
    /// until the batch is re-driven: that is logged as an error, never silent.
    pub async fn dead_letter(&self, error: &StoreError) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let Some(oldest): Option<i64> =
            sqlx::query_scalar("SELECT id FROM spool ORDER BY id LIMIT 1").fetch_optional(&mut *tx).await?
        else {
            return Ok(0);
        };
        let (id, audit_bytes): (i64, i64) = sqlx::query_as(
            "INSERT INTO dead_letters (spans, audit, bytes, error, failed_ns) \
             SELECT spans, audit, bytes, ?, ? FROM spool WHERE id = ? RETURNING id, length(audit)",
        )
        .bind(error.to_string())
        .bind(i64::try_from(domain::system_now_ns()).unwrap_or(i64::MAX))
        .bind(oldest)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM spool WHERE id = ?").bind(oldest).execute(&mut *tx).await?;
        tx.commit().await?;
        self.recount().await?;
        if audit_bytes > 0 {
            tracing::error!(batch = id, error = %error, "ClickHouse refused a spooled batch holding audit events: \
                set aside in the spool's dead_letters table; the audit chain in ClickHouse has a gap until `pathwatch spool retry` puts it back");
        } else {
            tracing::error!(batch = id, error = %error, "ClickHouse refused a spooled batch of spans: set aside in the spool's dead_letters table");
        }
        Ok(1)
    }

    /// Moves up to `limit` batches, oldest first; returns how many.
    #[tracing::instrument(name = "spool drain", skip_all, level = "debug")]
    pub async fn drain_step(&self, store: &ClickHouseStore, limit: i64) -> Result<usize, StoreError> {
        let mut sent_through = self.draining.lock().await;
        // Batches that may have gone before go again as they went (no newer ones mixed in), so a
        // replicated table sees the same blocks and drops them, whichever node takes them.
        let select = |through: i64| {
            sqlx::query_as("SELECT id, spans, audit, in_doubt FROM spool WHERE id <= ? ORDER BY id LIMIT ?")
                .bind(through)
                .bind(limit)
                .fetch_all(&self.pool)
        };
        let mut rows: Vec<(i64, Vec<u8>, Vec<u8>, i64)> =
            select(if *sent_through > 0 { *sent_through } else { i64::MAX }).await?;
        if rows.is_empty() && *sent_through > 0 {
            // Every batch that may have gone was set aside since: the newer ones are not in doubt.
            *sent_through = 0;
            rows = select(i64::MAX).await?;
        }
        // A batch whose spans are not whole rows (a corrupt one) would shift every row after it in
        // the one stream ClickHouse reads: it goes alone, and is refused for good, set aside.
        if let Some(bad) = rows.iter().position(|r| audit_store::clickhouse_rowbinary::check_spans(&r.1).is_err()) {
            if bad == 0 {
                let id = rows[0].0;
                let why = audit_store::clickhouse_rowbinary::check_spans(&rows[0].1).err().map(|e| e.to_string());
                return Err(StoreError::Invalid(format!(
                    "spool batch {id}: its spans are not whole rows: {}",
                    why.unwrap_or_default()
                )));
            }
            rows.truncate(bad);
        }
        let Some(last) = rows.last().map(|r| r.0) else {
            return Ok(0);
        };
        let in_doubt = rows.iter().any(|r| r.0 <= *sent_through || r.3 != 0);
        let mut spans = Vec::with_capacity(rows.iter().map(|r| r.1.len()).sum());
        let mut audit: Vec<StoredAuditEvent> = Vec::new();
        for (id, span_rows, audit_json, _) in &rows {
            spans.extend_from_slice(span_rows);
            if !audit_json.is_empty() {
                let events: Vec<StoredAuditEvent> = serde_json::from_slice(audit_json)
                    .map_err(|e| StoreError::Corrupt(format!("spool batch {id}: audit events do not decode: {e}")))?;
                audit.extend(events);
            }
        }
        // Each chain has one writer: a place another collector's record holds is never stored over.
        // Refused for good, so the batch is set aside, kept, and the log and the dead letters say why.
        if let Some(seq) = store.audit_places_taken(&audit).await? {
            return Err(StoreError::Invalid(format!(
                "audit record {} is already in ClickHouse with other content: another collector writes audit \
                 chain {}, and these records are not stored over its own (give each collector its own chain)",
                chain::describe(seq),
                chain::chain_of(seq)
            )));
        }
        // From here ClickHouse may have these batches, whatever the answer turns out to be.
        *sent_through = (*sent_through).max(last);
        if in_doubt {
            let already = store.insert_span_rowbinary_replayed(spans).await?;
            if already > 0 {
                tracing::info!(already, "a replayed spool step: spans ClickHouse already held were not sent again");
            }
        } else {
            store.insert_span_rowbinary(spans).await?;
        }
        // Audit records collapse by their place in the chain: a replay is harmless.
        store.insert_audit_events(&audit).await?;
        sqlx::query("DELETE FROM spool WHERE id <= ?").bind(last).execute(&self.pool).await?;
        if last >= *sent_through {
            *sent_through = 0;
        }
        self.recount().await?;
        Ok(rows.len())
    }

    /// The batches set aside, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        let rows: Vec<(i64, i64, bool, String, i64)> =
            sqlx::query_as("SELECT id, bytes, length(audit) > 0, error, failed_ns FROM dead_letters ORDER BY id")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(id, bytes, has_audit_events, error, failed_ns)| DeadLetter {
                id,
                bytes,
                has_audit_events,
                error,
                failed_ns,
            })
            .collect())
    }

    /// Puts set-aside batches back at the end of the spool (all of them, or `id`), for the drainer
    /// to try again once what ClickHouse refused is mended; returns how many.
    pub async fn retry_dead_letters(&self, id: Option<i64>) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let chosen = "(?1 IS NULL OR id = ?1)";
        let moved = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO spool (spans, audit, bytes, received_ns, in_doubt) \
             SELECT spans, audit, bytes, failed_ns, 1 FROM dead_letters WHERE {chosen} ORDER BY id"
        )))
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(AssertSqlSafe(format!("DELETE FROM dead_letters WHERE {chosen}")))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.recount().await?;
        self.wake.notify_one();
        Ok(moved)
    }

    /// Deletes set-aside batch `id` for good; false when there is none.
    pub async fn drop_dead_letter(&self, id: i64) -> Result<bool, StoreError> {
        let gone = sqlx::query("DELETE FROM dead_letters WHERE id = ?").bind(id).execute(&self.pool).await?;
        self.recount().await?;
        Ok(gone.rows_affected() == 1)
    }
}

/// A chain no record in the store belongs to, picked at random so collectors starting together
/// do not pick the same one.
async fn unused_chain<S: AuditLog>(store: &S) -> Result<u16, ChainClaimError> {
    for _ in 0..64 {
        let mut bytes = [0u8; 2];
        getrandom::fill(&mut bytes)
            .map_err(|e| ChainClaimError::Store(StoreError::Invalid(format!("randomness: {e}"))))?;
        let chain = (u16::from_le_bytes(bytes) % chain::MAX_CHAIN) + 1;
        let start = chain::chain_start(chain);
        if store.audit_arrivals_after(start).await?.is_none() && store.audit_chain_base(chain).await?.is_none() {
            return Ok(chain);
        }
    }
    Err(ChainClaimError::Store(StoreError::Invalid("no unused audit chain found in 64 tries".into())))
}

/// Why a collector may not write the chain it would.
#[derive(Debug, thiserror::Error)]
pub enum ChainClaimError {
    #[error(
        "key `collector.audit_chain`: this spool writes audit chain {have}, not {want}; a spool keeps its chain \
         for life: {}, or give the collector a new data directory once this one's spool has drained and its \
         dead letters are handled (`pathwatch spool dead-letters`)",
        if *have == 0 { "leave the key unset (chain 0 is the one it wrote before there were several)".to_string() }
        else { format!("set {have}, or leave the key unset") }
    )]
    Renamed { have: u16, want: u16 },
    #[error(
        "audit chain {chain}: the store holds records of it up to {} but this collector's spool has chained only \
         to {}: another collector writes chain {chain}, or this spool is not the one that wrote it (restored from \
         an older copy). Give each collector its own `collector.audit_chain` (or leave it unset so each picks its \
         own) and its own spool",
        chain::describe(*stored),
        chain::describe(*ours)
    )]
    Taken { chain: u16, ours: u64, stored: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ChainClaimError {
    fn from(e: sqlx::Error) -> Self {
        ChainClaimError::Store(StoreError::from(e))
    }
}

/// The spool at a glance ([`Spool::status`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SpoolStatus {
    pub batches: u64,
    pub bytes: u64,
    /// `collector.spool_max_bytes`: at this depth ingest answers 503.
    pub max_bytes: u64,
    /// When the oldest batch still waiting for ClickHouse was received.
    pub oldest_received_ns: Option<u64>,
    pub dead_letters: u64,
    /// Set-aside batches holding audit events: the chain in ClickHouse has a gap until retried.
    pub dead_letters_with_audit: u64,
}

/// A batch ClickHouse refused for good, as `pathwatch spool dead-letters` lists it.
#[derive(Debug, serde::Serialize)]
pub struct DeadLetter {
    pub id: i64,
    pub bytes: i64,
    pub has_audit_events: bool,
    /// What ClickHouse said.
    pub error: String,
    pub failed_ns: i64,
}
