//! The audit sequencer: gives each new audit event its place in the hash chain, exactly once.
//!
//! It works inside a caller's SQLite transaction so that "this event id is now taken", "the chain
//! head moved" and "the event is durably queued or stored" commit together or not at all. The SQLite
//! store uses it directly; the collector's spool in front of ClickHouse uses it too (its own
//! database, the same two tables), which is how ClickHouse deployments keep one chain with no gaps.

use sqlx::SqliteConnection;

use crate::chain::link_in;
use crate::model::{AuditEvent, ChainLink, StoredAuditEvent};
use crate::StoreError;

/// The sequencer's tables, for databases other than the store's own (the spool) to create.
pub const SCHEMA: &str = include_str!("../migrations/sqlite/0002_sequencer.sql");
/// Then this, which keeps what each event said (see `sequence`).
pub const CONTENT_COLUMN: &str = include_str!("../migrations/sqlite/0005_sequencer_content.sql");
/// Then this, which keys event ids by source system.
pub const PER_SOURCE: &str = include_str!("../migrations/sqlite/0007_sequencer_per_source.sql");

/// What the sequencer did with a batch.
#[derive(Debug, Default)]
pub struct Sequenced {
    /// The new records, in chain order.
    pub stored: Vec<StoredAuditEvent>,
    /// How many events were already in the chain (a retry) or repeated within the batch.
    pub duplicates: usize,
    /// Event ids already chained with different content: refused, never taken for retries.
    pub conflicts: Vec<String>,
}

/// Chains `events` after the current head (or first in chain `chain`), skipping event ids already
/// chained.
pub async fn sequence(
    conn: &mut SqliteConnection,
    chain: u16,
    received_ns: u64,
    events: Vec<AuditEvent>,
) -> Result<Sequenced, StoreError> {
    let mut head = head(&mut *conn).await?;
    let mut out = Sequenced::default();
    for event in events {
        let content = digest(&event)?;
        // Ids are the sender's: the same id from another source is another event. Ids chained
        // before sources were kept (source '') are retries from any source.
        let taken: Option<String> = sqlx::query_scalar(
            "SELECT content FROM audit_sequencer_source_ids WHERE event_id = ?1 AND source IN (?2, '') \
             ORDER BY source DESC LIMIT 1",
        )
        .bind(&event.event_id)
        .bind(&event.source_system)
        .fetch_optional(&mut *conn)
        .await?;
        match taken {
            // Chained before contents were kept: taken for a retry, as it always was.
            Some(before) if before.is_empty() || before == content => {
                out.duplicates += 1;
                continue;
            }
            Some(_) => {
                out.conflicts.push(event.event_id);
                continue;
            }
            None => {}
        }
        let record = link_in(chain, head.as_ref(), received_ns, event);
        sqlx::query("INSERT INTO audit_sequencer_source_ids (source, event_id, seq, content) VALUES (?, ?, ?, ?)")
            .bind(&record.event.source_system)
            .bind(&record.event.event_id)
            .bind(to_i64(record.seq)?)
            .bind(&content)
            .execute(&mut *conn)
            .await?;
        head = Some(ChainLink { seq: record.seq, hash: record.hash.clone() });
        out.stored.push(record);
    }
    if let Some(h) = &head {
        if !out.stored.is_empty() {
            sqlx::query(
                "INSERT INTO audit_sequencer_head (id, seq, hash) VALUES (1, ?, ?) \
                 ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            )
            .bind(to_i64(h.seq)?)
            .bind(&h.hash)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(out)
}

/// What an event says, as SHA-256 of its JSON (fields in declaration order, so the same event is
/// always the same text).
fn digest(event: &AuditEvent) -> Result<String, StoreError> {
    use sha2::{Digest, Sha256};
    let json = serde_json::to_vec(event).map_err(|e| StoreError::Invalid(format!("encoding an audit event: {e}")))?;
    Ok(hex::encode(Sha256::digest(&json)))
}

/// The last link of the chain, `None` before the first event.
pub async fn head(conn: &mut SqliteConnection) -> Result<Option<ChainLink>, StoreError> {
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit_sequencer_head WHERE id = 1").fetch_optional(&mut *conn).await?;
    Ok(row.map(|(seq, hash)| ChainLink { seq: seq as u64, hash }))
}

pub(crate) fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Invalid(format!("{v} does not fit a signed 64-bit column")))
}
