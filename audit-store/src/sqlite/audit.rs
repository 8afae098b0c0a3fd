//! The audit log on SQLite: inserting events the sequencer has chained, and every read of
//! [`AuditLog`].

use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, QueryBuilder, Row, Sqlite, SqliteConnection};

use super::access::count;
use super::{SqliteStore, AUDIT_ROWS_PER_STATEMENT};
use crate::access::Arrivals;
use crate::chain;
use crate::model::*;
use crate::sequencer::to_i64;
use crate::{AuditLog, StoreError};

pub(super) async fn insert_audit(conn: &mut SqliteConnection, events: &[StoredAuditEvent]) -> Result<(), StoreError> {
    for chunk in events.chunks(AUDIT_ROWS_PER_STATEMENT) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT OR IGNORE INTO audit_events (seq, event_id, occurred_ns, received_ns, actor_user_id, actor_name, \
             actor_role, actor_org, purpose_of_use, action, nhs_number, resource_type, resource_id, outcome, \
             correlation_id, request_id, source_system, client_address, device, prev_hash, hash) ",
        );
        let mut failed = None;
        q.push_values(chunk, |mut b, r| {
            let mut int = |v: u64| {
                to_i64(v).unwrap_or_else(|e| {
                    failed = Some(e);
                    0
                })
            };
            let (seq, occurred, received) = (int(r.seq), int(r.event.occurred_ns), int(r.received_ns));
            let e = &r.event;
            b.push_bind(seq)
                .push_bind(e.event_id.clone())
                .push_bind(occurred)
                .push_bind(received)
                .push_bind(e.actor.user_id.clone())
                .push_bind(e.actor.name.clone())
                .push_bind(e.actor.role.clone())
                .push_bind(e.actor.organisation.clone())
                .push_bind(e.purpose_of_use.clone())
                .push_bind(e.action.as_str())
                .push_bind(e.nhs_number.clone())
                .push_bind(e.resource_type.clone())
                .push_bind(e.resource_id.clone())
                .push_bind(e.outcome.as_str())
                .push_bind(e.correlation_id.clone())
                .push_bind(e.request_id.clone())
                .push_bind(e.source_system.clone())
                .push_bind(e.client_address.clone())
                .push_bind(e.device.clone())
                .push_bind(r.prev_hash.clone())
                .push_bind(r.hash.clone());
        });
        if let Some(e) = failed {
            return Err(e);
        }
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

pub(crate) const AUDIT_COLUMNS: &str =
    "seq, event_id, occurred_ns, received_ns, actor_user_id, actor_name, actor_role, \
    actor_org, purpose_of_use, action, nhs_number, resource_type, resource_id, outcome, correlation_id, \
    request_id, source_system, client_address, device, prev_hash, hash";

