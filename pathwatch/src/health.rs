//! This process's health, gathered from what the binary owns (the supervisor's loops, the spool, the
//! store, the hazard log's chain verifications) and served three ways: `/healthz` (cheap: the
//! process answers and no loop ingest depends on keeps failing) and `/readyz` (200 or 503, with
//! counts only) on every role's listener, open to anyone, and the whole
//! report to admins and on-call on the dashboard's `/admin/health` and `/api/v1/health`.
//!
//! The open endpoints say nothing an outsider could use (no error text, no chain detail), and
//! `/readyz` reads a report gathered at most once every `REPORT_MAX_AGE` however often it is
//! asked, so probing it cannot load the store or the spool.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use audit_store::AnyStore;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use collector::spool::Spool;
use dashboard::pages::health::{ChainHealth, HealthReport, HealthSource, LoopHealth, SpoolHealth, StoreHealth};

use crate::supervisor::LoopStates;

/// How long `/readyz` waits for the store to answer before calling it unreachable.
const STORE_PING_TIMEOUT: Duration = Duration::from_secs(2);
/// A report younger than this is served again rather than gathered afresh.
const REPORT_MAX_AGE: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct ProcessHealth {
    loops: LoopStates,
    /// None for a role that keeps no store (the canaries).
    store: Option<AnyStore>,
    spool: Option<Arc<Spool>>,
    /// Set once the dashboard has opened it (standalone only).
    hazards: Arc<OnceLock<hazard_log::HazardLog>>,
    unhealthy_after: u32,
    /// The last report and when it was gathered; the lock also makes callers share one gathering.
    last: Arc<tokio::sync::Mutex<Option<(std::time::Instant, HealthReport)>>>,
}

impl ProcessHealth {
    pub fn new(loops: LoopStates, store: Option<AnyStore>, spool: Option<Arc<Spool>>, unhealthy_after: u32) -> Self {
        ProcessHealth { loops, store, spool, hazards: Arc::default(), unhealthy_after, last: Arc::default() }
    }

    /// Where the evidence monitor records its chain verifications.
    pub fn read_chain_from(&self, hazards: hazard_log::HazardLog) {
        let _ = self.hazards.set(hazards);
    }

    /// `/healthz`: the loops only, from memory.
    fn live(&self) -> Result<(), String> {
        let failing: Vec<String> = self
            .loops
            .snapshot()
            .into_iter()
            .filter(|(_, s)| s.critical && self.unhealthy_after > 0 && s.failures_in_a_row >= self.unhealthy_after)
            .map(|(name, s)| format!("background loop {name} keeps failing ({} times in a row)", s.failures_in_a_row))
            .collect();
        if failing.is_empty() {
            Ok(())
        } else {
            Err(failing.join("\n"))
        }
    }

    /// The report, gathered afresh unless one younger than `REPORT_MAX_AGE` exists.
    pub async fn report(&self) -> HealthReport {
        let mut last = self.last.lock().await;
        if let Some((_, report)) = last.as_ref().filter(|(at, _)| at.elapsed() < REPORT_MAX_AGE) {
            return report.clone();
        }
        let report = self.gather().await;
        *last = Some((std::time::Instant::now(), report.clone()));
        report
    }

    async fn gather(&self) -> HealthReport {
        let now_ns = domain::system_now_ns();
        let store = match &self.store {
            None => {
                StoreHealth { backend: "none (this role keeps no data)".into(), reachable: true, detail: String::new() }
            }
            Some(store) => {
                let reachable = match tokio::time::timeout(STORE_PING_TIMEOUT, store.ping()).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err(format!("no answer within {} s", STORE_PING_TIMEOUT.as_secs())),
                };
                StoreHealth {
                    backend: store.backend_name().into(),
                    reachable: reachable.is_ok(),
                    detail: reachable.err().unwrap_or_default(),
                }
            }
        };
        let spool = match &self.spool {
            None => None,
            Some(spool) => Some(match spool.status().await {
                Ok(s) => SpoolHealth {
                    batches: s.batches,
                    bytes: s.bytes,
                    max_bytes: s.max_bytes,
                    oldest_age_secs: s.oldest_received_ns.map(|at| now_ns.saturating_sub(at) / 1_000_000_000),
                    dead_letters: s.dead_letters,
                    dead_letters_with_audit: s.dead_letters_with_audit,
                    unreadable: None,
                },
                Err(e) => {
                    tracing::error!(error = %e, "reading the spool's state");
                    let (batches, bytes) = spool.depth();
                    SpoolHealth {
                        batches,
                        bytes,
                        max_bytes: u64::MAX,
                        oldest_age_secs: None,
                        dead_letters: 0,
                        dead_letters_with_audit: 0,
                        unreadable: Some(e.to_string()),
                    }
                }
            }),
        };
        let loops = self
            .loops
            .snapshot()
            .into_iter()
            .map(|(name, s)| LoopHealth {
                name: name.into(),
                critical: s.critical,
                running: s.running,
                since_ns: s.since_ns,
                restarts: s.restarts,
                failures_in_a_row: s.failures_in_a_row,
                last_failure_ns: s.last_failure.as_ref().map(|(at, _)| *at),
                last_failure: s.last_failure.map(|(_, m)| m),
            })
            .collect();
        let chain = match self.hazards.get() {
            None => None,
            Some(log) => match log.latest_chain_verifications().await {
                Ok((newest, _)) => newest.map(|v| ChainHealth {
                    verified_ns: v.at_ns,
                    intact: v.intact,
                    full_walk: v.full_walk,
                    records_checked: v.records_checked,
                    detail: v.detail,
                }),
                Err(e) => {
                    tracing::warn!(error = %e, "reading the chain verifications");
                    None
                }
            },
        };
        let report = HealthReport {
            checked_ns: now_ns,
            ready: false,
            problems: Vec::new(),
            warnings: Vec::new(),
            store,
            spool,
            loops,
            chain,
        };
        report.judge(self.unhealthy_after)
    }

    /// For the dashboard's health page.
    pub fn source(&self) -> HealthSource {
        let health = self.clone();
        Arc::new(move || {
            let health = health.clone();
            Box::pin(async move { health.report().await })
        })
    }

    /// `/healthz` and `/readyz`, to merge into a listener's router.
    pub fn routes(&self) -> Router {
        Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).with_state(self.clone())
    }
}

async fn healthz(State(health): State<ProcessHealth>) -> Response {
    match health.live() {
        Ok(()) => "ok\n".into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("unhealthy\n{why}\n")).into_response(),
    }
}

/// Whether to send traffic here, and how many things are wrong: the reasons are for people signed
/// in (`/admin/health`, `/api/v1/health`).
async fn readyz(State(health): State<ProcessHealth>) -> Response {
    let report = health.report().await;
    let body = serde_json::json!({
        "ready": report.ready,
        "problems": report.problems.len(),
        "warnings": report.warnings.len(),
        "details": "/admin/health or /api/v1/health on the dashboard (admin, on-call)",
    });
    (report.status(), Json(body)).into_response()
}
