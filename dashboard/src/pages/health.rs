//! Pathwatch's own health, for the people who run it: is the store reachable, how deep is the
//! spool and how long has its oldest batch waited, what did ClickHouse refuse for good, is every
//! background loop running, does the audit chain verify. One [`HealthReport`] feeds the admins' page
//! (`/admin/health`), the API (`/api/v1/health`) and the binary's `/readyz`.
//!
//! The dashboard does not gather the report: the binary owns the loops and the spool, and hands the
//! dashboard a [`HealthSource`]. This module only judges the parts ([`HealthReport::judge`]) and
//! shows them; it never changes anything.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use crate::auth::extract::{User, UserView};
use crate::error::{render, WebError};
use crate::state::DashboardState;

/// Gathers the report now.
pub type HealthSource = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = HealthReport> + Send>> + Send + Sync>;

/// A spooled batch older than this means ClickHouse is not keeping up (or not taking data).
const SPOOL_LAG_WARNING_SECS: u64 = 300;
/// A chain verification older than this is stale (the evidence monitor runs every few minutes).
const CHAIN_STALE_SECS: u64 = 3600;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HealthReport {
    pub checked_ns: u64,
    /// Nothing stops this process taking and keeping data: `/readyz` answers 200.
    pub ready: bool,
    /// Why it is not ready, one sentence each.
    pub problems: Vec<String>,
    /// What needs someone's attention but does not stop ingest.
    pub warnings: Vec<String>,
    pub store: StoreHealth,
    /// Only in front of ClickHouse.
    pub spool: Option<SpoolHealth>,
    pub loops: Vec<LoopHealth>,
    /// The newest verification of the audit chain, where this process verifies it.
    pub chain: Option<ChainHealth>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoreHealth {
    pub backend: String,
    pub reachable: bool,
    /// Why it is not reachable.
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SpoolHealth {
    pub batches: u64,
    pub bytes: u64,
    pub max_bytes: u64,
    pub oldest_age_secs: Option<u64>,
    pub dead_letters: u64,
    pub dead_letters_with_audit: u64,
    /// The spool's own file could not be read: ingest is failing too.
    pub unreadable: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LoopHealth {
    pub name: String,
    /// Ingest depends on it: when it keeps failing the process is not ready.
    pub critical: bool,
    pub running: bool,
    pub since_ns: u64,
    pub restarts: u64,
    pub failures_in_a_row: u32,
    pub last_failure: Option<String>,
    pub last_failure_ns: Option<u64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChainHealth {
    pub verified_ns: i64,
    pub intact: bool,
    pub full_walk: bool,
    pub records_checked: u64,
    pub detail: String,
}

impl HealthReport {
    /// Sets `ready`, `problems` and `warnings` from the parts. A loop ingest depends on with
    /// `unhealthy_after` failures in a row (0: never) makes the process unready, as do an
    /// unreachable store without a spool to hold data and a full spool; other loops that keep
    /// failing are warnings (an alert engine that cannot reach its database must not take the
    /// collector out of a load balancer).
    pub fn judge(mut self, unhealthy_after: u32) -> HealthReport {
        let (mut problems, mut warnings) = (Vec::new(), Vec::new());
        match (&self.store, &self.spool) {
            (s, None) if !s.reachable => problems.push(format!("the {} store is unreachable: {}", s.backend, s.detail)),
            (s, Some(_)) if !s.reachable => warnings.push(format!(
                "the {} store is unreachable ({}); accepted data waits in the spool",
                s.backend, s.detail
            )),
            _ => {}
        }
        if let Some(spool) = &self.spool {
            if let Some(e) = &spool.unreadable {
                problems.push(format!("the spool cannot be read: {e}"));
            }
            if spool.bytes >= spool.max_bytes {
                problems.push(format!(
                    "the spool is full ({} of {} bytes): ingest answers 503 until ClickHouse takes its batches",
                    spool.bytes, spool.max_bytes
                ));
            }
            if let Some(age) = spool.oldest_age_secs.filter(|a| *a >= SPOOL_LAG_WARNING_SECS) {
                warnings.push(format!(
                    "the oldest spooled batch has waited {} for ClickHouse ({} batches waiting)",
                    duration_words(age),
                    spool.batches
                ));
            }
            if spool.dead_letters > 0 {
                let gap = if spool.dead_letters_with_audit > 0 {
                    format!(
                        "; {} hold audit events, so the chain in ClickHouse has a gap until they are retried",
                        spool.dead_letters_with_audit
                    )
                } else {
                    String::new()
                };
                warnings.push(format!(
                    "ClickHouse refused {} spooled batches for good (`pathwatch spool dead-letters` lists them){gap}",
                    spool.dead_letters
                ));
            }
        }
        for l in &self.loops {
            let why = l.last_failure.as_deref().unwrap_or("no reason recorded");
            if unhealthy_after > 0 && l.failures_in_a_row >= unhealthy_after {
                let failing = format!(
                    "background loop {} keeps failing ({} times in a row; last: {why})",
                    l.name, l.failures_in_a_row
                );
                if l.critical {
                    problems.push(failing);
                } else {
                    warnings.push(failing);
                }
            } else if !l.running {
                warnings.push(format!("background loop {} is waiting to restart (last: {why})", l.name));
            }
        }
        if let Some(chain) = &self.chain {
            if !chain.intact {
                warnings.push(format!("the audit chain does not verify: {}", chain.detail));
            }
            let age = self.checked_ns.saturating_sub(chain.verified_ns.max(0) as u64) / 1_000_000_000;
            if age >= CHAIN_STALE_SECS {
                warnings.push(format!("the audit chain was last verified {} ago", duration_words(age)));
            }
        }
        self.ready = problems.is_empty();
        self.problems = problems;
        self.warnings = warnings;
        self
    }

    /// `/readyz`'s status: 200 when ready, else 503.
    pub fn status(&self) -> StatusCode {
        if self.ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

/// "2 h 5 min", "40 s".
pub fn duration_words(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s => format!("{} days {} h", s / 86_400, s % 86_400 / 3600),
    }
}

impl DashboardState {
    pub(crate) async fn health(&self) -> Result<HealthReport, WebError> {
        match &self.inner.health {
            Some(source) => Ok(source().await),
            None => Err(WebError::NotFound("this process does not report its health here")),
        }
    }
}

#[derive(Template)]
#[template(path = "health.html")]
struct HealthPage {
    title: &'static str,
    user: Option<UserView>,
    report: HealthReport,
}

impl HealthPage {
    fn when(&self, ns: &u64) -> String {
        domain::uk_time::format_ns(*ns)
    }

    fn waited(&self, secs: &u64) -> String {
        duration_words(*secs)
    }

    fn ago(&self, ns: &u64) -> String {
        duration_words(self.report.checked_ns.saturating_sub(*ns) / 1_000_000_000)
    }
}

pub async fn health_page(State(state): State<DashboardState>, User(user): User) -> Result<Response, WebError> {
    let report = state.health().await?;
    let status = report.status();
    Ok(render(status, &HealthPage { title: "Pathwatch health", user: Some(user.view()), report }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> HealthReport {
        HealthReport {
            checked_ns: 10_000 * 1_000_000_000,
            ready: false,
            problems: vec![],
            warnings: vec![],
            store: StoreHealth { backend: "ClickHouse".into(), reachable: true, detail: String::new() },
            spool: Some(SpoolHealth {
                batches: 0,
                bytes: 0,
                max_bytes: 100,
                oldest_age_secs: None,
                dead_letters: 0,
                dead_letters_with_audit: 0,
                unreadable: None,
            }),
            loops: vec![LoopHealth {
                name: "spool drainer".into(),
                critical: true,
                running: true,
                since_ns: 0,
                restarts: 0,
                failures_in_a_row: 0,
                last_failure: None,
                last_failure_ns: None,
            }],
            chain: Some(ChainHealth {
                verified_ns: 9_990 * 1_000_000_000,
                intact: true,
                full_walk: false,
                records_checked: 5,
                detail: String::new(),
            }),
        }
    }

    #[test]
    fn a_healthy_process_is_ready_with_nothing_to_say() {
        let judged = report().judge(3);
        assert!(judged.ready && judged.problems.is_empty() && judged.warnings.is_empty(), "{judged:?}");
    }

    #[test]
    fn what_stops_ingest_is_a_problem_and_what_needs_a_look_is_a_warning() {
        let mut r = report();
        r.store.reachable = false;
        r.store.detail = "connection refused".into();
        let spool = r.spool.as_mut().unwrap();
        (spool.bytes, spool.oldest_age_secs, spool.dead_letters, spool.dead_letters_with_audit) =
            (100, Some(900), 2, 1);
        r.loops[0].failures_in_a_row = 3;
        r.loops[0].last_failure = Some("panicked: boom".into());
        r.chain.as_mut().unwrap().intact = false;
        let judged = r.judge(3);
        assert!(!judged.ready);
        assert_eq!(judged.status(), StatusCode::SERVICE_UNAVAILABLE);
        let problems = judged.problems.join("\n");
        assert!(problems.contains("spool is full") && problems.contains("spool drainer keeps failing"), "{problems}");
        assert!(problems.contains("panicked: boom"), "{problems}");
        let warnings = judged.warnings.join("\n");
        for expected in
            ["accepted data waits in the spool", "waited 15 min", "refused 2", "1 hold audit events", "does not verify"]
        {
            assert!(warnings.contains(expected), "{expected} missing from {warnings}");
        }
    }

    #[test]
    fn a_loop_ingest_does_not_depend_on_that_keeps_failing_is_a_warning_only() {
        let mut r = report();
        (r.loops[0].name, r.loops[0].critical, r.loops[0].failures_in_a_row) = ("report delivery".into(), false, 9);
        let judged = r.judge(3);
        assert!(judged.ready, "{judged:?}");
        assert!(judged.warnings.join(" ").contains("report delivery keeps failing"), "{judged:?}");
    }

    #[test]
    fn without_a_spool_an_unreachable_store_is_a_problem() {
        let mut r = report();
        (r.spool, r.store.reachable) = (None, false);
        assert!(!r.judge(0).ready);
    }
}