pub(crate) fn audit_from_row(row: &SqliteRow) -> Result<StoredAuditEvent, StoreError> {
    let action: String = row.try_get("action")?;
    let outcome: String = row.try_get("outcome")?;
    Ok(StoredAuditEvent {
        seq: row.try_get::<i64, _>("seq")? as u64,
        received_ns: row.try_get::<i64, _>("received_ns")? as u64,
        event: AuditEvent {
            event_id: row.try_get("event_id")?,
            occurred_ns: row.try_get::<i64, _>("occurred_ns")? as u64,
            actor: Actor {
                user_id: row.try_get("actor_user_id")?,
                name: row.try_get("actor_name")?,
                role: row.try_get("actor_role")?,
                organisation: row.try_get("actor_org")?,
            },
            purpose_of_use: row.try_get("purpose_of_use")?,
            action: Action::parse(&action)
                .ok_or_else(|| StoreError::Corrupt(format!("audit_events.action {action:?}")))?,
            nhs_number: row.try_get("nhs_number")?,
            resource_type: row.try_get("resource_type")?,
            resource_id: row.try_get("resource_id")?,
            outcome: Outcome::parse(&outcome)
                .ok_or_else(|| StoreError::Corrupt(format!("audit_events.outcome {outcome:?}")))?,
            correlation_id: row.try_get("correlation_id")?,
            request_id: row.try_get("request_id")?,
            source_system: row.try_get("source_system")?,
            client_address: row.try_get("client_address")?,
            device: row.try_get("device")?,
        },
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

impl AuditLog for SqliteStore {
    async fn insert_audit_events(&self, events: &[StoredAuditEvent]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        insert_audit(&mut tx, events).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<StoredAuditEvent>, StoreError> {
        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("SELECT {AUDIT_COLUMNS} FROM audit_events WHERE 1 = 1"));
        if let Some(n) = &filter.nhs_number {
            q.push(" AND nhs_number = ").push_bind(n.clone());
        }
        if let Some(u) = &filter.user_id {
            q.push(" AND actor_user_id = ").push_bind(u.clone());
        }
        if let Some(c) = &filter.correlation_id {
            q.push(" AND correlation_id = ").push_bind(c.clone());
        }
        if let Some(o) = &filter.organisation {
            q.push(" AND actor_org = ").push_bind(o.clone());
        }
        if let Some(s) = &filter.source_system {
            q.push(" AND source_system = ").push_bind(s.clone());
        }
        if let Some(from) = filter.from_ns {
            q.push(" AND occurred_ns >= ").push_bind(to_i64(from)?);
        }
        if let Some(to) = filter.to_ns {
            q.push(" AND occurred_ns < ").push_bind(to_i64(to)?);
        }
        if let Some((occurred, seq)) = filter.after {
            let (occurred, seq) = (to_i64(occurred)?, to_i64(seq)?);
            // The first bound alone narrows the time index; the second resolves the instant.
            q.push(" AND occurred_ns >= ").push_bind(occurred);
            q.push(" AND (occurred_ns > ").push_bind(occurred);
            q.push(" OR (occurred_ns = ").push_bind(occurred).push(" AND seq > ").push_bind(seq).push("))");
        }
        q.push(" ORDER BY occurred_ns, seq LIMIT ").push_bind(i64::from(filter.limit));
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn audit_summary(&self, from_ns: u64, to_ns: u64) -> Result<AuditSummary, StoreError> {
        let (from, to) = (to_i64(from_ns)?, to_i64(to_ns)?);
        let row = sqlx::query(
            "SELECT count(*), count(DISTINCT NULLIF(actor_user_id, '')), count(DISTINCT NULLIF(nhs_number, '')),
                    count(DISTINCT NULLIF(actor_org, '')), coalesce(sum(actor_user_id = ''), 0)
             FROM audit_events WHERE occurred_ns >= ?1 AND occurred_ns < ?2",
        )
        .bind(from)
        .bind(to)
        .fetch_one(&self.pool)
        .await?;
        let count = |i: usize| row.try_get::<i64, _>(i).map(|n| n.max(0) as u64);
        let mut summary = AuditSummary {
            events: count(0)?,
            users: count(1)?,
            patients: count(2)?,
            organisations: count(3)?,
            unattributed: count(4)?,
            ..AuditSummary::default()
        };
        let groups = sqlx::query(
            "SELECT 'action' AS kind, action AS key, count(*) AS n FROM audit_events
               WHERE occurred_ns >= ?1 AND occurred_ns < ?2 GROUP BY action
             UNION ALL
             SELECT 'outcome', outcome, count(*) FROM audit_events WHERE occurred_ns >= ?1 AND occurred_ns < ?2 GROUP BY outcome",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        for g in groups {
            let (kind, key, n): (String, String, i64) = (g.try_get("kind")?, g.try_get("key")?, g.try_get("n")?);
            let map = if kind == "action" { &mut summary.by_action } else { &mut summary.by_outcome };
            map.insert(key, n.max(0) as u64);
        }
        Ok(summary)
    }

    async fn audit_chain_page(&self, after_seq: u64, limit: u32) -> Result<Vec<StoredAuditEvent>, StoreError> {
        let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(to_i64(after_seq)?)
            .bind(to_i64(chain::chain_last(after_seq))?)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn audit_chain_base(&self, chain: u16) -> Result<Option<ChainLink>, StoreError> {
        // The embedded store is its own sequencer: it keeps chain 0 alone.
        if chain != 0 {
            return Ok(None);
        }
        let row: Option<(i64, String)> =
            sqlx::query_as("SELECT last_removed_seq, last_removed_hash FROM audit_chain_base WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(seq, hash)| ChainLink { seq: seq as u64, hash }))
    }

    async fn audit_chains(&self) -> Result<Vec<u16>, StoreError> {
        // One look-up on the key per chain, never a scan of the table.
        let mut chains = Vec::new();
        let mut from = 0u64;
        loop {
            let first: Option<i64> = sqlx::query_scalar("SELECT min(seq) FROM audit_events WHERE seq >= ?")
                .bind(to_i64(from)?)
                .fetch_one(&self.pool)
                .await?;
            let Some(first) = first else { break };
            let number = chain::chain_of(first as u64);
            chains.push(number);
            if number >= chain::MAX_CHAIN {
                break;
            }
            from = chain::chain_start(number + 1);
        }
        let based: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_chain_base").fetch_one(&self.pool).await?;
        if based > 0 && chains.first() != Some(&0) {
            chains.insert(0, 0);
        }
        Ok(chains)
    }

    async fn audit_arrivals_after(&self, after_seq: u64) -> Result<Option<Arrivals>, StoreError> {
        let row = sqlx::query(
            "SELECT count(*) AS events, max(seq) AS last_seq, min(occurred_ns) AS earliest, \
                    max(occurred_ns) AS latest FROM audit_events WHERE seq > ?1 AND seq <= ?2",
        )
        .bind(to_i64(after_seq)?)
        .bind(to_i64(chain::chain_last(after_seq))?)
        .fetch_one(self.pool())
        .await?;
        let events = count(&row, "events")?;
        if events == 0 {
            return Ok(None);
        }
        Ok(Some(Arrivals {
            events,
            last_seq: count(&row, "last_seq")?,
            earliest_occurred_ns: count(&row, "earliest")?,
            latest_occurred_ns: count(&row, "latest")?,
        }))
    }
}
