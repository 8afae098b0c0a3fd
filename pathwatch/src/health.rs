//! This process's health, gathered from what the binary owns (the supervisor's loops, the spool, the
//! store, the hazard log's chain verifications) and served three ways: `/healthz` (cheap: the
//! process answers and no loop keeps failing), `/readyz` (the whole report as JSON, 503 when not
//! ready) on the collector's and the dashboard's listeners, and the dashboard's `/admin/health`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use audit_store::AnyStore;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use collector::spool::Spool;
use dashboard::health::{ChainHealth, HealthReport, HealthSource, LoopHealth, SpoolHealth, StoreHealth};

use crate::supervisor::LoopStates;

/// How long `/readyz` waits for the store to answer before calling it unreachable.
const STORE_PING_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct ProcessHealth {
    loops: LoopStates,
    store: AnyStore,
    spool: Option<Arc<Spool>>,
    /// Set once the dashboard has opened it (standalone only).
    hazards: Arc<OnceLock<hazard_log::HazardLog>>,
    unhealthy_after: u32,
}

impl ProcessHealth {
    pub fn new(loops: LoopStates, store: AnyStore, spool: Option<Arc<Spool>>, unhealthy_after: u32) -> Self {
        ProcessHealth { loops, store, spool, hazards: Arc::default(), unhealthy_after }
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
            .filter(|(_, s)| self.unhealthy_after > 0 && s.failures_in_a_row >= self.unhealthy_after)
            .map(|(name, s)| {
                let last = s.last_failure.map(|(_, m)| m).unwrap_or_default();
                format!("background loop {name} keeps failing ({} times in a row; last: {last})", s.failures_in_a_row)
            })
            .collect();
        if failing.is_empty() {
            Ok(())
        } else {
            Err(failing.join("\n"))
        }
    }

    pub async fn report(&self) -> HealthReport {
        let now_ns = audit_store::system_now_ns();
        let reachable = match tokio::time::timeout(STORE_PING_TIMEOUT, self.store.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} s", STORE_PING_TIMEOUT.as_secs())),
        };
        let store = StoreHealth {
            backend: self.store.backend_name().into(),
            reachable: reachable.is_ok(),
            detail: reachable.err().unwrap_or_default(),
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

async fn readyz(State(health): State<ProcessHealth>) -> Response {
    let report = health.report().await;
    (report.status(), Json(report)).into_response()
}
