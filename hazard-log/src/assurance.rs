//! The record of assurance over time: every state each control's evidence was in (as intervals),
//! and every verification of the audit chain. Reports over a period are built from these; the
//! live checks themselves live with whoever can make them (the engine's evidence monitor), never here.

use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, Row};

use crate::{HazardError, HazardLog};

/// The state of one evidence source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceStatus {
    Passing,
    /// Nothing to check it against yet (no store, no SLO of that name).
    Unknown,
    /// Not verified within its freshness window.
    Stale,
    Failing,
}

impl EvidenceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceStatus::Passing => "passing",
            EvidenceStatus::Unknown => "unknown",
            EvidenceStatus::Stale => "stale",
            EvidenceStatus::Failing => "failing",
        }
    }

    pub fn parse(text: &str) -> Result<EvidenceStatus, HazardError> {
        match text {
            "passing" => Ok(EvidenceStatus::Passing),
            "unknown" => Ok(EvidenceStatus::Unknown),
            "stale" => Ok(EvidenceStatus::Stale),
            "failing" => Ok(EvidenceStatus::Failing),
            other => Err(HazardError::Corrupt(format!("evidence status {other:?}"))),
        }
    }

    /// Failing and stale evidence count against a control.
    pub fn is_problem(self) -> bool {
        matches!(self, EvidenceStatus::Failing | EvidenceStatus::Stale)
    }
}

/// One check of one evidence source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvidenceCheck {
    pub hazard_id: String,
    pub control_id: String,
    /// The evidence in words (`Evidence::describe`): it identifies the source within the control.
    pub source: String,
    pub status: EvidenceStatus,
    pub checked_ns: i64,
    /// When the underlying data last verified it (the run, the evaluation), if it did.
    pub verified_ns: Option<i64>,
    pub detail: String,
    pub link: Option<String>,
}

/// A stretch of time during which one source kept one state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceInterval {
    pub hazard_id: String,
    pub control_id: String,
    pub source: String,
    pub status: EvidenceStatus,
    pub since_ns: i64,
    pub last_checked_ns: i64,
    /// When a different state was first seen, if checking went on without a gap.
    pub ended_ns: Option<i64>,
    pub verified_ns: Option<i64>,
    pub detail: String,
    pub link: Option<String>,
}

impl EvidenceInterval {
    /// The time this state held: to the next state's first sighting, else to the last check.
    pub fn end_ns(&self) -> i64 {
        self.ended_ns.unwrap_or(self.last_checked_ns)
    }
}

/// A source whose state changed with a check: `before` is None the first time it is seen (or after
/// a gap in checking).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvidenceChange {
    pub check: EvidenceCheck,
    pub before: Option<EvidenceStatus>,
}

/// One verification of the audit chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainVerification {
    pub at_ns: i64,
    /// A walk from the start of the retained chain (else only the records after the last head).
    pub full_walk: bool,
    pub records_checked: u64,
    /// The last record that verified.
    pub head_seq: Option<u64>,
    pub head_hash: Option<String>,
    pub intact: bool,
    pub detail: String,
}

/// The last record of a chain that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: String,
}

const INTERVAL_COLUMNS: &str =
    "hazard_id, control_id, source, status, since_ns, last_checked_ns, ended_ns, verified_ns, detail, link";

fn interval(row: &state::Row) -> Result<EvidenceInterval, HazardError> {
    Ok(EvidenceInterval {
        hazard_id: row.try_get(0)?,
        control_id: row.try_get(1)?,
        source: row.try_get(2)?,
        status: EvidenceStatus::parse(row.try_get(3)?)?,
        since_ns: row.try_get(4)?,
        last_checked_ns: row.try_get(5)?,
        ended_ns: row.try_get(6)?,
        verified_ns: row.try_get(7)?,
        detail: row.try_get(8)?,
        link: row.try_get(9)?,
    })
}

