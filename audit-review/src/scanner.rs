//! Keeping findings current: an incremental scan looks again at the period the newly arrived audit
//! events fall in (events can arrive late), and a full scan covers any period of history. Both raise
//! each finding once: the findings store de-duplicates by key.

use audit_store::TelemetryStore;

use crate::config::RulesConfig;
use crate::findings::{Finding, ReviewStore};
use crate::rules::evaluate;
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

pub struct Scanner<S> {
    pub store: S,
    pub findings: ReviewStore,
    pub config: RulesConfig,
}

impl<S: TelemetryStore> Scanner<S> {
    /// Scans what arrived since the last scan: from the earliest occurrence among the new events
    /// to now, then remembers the newest sequence number seen.
    pub async fn incremental(&self, now_ns: u64) -> Result<ScanOutcome, ReviewError> {
        let after = self.findings.scanned_to().await?;
        let Some(arrivals) = self.store.audit_arrivals_after(after).await? else {
            // Nothing new: the rules still ran (what evidence of monitoring checks).
            self.findings.set_scanned_to(after, now_ns).await?;
            return Ok(ScanOutcome::default());
        };
        let to_ns = now_ns.max(arrivals.latest_occurred_ns + 1);
        let mut outcome = self.full(arrivals.earliest_occurred_ns, to_ns, now_ns).await?;
        outcome.new_events = arrivals.events;
        self.findings.set_scanned_to(arrivals.last_seq, now_ns).await?;
        Ok(outcome)
    }

    /// Runs every enabled rule over `[from_ns, to_ns)` and records what they find.
    pub async fn full(&self, from_ns: u64, to_ns: u64, now_ns: u64) -> Result<ScanOutcome, ReviewError> {
        let candidates = evaluate(&self.store, &self.config, from_ns, to_ns).await?;
        let recorded = self.findings.record(&candidates, now_ns).await?;
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
