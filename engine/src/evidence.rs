//! Live evidence for hazard controls: each source a control links to is checked against the data
//! (the newest canary run or step, an SLO's budget, a document's review date) and is passing,
//! failing, stale (not verified within its freshness window) or unknown (nothing to check it
//! against yet). A hazard with failing or stale evidence is flagged.

use audit_store::{chain, SpanStatus, TracesQuery, NANOS_PER_SEC};
use hazard_log::{Evidence, Hazard};
use serde::Serialize;

use crate::pathways::{attribute, passed, status_of, status_text};
use crate::Sources;
use audit_store::SpanStore;
use domain::canary::{attr, run_span_name, SERVICE as CANARY_SERVICE};
use domain::uk_time::format_ns;

pub use hazard_log::EvidenceStatus;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EvidenceState {
    pub control: String,
    pub source: String,
    pub status: EvidenceStatus,
    /// When it was last verified (the run, the evaluation), if it was.
    pub verified_ns: Option<u64>,
    pub detail: String,
    /// Where the underlying data is.
    pub link: Option<String>,
}

impl EvidenceState {
    pub fn verified(&self) -> String {
        self.verified_ns.map(format_ns).unwrap_or_else(|| "—".into())
    }
}

fn state(status: EvidenceStatus, verified_ns: Option<u64>, detail: String, link: Option<String>) -> EvidenceState {
    EvidenceState { control: String::new(), source: String::new(), status, verified_ns, detail, link }
}