fn verification(row: &state::Row) -> Result<ChainVerification, HazardError> {
    Ok(ChainVerification {
        at_ns: row.try_get(0)?,
        full_walk: row.try_get::<i64, _>(1)? != 0,
        records_checked: row.try_get::<i64, _>(2)? as u64,
        head_seq: row.try_get::<Option<i64>, _>(3)?.map(|s| s as u64),
        head_hash: row.try_get(4)?,
        intact: row.try_get::<i64, _>(5)? != 0,
        detail: row.try_get(6)?,
    })
}

impl HazardLog {
    /// Records a round of checks, in one transaction. A check that finds its source in the same
    /// state as the newest interval, checked no longer than `gap_ns` before, extends that interval;
    /// anything else starts a new one. Returns the sources whose state changed.
    pub async fn record_evidence(
        &self,
        checks: &[EvidenceCheck],
        gap_ns: i64,
    ) -> Result<Vec<EvidenceChange>, HazardError> {
        let mut tx = state::begin_exclusive(&self.pool, "evidence_history").await?;
        let mut changes = Vec::new();
        for check in checks {
            let newest = sqlx::query(
                "SELECT status, since_ns, last_checked_ns FROM evidence_history
                 WHERE hazard_id = $1 AND control_id = $2 AND source = $3 ORDER BY since_ns DESC LIMIT 1",
            )
            .bind(&check.hazard_id)
            .bind(&check.control_id)
            .bind(&check.source)
            .fetch_optional(&mut *tx)
            .await?;
            let newest = match newest {
                Some(row) => Some((
                    EvidenceStatus::parse(row.try_get(0)?)?,
                    row.try_get::<i64, _>(1)?,
                    row.try_get::<i64, _>(2)?,
                )),
                None => None,
            };
            match newest {
                Some((status, since, last)) if status == check.status && check.checked_ns - last <= gap_ns => {
                    sqlx::query(
                        "UPDATE evidence_history SET last_checked_ns = CASE WHEN last_checked_ns > $1 THEN last_checked_ns ELSE $1 END, verified_ns = $2,
                         detail = $3, link = $4
                         WHERE hazard_id = $5 AND control_id = $6 AND source = $7 AND since_ns = $8",
                    )
                    .bind(check.checked_ns)
                    .bind(check.verified_ns)
                    .bind(&check.detail)
                    .bind(&check.link)
                    .bind(&check.hazard_id)
                    .bind(&check.control_id)
                    .bind(&check.source)
                    .bind(since)
                    .execute(&mut *tx)
                    .await?;
                }
                _ => {
                    let continuous = newest.filter(|(_, _, last)| check.checked_ns - last <= gap_ns);
                    if let Some((_, since, _)) = continuous {
                        sqlx::query(
                            "UPDATE evidence_history SET ended_ns = $1
                             WHERE hazard_id = $2 AND control_id = $3 AND source = $4 AND since_ns = $5",
                        )
                        .bind(check.checked_ns)
                        .bind(&check.hazard_id)
                        .bind(&check.control_id)
                        .bind(&check.source)
                        .bind(since)
                        .execute(&mut *tx)
                        .await?;
                    }
                    // A check at the very instant of the newest interval's start replaces nothing.
                    sqlx::query(AssertSqlSafe(format!(
                        "INSERT INTO evidence_history ({INTERVAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8, $9) \
                         ON CONFLICT DO NOTHING"
                    )))
                    .bind(&check.hazard_id)
                    .bind(&check.control_id)
                    .bind(&check.source)
                    .bind(check.status.as_str())
                    .bind(check.checked_ns)
                    .bind(check.checked_ns)
                    .bind(check.verified_ns)
                    .bind(&check.detail)
                    .bind(&check.link)
                    .execute(&mut *tx)
                    .await?;
                    changes.push(EvidenceChange { check: check.clone(), before: continuous.map(|(s, _, _)| s) });
                }
            }
        }
        tx.commit().await?;
        Ok(changes)
    }

