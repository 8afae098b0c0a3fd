//! Keeping findings current: an incremental scan looks again at the period the newly arrived audit
//! events fall in (events can arrive late), and a full scan covers any period of history. Both raise
//! each finding once: the findings store de-duplicates by key.

use std::collections::BTreeMap;

use audit_store::TelemetryStore;

use crate::config::RulesConfig;
use crate::findings::{i, Finding, ReviewStore};
use crate::rules::evaluate_with;
use crate::ReviewError;

/// What one scan did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScanOutcome {
    /// Audit events that had arrived since the previous scan (incremental scans only).
    pub new_events: u64,
    /// The period the rules looked at, Unix ns; (0, 0) when there was nothing to look at.
    pub from_ns: u64,
    pub to_ns: u64,
    pub candidates: usize,
    pub raised: Vec<Finding>,
    pub refreshed: usize,
}

/// How long the incremental scan waits, by the missing records' neighbours' time, for records
/// missing from a chain before it moves past them (bounding how much it reads again meanwhile).
const GAP_PATIENCE_NS: u64 = 15 * 60 * 1_000_000_000;

pub struct Scanner<S> {
    pub store: S,
    pub findings: ReviewStore,
    pub config: RulesConfig,
}

impl<S: TelemetryStore> Scanner<S> {
    /// Scans what arrived since the last scan, in every audit chain: from the earliest occurrence
    /// among the new events to now, then remembers the newest sequence number seen in each chain.
    pub async fn incremental(&self, now_ns: u64) -> Result<ScanOutcome, ReviewError> {
        let mut read = self.findings.scanned_to().await?;
        let (mut events, mut earliest, mut latest) = (0u64, u64::MAX, 0u64);
        for chain in self.store.audit_chains().await? {
            let after = read.get(&chain).copied().unwrap_or(audit_store::chain::chain_start(chain));
            if let Some(arrivals) = self.store.audit_arrivals_after(after).await? {
                events += arrivals.events;
                earliest = earliest.min(arrivals.earliest_occurred_ns);
                latest = latest.max(arrivals.latest_occurred_ns);
                // Records missing between what was read and the newest (a replica that has not
                // fetched them yet, a batch set aside): while the arrivals are recent, read them all
                // again next time rather than move past records that may still come; past that, move
                // on (a gap that stays is a broken chain, which the evidence monitor reports).
                let base = self.store.audit_chain_base(chain).await?.map_or(0, |b| b.seq);
                let gap = arrivals.events < arrivals.last_seq - after.max(base).min(arrivals.last_seq);
                if gap && now_ns.saturating_sub(arrivals.earliest_occurred_ns) < GAP_PATIENCE_NS {
                    continue;
                }
                read.insert(chain, arrivals.last_seq);
            }
        }
        if events == 0 {
            // Nothing new: the rules still ran (what evidence of monitoring checks).
            self.findings.set_scanned_to(&read, now_ns).await?;
            return Ok(ScanOutcome::default());
        }
        let to_ns = now_ns.max(latest + 1);
        let mut outcome = self.full(earliest, to_ns, now_ns).await?;
        outcome.new_events = events;
        self.findings.set_scanned_to(&read, now_ns).await?;
        Ok(outcome)
    }

    /// Runs every enabled rule over `[from_ns, to_ns)` and records what they find.
    pub async fn full(&self, from_ns: u64, to_ns: u64, now_ns: u64) -> Result<ScanOutcome, ReviewError> {
        let exceptions = self.findings.exceptions_in_force(from_ns, to_ns).await?;
        let evaluated = evaluate_with(&self.store, &self.config, &exceptions, from_ns, to_ns).await?;
        let candidates = evaluated.candidates;
        let recorded = self.findings.record(&candidates, now_ns).await?;
        self.findings.exceptions_used(&evaluated.used, now_ns).await?;
        Ok(ScanOutcome {
            new_events: 0,
            from_ns,
            to_ns,
            candidates: candidates.len(),
            raised: recorded.raised,
            refreshed: recorded.refreshed,
        })
    }
}

/// Where the scans have got to, kept beside the findings.
impl ReviewStore {
    /// When the rules last ran (0 before the first run).
    pub async fn last_scan_ns(&self) -> Result<u64, ReviewError> {
        let at: Option<i64> =
            sqlx::query_scalar("SELECT last_run_ns FROM scan_state WHERE id = 1").fetch_optional(&self.pool).await?;
        Ok(at.unwrap_or(0).max(0) as u64)
    }

    /// How far the incremental scan has read each audit chain (the last `seq` read, by chain).
    pub async fn scanned_to(&self) -> Result<BTreeMap<u16, u64>, ReviewError> {
        let rows: Vec<(i64, i64)> =
            sqlx::query_as("SELECT chain, last_seq FROM scan_chains").fetch_all(&self.pool).await?;
        let mut read: BTreeMap<u16, u64> =
            rows.into_iter().filter_map(|(chain, seq)| Some((u16::try_from(chain).ok()?, seq.max(0) as u64))).collect();
        // Read before positions were kept per chain: chain 0's.
        let before: Option<i64> =
            sqlx::query_scalar("SELECT last_seq FROM scan_state WHERE id = 1").fetch_optional(&self.pool).await?;
        if let Some(seq) = before.filter(|s| *s > 0) {
            read.entry(audit_store::chain::chain_of(seq as u64)).or_insert(seq as u64);
        }
        Ok(read)
    }

    /// Records a scan at `now_ns` that read each chain up to its `seq` in `read`.
    pub async fn set_scanned_to(&self, read: &BTreeMap<u16, u64>, now_ns: u64) -> Result<(), ReviewError> {
        let mut tx = self.pool.begin().await?;
        for (chain, seq) in read {
            sqlx::query(
                "INSERT INTO scan_chains (chain, last_seq) VALUES ($1, $2)
                 ON CONFLICT (chain) DO UPDATE SET last_seq = excluded.last_seq",
            )
            .bind(i64::from(*chain))
            .bind(i(*seq))
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO scan_state (id, last_seq, last_run_ns) VALUES (1, $1, $2)
             ON CONFLICT (id) DO UPDATE SET last_seq = excluded.last_seq, last_run_ns = excluded.last_run_ns",
        )
        .bind(i(read.get(&0).copied().unwrap_or(0)))
        .bind(i(now_ns))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