/// Checks one source of evidence at `now_ns`.
pub async fn check(sources: &Sources, evidence: &Evidence, now_ns: u64) -> Result<EvidenceState, String> {
    let store = sources.store();
    match evidence {
        Evidence::CanaryFlow { flow, step, fresh_hours } => {
            let Some(store) = store else {
                return Ok(state(EvidenceStatus::Unknown, None, "no telemetry store".into(), None));
            };
            let window = u64::from(*fresh_hours) * 3600 * NANOS_PER_SEC;
            let runs = store
                .recent_spans_by_name(
                    CANARY_SERVICE,
                    &[run_span_name(flow)],
                    now_ns.saturating_sub(window),
                    now_ns + 1,
                    1,
                )
                .await
                .map_err(|e| e.to_string())?;
            let Some(run) = runs.first().and_then(|r| r.first()) else {
                let detail = format!("no run of the {flow} canary in the last {fresh_hours} hours");
                return Ok(state(EvidenceStatus::Stale, None, detail, None));
            };
            let link = Some(format!("/trace?q={}", run.trace_id))
                .filter(|_| run.trace_id.bytes().all(|b| b.is_ascii_hexdigit()));
            let Some(step) = step else {
                let status = if passed(run) { EvidenceStatus::Passing } else { EvidenceStatus::Failing };
                let newest = status_text(status_of(run));
                return Ok(state(status, Some(run.start_ns), format!("newest run: {newest}"), link));
            };
            let spans = store
                .spans_in_traces(&TracesQuery {
                    service_name: CANARY_SERVICE.into(),
                    trace_ids: vec![run.trace_id.clone()],
                    from_ns: run.start_ns,
                    to_ns: now_ns + 1,
                })
                .await
                .map_err(|e| e.to_string())?;
            Ok(match spans.iter().find(|s| attribute(s, attr::STEP) == Some(step.as_str())) {
                None => state(EvidenceStatus::Failing, Some(run.start_ns), format!("step {step} did not run"), link),
                Some(s) if s.status == SpanStatus::Error || attribute(s, attr::STEP_OUTCOME) == Some("skipped") => {
                    let why = if s.status_message.is_empty() { "failed".to_string() } else { s.status_message.clone() };
                    state(EvidenceStatus::Failing, Some(s.start_ns), format!("step {step}: {why}"), link)
                }
                Some(s) => state(EvidenceStatus::Passing, Some(s.start_ns), format!("step {step} passed"), link),
            })
        }
        Evidence::Slo { slo } => {
            let (Some(store), Some(config)) = (store, sources.slo(slo)) else {
                return Ok(state(EvidenceStatus::Unknown, None, format!("no SLO named {slo} is configured"), None));
            };
            let status = crate::slo_eval::evaluate(store, config, now_ns).await.map_err(|e| e.to_string())?;
            let link = Some("/slos".to_string());
            Ok(match status.budget_remaining {
                None => state(EvidenceStatus::Stale, None, "no events in the SLO window".into(), link),
                Some(r) if r <= 0.0 => {
                    state(EvidenceStatus::Failing, Some(now_ns), "error budget exhausted".into(), link)
                }
                Some(r) => state(
                    EvidenceStatus::Passing,
                    Some(now_ns),
                    format!("{:.0} % of the error budget left", r * 100.0),
                    link,
                ),
            })
        }
        Evidence::AuditChain { fresh_hours } => {
            let Some(log) = &sources.hazards else {
                return Ok(state(EvidenceStatus::Unknown, None, "no hazard log to record verifications".into(), None));
            };
            let (newest, full) = log.latest_chain_verifications().await.map_err(|e| e.to_string())?;
            let window = i64::from(*fresh_hours) * 3600 * NANOS_PER_SEC as i64;
            Ok(match (newest, full) {
                (Some(v), _) if !v.intact => {
                    state(EvidenceStatus::Failing, Some(v.at_ns as u64), format!("chain broken: {}", v.detail), None)
                }
                (Some(newest), Some(full)) if (now_ns as i64) - full.at_ns <= window => state(
                    EvidenceStatus::Passing,
                    Some(newest.at_ns as u64),
                    match newest.head_seq {
                        Some(seq) => format!("chain intact up to record {}", chain::describe(seq)),
                        None if !newest.detail.is_empty() => newest.detail.clone(),
                        None => "chain intact (no records yet)".to_string(),
                    },
                    None,
                ),
                (_, Some(full)) => state(
                    EvidenceStatus::Stale,
                    Some(full.at_ns as u64),
                    format!("no full verification in the last {fresh_hours} hours"),
                    None,
                ),
                (_, None) => state(EvidenceStatus::Stale, None, "the chain has never been verified".into(), None),
            })
        }
        Evidence::TestSuite { junit, fresh_hours, .. } => {
            // A file read: off the runtime's threads (a slow disk must not stall the pages).
            let (junit, fresh_hours) = (junit.clone(), *fresh_hours);
            Ok(tokio::task::spawn_blocking(move || test_suite(&junit, fresh_hours, now_ns)).await.unwrap_or_else(|e| {
                state(EvidenceStatus::Failing, None, format!("checking the test results failed: {e}"), None)
            }))
        }
        Evidence::AuditReview { rule, review_within_days, sample_days, fresh_hours } => {
            let Some(reviews) = &sources.findings else {
                return Ok(state(
                    EvidenceStatus::Unknown,
                    None,
                    "this dashboard does not run the audit rules".into(),
                    None,
                ));
            };
            let link = Some("/audit/findings".to_string());
            let rule = match rule.as_deref() {
                None => None,
                Some(name) => match audit_review::Rule::parse(name) {
                    Some(r) => Some(r),
                    None => {
                        return Ok(state(
                            EvidenceStatus::Failing,
                            None,
                            format!("there is no audit rule {name:?}"),
                            link,
                        ))
                    }
                },
            };
            let hour = 3600 * NANOS_PER_SEC;
            let day = 24 * hour;
            let fail = |e: audit_review::ReviewError| e.to_string();
            let ran = reviews.last_scan_ns().await.map_err(fail)?;
            if ran == 0 || now_ns.saturating_sub(ran) > u64::from(*fresh_hours) * hour {
                let detail = format!("the audit rules have not run in the last {fresh_hours} hours");
                return Ok(state(EvidenceStatus::Stale, (ran > 0).then_some(ran), detail, link));
            }
            let waiting = u64::from(*review_within_days) * day;
            let overdue = reviews.overdue(rule, now_ns.saturating_sub(waiting)).await.map_err(fail)?;
            if overdue > 0 {
                let detail = format!("{overdue} findings waiting more than {review_within_days} days for review");
                return Ok(state(EvidenceStatus::Failing, Some(ran), detail, link));
            }
            let mut detail = format!("every finding reviewed within {review_within_days} days");
            if *sample_days > 0 {
                let reviewed =
                    reviews.reviewed_since(now_ns.saturating_sub(u64::from(*sample_days) * day)).await.map_err(fail)?;
                if reviewed == 0 {
                    let detail = format!("no sampled access reviewed in the last {sample_days} days");
                    return Ok(state(EvidenceStatus::Failing, Some(ran), detail, Some("/audit/samples".into())));
                }
                detail.push_str(&format!("; {reviewed} sampled accesses reviewed in the last {sample_days} days"));
            }
            Ok(state(EvidenceStatus::Passing, Some(ran), detail, link))
        }
        Evidence::Document { url, review_by, .. } => Ok(match hazard_log::model::not_before_today(review_by, now_ns) {
            Some(true) => state(EvidenceStatus::Passing, None, format!("current until {review_by}"), url.clone()),
            _ => state(EvidenceStatus::Stale, None, format!("review was due by {review_by}"), url.clone()),
        }),
    }
}