    /// Every interval that overlaps [from_ns, to_ns) (up to its end: the next state's first
    /// sighting, else its last check), in order of hazard, control, source and time.
    pub async fn evidence_history(&self, from_ns: i64, to_ns: i64) -> Result<Vec<EvidenceInterval>, HazardError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {INTERVAL_COLUMNS} FROM evidence_history WHERE since_ns < $1 AND coalesce(ended_ns, last_checked_ns) >= $2
             ORDER BY hazard_id, control_id, source, since_ns"
        )))
        .bind(to_ns)
        .bind(from_ns)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(interval).collect()
    }

    /// The newest interval of every source checked at or before `at_ns`.
    pub async fn evidence_at(&self, at_ns: i64) -> Result<Vec<EvidenceInterval>, HazardError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {INTERVAL_COLUMNS} FROM evidence_history e WHERE since_ns = (
                SELECT max(since_ns) FROM evidence_history x WHERE x.hazard_id = e.hazard_id
                AND x.control_id = e.control_id AND x.source = e.source AND x.since_ns <= $1)
             ORDER BY hazard_id, control_id, source"
        )))
        .bind(at_ns)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(interval).collect()
    }

    pub async fn record_chain_verification(&self, v: &ChainVerification) -> Result<(), HazardError> {
        sqlx::query(
            "INSERT INTO chain_verifications
             (at_ns, full_walk, records_checked, head_seq, head_hash, intact, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (at_ns) DO UPDATE SET full_walk = excluded.full_walk, records_checked = excluded.records_checked,
             head_seq = excluded.head_seq, head_hash = excluded.head_hash, intact = excluded.intact, detail = excluded.detail",
        )
        .bind(v.at_ns)
        .bind(i64::from(v.full_walk))
        .bind(v.records_checked as i64)
        .bind(v.head_seq.map(|s| s as i64))
        .bind(&v.head_hash)
        .bind(i64::from(v.intact))
        .bind(&v.detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Where each audit chain was last verified up to, by chain.
    pub async fn chain_heads(&self) -> Result<Vec<(u16, ChainHead)>, HazardError> {
        let rows: Vec<(i64, i64, String)> =
            sqlx::query_as("SELECT chain, head_seq, head_hash FROM chain_heads ORDER BY chain")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(chain, seq, hash)| Some((u16::try_from(chain).ok()?, ChainHead { seq: seq as u64, hash })))
            .collect())
    }

    /// Records how far a chain verified, for the next walk to start there.
    pub async fn record_chain_head(&self, chain: u16, head: &ChainHead, at_ns: i64) -> Result<(), HazardError> {
        sqlx::query(
            "INSERT INTO chain_heads (chain, head_seq, head_hash, at_ns) VALUES ($1, $2, $3, $4)
             ON CONFLICT (chain) DO UPDATE SET head_seq = excluded.head_seq, head_hash = excluded.head_hash,
             at_ns = excluded.at_ns",
        )
        .bind(i64::from(chain))
        .bind(head.seq as i64)
        .bind(&head.hash)
        .bind(at_ns)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Verifications in [from_ns, to_ns), oldest first.
    pub async fn chain_verifications(&self, from_ns: i64, to_ns: i64) -> Result<Vec<ChainVerification>, HazardError> {
        let rows = sqlx::query(
            "SELECT at_ns, full_walk, records_checked, head_seq, head_hash, intact, detail
             FROM chain_verifications WHERE at_ns >= $1 AND at_ns < $2 ORDER BY at_ns",
        )
        .bind(from_ns)
        .bind(to_ns)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(verification).collect()
    }

    /// The newest verification, and the newest full walk (which may be the same).
    pub async fn latest_chain_verifications(
        &self,
    ) -> Result<(Option<ChainVerification>, Option<ChainVerification>), HazardError> {
        let select =
            "SELECT at_ns, full_walk, records_checked, head_seq, head_hash, intact, detail FROM chain_verifications";
        let newest = sqlx::query(AssertSqlSafe(format!("{select} ORDER BY at_ns DESC LIMIT 1")))
            .fetch_optional(&self.pool)
            .await?;
        let full = sqlx::query(AssertSqlSafe(format!("{select} WHERE full_walk = 1 ORDER BY at_ns DESC LIMIT 1")))
            .fetch_optional(&self.pool)
            .await?;
        Ok((newest.as_ref().map(verification).transpose()?, full.as_ref().map(verification).transpose()?))
    }
}
