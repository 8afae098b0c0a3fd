//! Figures every report shares: each evidence source's record over the period, and how times and
//! shares are written. Pure functions of the inputs.

use chrono::{Datelike, Timelike};
use hazard_log::{EvidenceInterval, EvidenceStatus};
use serde::Serialize;

use crate::inputs::Period;

/// One evidence source of one control over the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvidenceRecord {
    pub hazard_id: String,
    pub control_id: String,
    pub source: String,
    /// The state at the end of the period (the newest interval begun before it); None if never checked.
    pub state_at_end: Option<EvidenceStatus>,
    pub detail_at_end: String,
    /// Shares of the period, 0..=1, in each state; the rest was not checked.
    pub passing: f64,
    pub failing: f64,
    pub stale: f64,
    pub unknown: f64,
    /// How many times it turned failing or stale during the period.
    pub problems: u32,
    /// When the underlying data last verified it, by the end of the period.
    pub last_verified_ns: Option<i64>,
    pub link: Option<String>,
}

impl EvidenceRecord {
    pub fn unchecked(&self) -> f64 {
        (1.0 - self.passing - self.failing - self.stale - self.unknown).max(0.0)
    }
}

/// The intervals of one source (already in time order, as the hazard log returns them) reduced
/// to its record over `period`.
pub fn evidence_records(period: &Period, intervals: &[EvidenceInterval]) -> Vec<EvidenceRecord> {
    let length = (period.to_ns - period.from_ns).max(1) as f64;
    let mut out: Vec<EvidenceRecord> = Vec::new();
    let mut previous_problem = false;
    for i in intervals {
        let same = out
            .last()
            .is_some_and(|r| r.hazard_id == i.hazard_id && r.control_id == i.control_id && r.source == i.source);
        if !same {
            previous_problem = false;
            out.push(EvidenceRecord {
                hazard_id: i.hazard_id.clone(),
                control_id: i.control_id.clone(),
                source: i.source.clone(),
                state_at_end: None,
                detail_at_end: String::new(),
                passing: 0.0,
                failing: 0.0,
                stale: 0.0,
                unknown: 0.0,
                problems: 0,
                last_verified_ns: None,
                link: None,
            });
        }
        let Some(record) = out.last_mut() else { continue };
        let start = i.since_ns.max(period.from_ns);
        let end = i.end_ns().min(period.to_ns);
        let share = (end - start).max(0) as f64 / length;
        match i.status {
            EvidenceStatus::Passing => record.passing += share,
            EvidenceStatus::Failing => record.failing += share,
            EvidenceStatus::Stale => record.stale += share,
            EvidenceStatus::Unknown => record.unknown += share,
        }
        if i.since_ns < period.to_ns {
            if i.status.is_problem() && !previous_problem && i.since_ns >= period.from_ns {
                record.problems += 1;
            }
            previous_problem = i.status.is_problem();
            record.state_at_end = Some(i.status);
            record.detail_at_end = i.detail.clone();
            record.link = i.link.clone();
            if let Some(v) = i.verified_ns.filter(|v| *v < period.to_ns) {
                record.last_verified_ns = Some(record.last_verified_ns.map_or(v, |old: i64| old.max(v)));
            }
        }
    }
    out
}

/// "2026-11-01 07:05 UTC".
pub fn time(ns: i64) -> String {
    match chrono::DateTime::from_timestamp(ns.div_euclid(1_000_000_000), 0) {
        Some(t) => format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", t.year(), t.month(), t.day(), t.hour(), t.minute()),
        None => "(no time)".into(),
    }
}

pub fn optional_time(ns: Option<i64>) -> String {
    ns.map(time).unwrap_or_else(|| "never".into())
}

/// `part` of `whole` as a share 0..=1 (0 when there is no whole).
pub fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part.min(whole) as f64 / whole as f64
    }
}

/// A share as a percentage with one decimal: "99.5 %".
pub fn percent(share: f64) -> String {
    format!("{:.1} %", (share * 100.0).clamp(0.0, 100.0))
}

pub fn state(status: Option<EvidenceStatus>) -> &'static str {
    status.map(EvidenceStatus::as_str).unwrap_or("not checked")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(source: &str, status: EvidenceStatus, since: i64, last: i64, ended: Option<i64>) -> EvidenceInterval {
        EvidenceInterval {
            hazard_id: "HAZ-001".into(),
            control_id: "C1".into(),
            source: source.into(),
            status,
            since_ns: since,
            last_checked_ns: last,
            ended_ns: ended,
            verified_ns: Some(last),
            detail: format!("{} from {since}", status.as_str()),
            link: None,
        }
    }

    #[test]
    fn shares_problems_and_end_state_come_from_the_intervals_clipped_to_the_period() {
        use EvidenceStatus::*;
        let period = Period { from: "a".into(), to: "b".into(), from_ns: 100, to_ns: 200 };
        let records = evidence_records(
            &period,
            &[
                // Passing from before the period until 150 (clipped to 100..150: half).
                interval("canary", Passing, 50, 140, Some(150)),
                // Failing 150..170, then a gap (not checked) until 180.
                interval("canary", Failing, 150, 170, None),
                // Stale from 180 past the period's end (clipped to 180..200).
                interval("canary", Stale, 180, 260, None),
                // Another source, passing throughout.
                interval("slo", Passing, 0, 300, None),
            ],
        );
        assert_eq!(records.len(), 2);
        let r = &records[0];
        assert_eq!((r.passing, r.failing, r.stale), (0.5, 0.2, 0.2));
        assert!((r.unchecked() - 0.1).abs() < 1e-9);
        // Failing, then (after a gap) stale with no passing state between: one episode of trouble.
        assert_eq!(r.problems, 1);
        assert_eq!((r.state_at_end, r.detail_at_end.as_str()), (Some(Stale), "stale from 180"));
        assert_eq!(r.last_verified_ns, Some(170), "verifications after the period are not counted");
        assert_eq!((records[1].passing, records[1].problems), (1.0, 0));
    }

    #[test]
    fn an_interval_that_starts_after_the_period_does_not_set_the_end_state() {
        let period = Period { from: "a".into(), to: "b".into(), from_ns: 100, to_ns: 200 };
        let records = evidence_records(
            &period,
            &[
                interval("canary", EvidenceStatus::Passing, 120, 190, Some(250)),
                interval("canary", EvidenceStatus::Failing, 250, 260, None),
            ],
        );
        assert_eq!(records[0].state_at_end, Some(EvidenceStatus::Passing));
        assert_eq!(records[0].problems, 0);
        assert_eq!(records[0].passing, 0.8);
    }

    #[test]
    fn times_are_written_in_utc() {
        assert_eq!(time(1_793_001_600_000_000_000), "2026-10-26 08:00 UTC");
        assert_eq!(percent(0.99512), "99.5 %");
        assert_eq!(percent(1.2), "100.0 %");
        assert_eq!((share(1, 4), share(3, 0), share(5, 4)), (0.25, 0.0, 1.0));
    }
}