/// Every piece of evidence of a hazard's controls, checked. A source that cannot be checked (the
/// store is down) counts as unknown, with the reason.
pub async fn for_hazard(sources: &Sources, hazard: &Hazard, now_ns: u64) -> Vec<EvidenceState> {
    let mut out = Vec::new();
    for control in &hazard.additional_controls {
        for evidence in &control.evidence {
            let mut checked = check(sources, evidence, now_ns)
                .await
                .unwrap_or_else(|e| state(EvidenceStatus::Unknown, None, format!("could not be checked: {e}"), None));
            checked.control = control.id.clone();
            checked.source = evidence.describe();
            out.push(checked);
        }
    }
    out
}

/// The evidence of each of `hazards`, for pages that list many: what the evidence monitor last
/// recorded, when it checked every source of that hazard within three of its rounds; otherwise (no
/// monitor in this process, a source it has not reached yet) checked live. Reading the records
/// costs one query on the hazard log instead of a few telemetry queries per source.
pub async fn current(sources: &Sources, hazards: &[&Hazard], now_ns: u64) -> Vec<Vec<EvidenceState>> {
    let recorded = match (&sources.hazards, sources.evidence_every) {
        (Some(log), Some(every)) => {
            let fresh_after = now_ns as i64 - 3 * every.as_nanos().min(i64::MAX as u128) as i64;
            match log.evidence_at(now_ns as i64).await {
                Ok(intervals) => intervals.into_iter().filter(|i| i.last_checked_ns >= fresh_after).collect(),
                Err(e) => {
                    tracing::warn!(error = %e, "recorded evidence not read; checking live");
                    Vec::new()
                }
            }
        }
        _ => Vec::new(),
    };
    let mut out = Vec::with_capacity(hazards.len());
    for hazard in hazards {
        match recorded_for(&recorded, hazard) {
            Some(states) => out.push(states),
            None => out.push(for_hazard(sources, hazard, now_ns).await),
        }
    }
    out
}

/// `hazard`'s evidence from `recorded`, if every one of its sources is there.
fn recorded_for(recorded: &[hazard_log::EvidenceInterval], hazard: &Hazard) -> Option<Vec<EvidenceState>> {
    let mut states = Vec::new();
    for control in &hazard.additional_controls {
        for evidence in &control.evidence {
            let source = evidence.describe();
            let found = recorded
                .iter()
                .find(|i| i.hazard_id == hazard.id && i.control_id == control.id && i.source == source)?;
            states.push(EvidenceState {
                control: control.id.clone(),
                source,
                status: found.status,
                verified_ns: found.verified_ns.map(|v| v.max(0) as u64),
                detail: found.detail.clone(),
                link: found.link.clone(),
            });
        }
    }
    Some(states)
}

/// The flag for a hazard: None when all evidence passes (or there is none), else the count of
/// failing and stale sources in words.
pub fn flag(states: &[EvidenceState]) -> Option<String> {
    let failing = states.iter().filter(|s| s.status == EvidenceStatus::Failing).count();
    let stale = states.iter().filter(|s| s.status == EvidenceStatus::Stale).count();
    match (failing, stale) {
        (0, 0) => None,
        (f, 0) => Some(format!("{f} failing")),
        (0, s) => Some(format!("{s} stale")),
        (f, s) => Some(format!("{f} failing, {s} stale")),
    }
}

/// Totals of a JUnit XML report: tests, failures and errors summed over its `<testsuite>`
/// elements (or the `<testsuites>` root when it has no suites with counts); None when it is not
/// one: not well-formed XML, or a suite without a readable `tests` count. Read as a stream
/// (quick-xml), so a large report costs no more memory than its longest tag.
pub fn junit_totals(xml: &str) -> Option<(u64, u64, u64)> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut totals: Option<(u64, u64, u64)> = None;
    let mut root: Option<(u64, u64, u64)> = None;
    loop {
        let element = match reader.read_event().ok()? {
            Event::Start(e) | Event::Empty(e) => e,
            Event::Eof => break,
            _ => continue,
        };
        let name = element.name();
        let is_root = match name.as_ref() {
            b"testsuites" => true,
            b"testsuite" => false,
            _ => continue,
        };
        let count = |key: &[u8]| -> Option<Option<u64>> {
            match element.try_get_attribute(key).ok()? {
                None => Some(None),
                Some(a) => Some(Some(a.unescape_value().ok()?.trim().parse().ok()?)),
            }
        };
        let counts = (count(b"tests")??, count(b"failures")?.unwrap_or(0), count(b"errors")?.unwrap_or(0));
        if is_root {
            root = Some(counts);
        } else {
            let t = totals.get_or_insert((0, 0, 0));
            *t = (t.0 + counts.0, t.1 + counts.1, t.2 + counts.2);
        }
    }
    totals.or(root)
}

const MAX_JUNIT_BYTES: u64 = 64 << 20;

