//! The alert engine's rounds: the alerts of removed SLOs (and of credentials a fresh check no
//! longer reports) closed, every SLO evaluated and applied (with the silences in force and the
//! known errors kept on the dashboard), then each credential of the newest expiry check, the round
//! recorded.

use std::time::Duration;

use super::{recent, AlertEngine};
use crate::notify::Notification;
use crate::pathways::PathwayConfig;
use crate::silences;
use crate::slo::SloConfig;
use crate::slo_eval::evaluate;
use crate::EngineError;

impl AlertEngine {
    /// Resolves, without notifying, open alerts of SLOs that are no longer configured or evaluated,
    /// and of credentials the newest check no longer reports (when it could be read: `checked`).
    async fn close_orphans(&self, evaluated: &[String], checked: bool, now_ns: i64) -> Result<(), EngineError> {
        for a in recent(&self.pool, 1000).await?.into_iter().filter(|a| a.resolved_ns.is_none()) {
            let credential = a.slo.starts_with(crate::credentials::ALERT_PREFIX);
            if !evaluated.contains(&a.slo) && (checked || !credential) {
                let why = match credential {
                    true => " (no longer reported by the credential check)",
                    false => " (SLO no longer evaluated)",
                };
                sqlx::query(
                    "UPDATE alerts SET resolved_ns = $1, summary = summary || $3, notify_pending = '', held = 0 \
                     WHERE id = $2",
                )
                .bind(now_ns)
                .bind(a.id)
                .bind(why)
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }

    /// Evaluates every SLO and applies the result. One SLO failing to evaluate does not stop the others.
    /// Notifications name the pathway each SLO measures (the first in `pathways` it measures);
    /// a silence covers an SLO by name or through any pathway it measures.
    pub async fn tick(
        &self,
        store: &audit_store::AnyStore,
        slos: &[SloConfig],
        pathways: &[PathwayConfig],
        now_ns: i64,
    ) -> Vec<Notification> {
        let mut sent = Vec::new();
        // With the known errors kept on the dashboard, so a notification gives their advice.
        let pathways = &crate::known_errors::with_known_errors(&self.pool, pathways).await;
        // Two store queries for every pathway together, as the overview reads them.
        let health = match crate::pathways::health_all(store, pathways.iter(), now_ns.max(0) as u64).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "pathway health not read: notifications will not name pathways");
                Vec::new()
            }
        };
        // The newest credential check: each credential is a condition like an SLO's, its days
        // counted from now even when the check is old. Only a fresh check can say a credential is
        // gone (its alert then closes); none, or a stale one, leaves open alerts open.
        let report = match crate::credentials::latest(store, now_ns.max(0) as u64).await {
            Ok(report) => report,
            Err(e) => {
                tracing::warn!(error = %e, "credential expiry not read: its alerts stay as they are this round");
                None
            }
        };
        let conditions: Vec<super::Condition> =
            report.iter().flat_map(|r| &r.credentials).map(crate::credentials::CredentialExpiry::condition).collect();
        let fresh_check = report.as_ref().is_some_and(|r| !r.stale);
        let evaluated: Vec<String> =
            slos.iter().map(|s| s.name.clone()).chain(conditions.iter().map(|c| c.key.clone())).collect();
        if let Err(e) = self.close_orphans(&evaluated, fresh_check, now_ns).await {
            tracing::warn!(error = %e, "could not close alerts of removed SLOs");
        }
        // Without the silences, nobody can tell which notifications they hold back: no round.
        let silences = match silences::in_force(&self.pool, now_ns).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "silences not read: alerts not evaluated this round");
                return sent;
            }
        };
        let (mut failed, mut detail) = (0, String::new());
        for slo in slos {
            let status = match evaluate(store, slo, now_ns.max(0) as u64).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(slo = %slo.name, error = %e, "SLO not evaluated this time");
                    if failed == 0 {
                        detail = format!(
                            "{}: {}",
                            slo.name,
                            if e.is_transient() { "the store did not answer" } else { "the store failed the query" }
                        );
                    }
                    failed += 1;
                    continue;
                }
            };
            let pathway = pathways.iter().position(|p| p.measured_by(slo)).and_then(|i| health.get(i));
            let measured: Vec<String> = pathways.iter().filter(|p| p.measured_by(slo)).map(|p| p.id.clone()).collect();
            let silence = silences::covering(&silences, &slo.name, &measured, now_ns);
            match self.apply_with(&status, pathway, silence, now_ns).await {
                Ok(Some(n)) => sent.push(n),
                Ok(None) => {}
                Err(e) => tracing::warn!(slo = %slo.name, error = %e, "alert state not updated"),
            }
        }
        for condition in &conditions {
            let silence = silences::covering(&silences, &condition.key, &[], now_ns);
            match self.apply_condition(condition, None, silence, now_ns).await {
                Ok(Some(n)) => sent.push(n),
                Ok(None) => {}
                Err(e) => tracing::warn!(credential = %condition.key, error = %e, "alert state not updated"),
            }
        }
        self.record_round(now_ns, slos.len(), failed, &detail).await;
        sent
    }

    /// Runs `tick` every `every` until the task is dropped.
    pub async fn run(
        mut self,
        store: audit_store::AnyStore,
        slos: Vec<SloConfig>,
        pathways: Vec<PathwayConfig>,
        every: Duration,
    ) {
        self.every = every;
        loop {
            let now = domain::Clock::System.now_ns_i64();
            for n in self.tick(&store, &slos, &pathways, now).await {
                tracing::info!(slo = %n.slo, transition = n.transition.as_str(), severity = %n.severity, "alert");
            }
            tokio::time::sleep(every).await;
        }
    }
}
