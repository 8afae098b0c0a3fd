//! The monitor role: what runs on a schedule about the data (the alert engine, the evidence
//! monitor with its chain verification, the audit rules, scheduled report delivery). It serves no
//! pages; apart, it answers `/healthz`, `/readyz` and `/metrics` on `roles.monitor_listen`.

use std::time::Duration;

use anyhow::Context;
use audit_store::AnyStore;
use hazard_log::HazardLog;

use super::{role_metrics, Mode, Process, Role};
use crate::config::Config;

/// What the dashboard and the monitor read and record, opened once per process.
pub(crate) struct Shared {
    pub sources: engine::Sources,
    /// The state (`dashboard.db` or PostgreSQL): accounts and sessions, alert state, report deliveries.
    pub state_db: state::Pool,
    pub hazards: HazardLog,
    pub findings: audit_review::ReviewStore,
}

impl Shared {
    pub async fn open(config: &Config, store: AnyStore) -> anyhow::Result<Shared> {
        let state_db = config.open_state().await?;
        let hazards = config.open_hazard_log().await?;
        let findings = config.open_reviews().await?;
        let sources = engine::Sources {
            telemetry: Some(store),
            slos: config.effective_slos().into(),
            pathways: config.effective_pathways().into(),
            hazards: Some(hazards.clone()),
            findings: Some(findings.clone()),
            evidence_every: Some(Duration::from_secs(config.evidence.check_every_minutes.max(1) * 60)),
            clock: domain::Clock::System,
        };
        Ok(Shared { sources, state_db, hazards, findings })
    }
}

/// Starts the alert engine, the evidence and audit monitors and report delivery.
pub(crate) async fn start(
    process: &mut Process<'_>,
    shared: &Shared,
    health: &crate::health::ProcessHealth,
) -> anyhow::Result<()> {
    let config = process.config;
    let url = super::public_url(&config.dashboard);
    let mailer = config.mailer()?;
    let store = shared.sources.telemetry.clone().context("the monitor needs a telemetry store")?;
    let mut parts = Vec::new();
    // Every loop below runs only while this instance holds the `monitor` lease.
    let leading = process.contend(super::leader::MONITOR_LEASE, "monitor lease", shared.state_db.clone());
    if config.alerts.enabled {
        let a = &config.alerts;
        let notifier = engine::notify::Notifier::new(a.email.clone(), a.webhooks.clone())
            .and_then(|n| n.with_channels(a.channels.clone()))
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        let (pool, repeat) = (shared.state_db.clone(), Duration::from_secs(a.repeat_interval_minutes * 60));
        let (runbooks, url) = (config.dashboard.runbook_base_url.clone(), url.clone());
        let (store, slos, pathways) = (store.clone(), shared.sources.slos.to_vec(), shared.sources.pathways.to_vec());
        let every = Duration::from_secs(a.evaluate_every_secs);
        process.spawn_while_leading("alert engine", &leading, move |fence| {
            let engine = engine::alerts::AlertEngine::new(pool.clone(), notifier.clone(), repeat, &runbooks, &url);
            engine.fenced(fence).run(store.clone(), slos.clone(), pathways.clone(), every)
        });
        parts.push("alerts");
    }
    if let (Some(mailer), false) = (&mailer, config.reports.schedules.is_empty()) {
        let (sources, state_db, hazards) = (shared.sources.clone(), shared.state_db.clone(), shared.hazards.clone());
        let (deployment, mailer, schedules) = (config.deployment(), mailer.clone(), config.reports.schedules.clone());
        process.spawn_while_leading("report delivery", &leading, move |_| {
            let delivery = engine::report_delivery::ReportDelivery::new(
                sources.clone(),
                state_db.clone(),
                hazards.clone(),
                deployment.clone(),
                mailer.clone(),
            );
            delivery.run(schedules.clone())
        });
        parts.push("report delivery");
    }
    let (audit_config, audit_mailer, audit_url) = (config.audit.clone(), mailer.clone(), url.clone());
    let findings = shared.findings.clone();
    process.spawn_while_leading("audit monitor", &leading, move |_| {
        let monitor = engine::audit_monitor::AuditMonitor::new(
            store.clone(),
            findings.clone(),
            audit_config.clone(),
            audit_mailer.clone(),
            audit_url.clone(),
        );
        monitor.run()
    });
    parts.push("audit rules");
    let (sources, hazards, evidence_config) = (shared.sources.clone(), shared.hazards.clone(), config.evidence.clone());
    process.spawn_while_leading("evidence monitor", &leading, move |_| {
        let monitor = engine::evidence_monitor::EvidenceMonitor::new(
            sources.clone(),
            hazards.clone(),
            evidence_config.clone(),
            mailer.clone(),
            url.clone(),
        );
        monitor.run()
    });
    parts.push("evidence and the audit chain");
    process.lines.push(format!("monitor: {}", parts.join(", ")));
    if process.mode == Mode::Only(Role::Monitor) {
        let listen = config.roles.monitor_listen;
        let app = role_metrics::routes(process.loops.states(), process.lease_views(), None).merge(health.routes());
        process.serve(listen, "roles.monitor_listen", app).await?;
        process.lines.push(format!("monitor health: http://{listen} (/healthz, /readyz, /metrics)"));
    }
    Ok(())
}