/// A test suite's evidence from its JUnit XML file: stale when missing or older than the window,
/// failing when any test failed or errored (or the file is not JUnit XML), else passing.
fn test_suite(path: &str, fresh_hours: u32, now_ns: u64) -> EvidenceState {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let Some(modified) = modified else {
        return state(EvidenceStatus::Stale, None, format!("no result at {path}"), None);
    };
    let modified_ns = modified.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    // A JUnit report is kilobytes to a few megabytes; a file far bigger is not one, and reading it
    // whole would take the memory everything else needs.
    if std::fs::metadata(path).is_ok_and(|m| m.len() > MAX_JUNIT_BYTES) {
        let detail = format!("{path} is larger than {} MiB: not a JUnit XML report", MAX_JUNIT_BYTES >> 20);
        return state(EvidenceStatus::Failing, Some(modified_ns), detail, None);
    }
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => return state(EvidenceStatus::Failing, Some(modified_ns), format!("{path} unreadable: {e}"), None),
    };
    let age_ok = now_ns.saturating_sub(modified_ns) <= u64::from(fresh_hours) * 3600 * NANOS_PER_SEC;
    match junit_totals(&text) {
        None => state(EvidenceStatus::Failing, Some(modified_ns), format!("{path} is not a JUnit XML report"), None),
        Some((tests, failures, errors)) if failures + errors > 0 => state(
            EvidenceStatus::Failing,
            Some(modified_ns),
            format!("{} of {tests} tests failed", failures + errors),
            None,
        ),
        Some((tests, ..)) if !age_ok => state(
            EvidenceStatus::Stale,
            Some(modified_ns),
            format!("{tests} tests passed, but the result is older than {fresh_hours} hours"),
            None,
        ),
        Some((tests, ..)) => state(EvidenceStatus::Passing, Some(modified_ns), format!("{tests} tests passed"), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_totals_sum_the_suites_and_fall_back_to_the_root() {
        let two = r#"<?xml version="1.0"?><testsuites tests="9" failures="9"><testsuite name="a" tests="3" failures="1" errors="0">
            <testcase name="x"/></testsuite><testsuite name='b' tests='4' errors='2'></testsuite></testsuites>"#;
        assert_eq!(junit_totals(two), Some((7, 1, 2)), "the suites, not the root's own (wrong) totals");
        assert_eq!(junit_totals(r#"<testsuites tests="5" failures="0" errors="0"></testsuites>"#), Some((5, 0, 0)));
        assert_eq!(junit_totals("<html>not junit</html>"), None);
        assert_eq!(junit_totals(r#"<testsuite name="a" tests="many">"#), None);
        assert_eq!(junit_totals(r#"<testsuite tests="3"><testcase></testsuite>"#), None, "not well-formed");
        assert_eq!(
            junit_totals(r#"<!-- <testsuite tests="100"> --><testsuite tests="2" failures="1"/>"#),
            Some((2, 1, 0)),
            "a comment is not a suite"
        );
    }

    #[test]
    fn a_test_suite_is_stale_when_missing_or_old_and_failing_when_a_test_failed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junit.xml");
        let p = path.to_str().unwrap();
        assert_eq!(test_suite(p, 24, 1_800_000_000 * NANOS_PER_SEC).status, EvidenceStatus::Stale);
        std::fs::write(&path, r#"<testsuite tests="12" failures="0" errors="0"></testsuite>"#).unwrap();
        // "Now" is a minute after the file system stamped the result, whatever the test's clock says.
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
        let now = modified.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 + 60 * NANOS_PER_SEC;
        let ok = test_suite(p, 24, now);
        assert_eq!((ok.status, ok.detail.as_str()), (EvidenceStatus::Passing, "12 tests passed"));
        assert_eq!(test_suite(p, 24, now + 25 * 3600 * NANOS_PER_SEC).status, EvidenceStatus::Stale);
        std::fs::write(&path, r#"<testsuite tests="12" failures="2" errors="1"></testsuite>"#).unwrap();
        let bad = test_suite(p, 24, now);
        assert_eq!((bad.status, bad.detail.as_str()), (EvidenceStatus::Failing, "3 of 12 tests failed"));
        std::fs::write(&path, "garbage").unwrap();
        assert_eq!(test_suite(p, 24, now).status, EvidenceStatus::Failing);
        // Far too big to be a report: refused without reading it (a sparse file, nothing written).
        std::fs::File::create(&path).unwrap().set_len(MAX_JUNIT_BYTES + 1).unwrap();
        let huge = test_suite(p, 24, now);
        assert_eq!(huge.status, EvidenceStatus::Failing);
        assert!(huge.detail.contains("larger than 64 MiB"), "{}", huge.detail);
    }
}
