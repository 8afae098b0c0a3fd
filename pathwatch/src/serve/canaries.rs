//! The canaries role: the scheduler running each flow on its cron, exporting each run's trace to
//! the collector, and counting results for `/metrics`. It keeps no store.

use std::sync::Arc;

use super::{role_metrics, Mode, Process, Role};
use crate::config::Config;

/// The token the canaries export with: `collector.ingest_tokens.pathwatch-canary` when set; in
/// one process without it, one made now and given only to this process's collector; apart without
/// it, an error naming the key (no other token may write canary spans).
pub(crate) fn export_token(config: &Config, mode: Mode) -> anyhow::Result<Option<String>> {
    if !mode.runs(Role::Canaries) {
        return Ok(None);
    }
    if let Some(token) = config.collector.ingest_tokens.get(collector::auth::CANARY_SOURCE) {
        return Ok(Some(token.clone()));
    }
    match mode {
        Mode::Standalone => {
            collector::auth::generate_token().map(Some).map_err(|e| anyhow::anyhow!("no randomness for a token: {e}"))
        }
        // A token configured for the export (on a host that holds only its own) needs nothing more.
        Mode::Only(_) if config.canaries.export.token.is_some() || config.canaries.export.otlp_endpoint.is_some() => {
            Ok(None)
        }
        Mode::Only(_) => anyhow::bail!(
            "the canaries run apart from the collector: set key `collector.ingest_tokens.{}` (the same value \
             for both), or `canaries.export.otlp_endpoint` and `canaries.export.token`",
            collector::auth::CANARY_SOURCE
        ),
    }
}

/// Starts the scheduled canaries: the configured flows, or the built-in four against our
/// sandboxes, exporting their traces to the collector unless configured otherwise. Apart, it also
/// serves `/healthz`, `/readyz` and `/metrics` on `roles.canaries_listen`.
pub(crate) async fn start(
    process: &mut Process<'_>,
    export_token: Option<String>,
    metrics: Option<canaries::metrics::CanaryMetrics>,
    health: &crate::health::ProcessHealth,
) -> anyhow::Result<()> {
    let config = process.config;
    let alone = process.mode == Mode::Only(Role::Canaries);
    if !config.canaries.enabled || (!config.sandbox.enabled && config.canaries.flows.is_empty()) {
        if alone {
            anyhow::bail!(
                "nothing to run: no flows under `canaries.flows`, and `sandbox.enabled` is off (no demo flows)"
            );
        }
        return Ok(());
    }
    let mut with_demo = config.clone();
    crate::demo::add_demo_environment(&mut with_demo)?;
    let mut canary_config = with_demo.canaries;
    if canary_config.export.otlp_endpoint.is_none() {
        // In one process, this process's own collector (the token made in memory goes nowhere else).
        let collector = match process.mode {
            Mode::Standalone => {
                let mut addr = config.collector.listen;
                if addr.ip().is_unspecified() {
                    addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                }
                format!("http://{addr}")
            }
            Mode::Only(_) => config.collector_url(),
        };
        canary_config.export.otlp_endpoint = Some(format!("{collector}/v1/traces"));
        if let Some(token) = export_token {
            canary_config.export.token = Some(canaries::SecretRef::inline(token));
        }
    }
    let canaries = Arc::new(canaries::Canaries::new(&canary_config)?);
    let flows: Vec<String> =
        canaries.flows().iter().map(|f| format!("{} ({})", f.config.name, f.config.schedule)).collect();
    process.lines.push(format!(
        "canaries: {} → {}",
        flows.join(", "),
        canary_config.export.otlp_endpoint.as_deref().unwrap_or("not exported")
    ));
    let recorded = canaries.clone();
    // Subscribed now, before the scheduler starts: a first run that finished before the recording
    // loop got going would not be counted. A restarted loop subscribes afresh.
    let first = std::sync::Mutex::new(Some(canaries.subscribe()));
    let counted = metrics.clone();
    process.loops.spawn("canary metrics", move || {
        let runs = first.lock().ok().and_then(|mut f| f.take()).unwrap_or_else(|| recorded.subscribe());
        record_canary_runs(runs, counted.clone())
    });
    // Where instances share the state (PostgreSQL), one scheduler runs: the `canaries` lease's
    // holder. With SQLite state there is one machine, and this role keeps no database.
    // The credential checks run beside the scheduler (on the same instance, where one leads).
    let scheduled = canaries.clone();
    // Read now, as the connections were built: what the canaries present until they restart.
    let (checked, check_metrics) = (Arc::new(credential_inventory(config, &canary_config)), metrics.clone());
    let schedule = move || {
        let (scheduled, checked, check_metrics) = (scheduled.clone(), checked.clone(), check_metrics.clone());
        async move {
            tokio::select! {
                () = scheduled.clone().run_scheduled(super::shutdown_signal()) => {}
                () = check_credentials(scheduled.clone(), checked, check_metrics.clone()) => {}
                () = watch_backlogs(scheduled, check_metrics) => {}
            }
            // Stopped for the shutdown: nothing to restart while the servers drain.
            std::future::pending::<()>().await
        }
    };
    if config.state.backend == crate::state_config::StateBackend::Postgres {
        let leading = process.contend(super::leader::CANARIES_LEASE, "canary lease", config.open_state().await?);
        process.spawn_while_leading("canary scheduler", &leading, move |_| schedule());
    } else {
        process.loops.spawn("canary scheduler", schedule);
    }
    if alone {
        let listen = config.roles.canaries_listen;
        let app = role_metrics::routes(process.loops.states(), process.lease_views(), metrics).merge(health.routes());
        process.serve(listen, "roles.canaries_listen", app).await?;
        process.lines.push(format!("canaries health: http://{listen} (/healthz, /readyz, /metrics)"));
    }
    Ok(())
}

/// How often the credentials are reported again (the reader counts the days).
const CREDENTIAL_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);
/// How soon a check the collector did not take is made again.
const CREDENTIAL_RETRY: std::time::Duration = std::time::Duration::from_secs(15);

/// Every expiring credential the deployment uses, read now: the canaries' certificates and keys,
/// and the dashboard's OIDC client secret when its expiry is stated (reported by the canaries, so
/// only where they run).
pub(crate) fn credential_inventory(
    config: &Config,
    canary_config: &canaries::CanaryConfig,
) -> Vec<canaries::expiry::Credential> {
    use canaries::expiry::{date_seconds, Credential, Kind};
    let mut all = canaries::expiry::inventory(canary_config);
    if let Some(oidc) = &config.dashboard.oidc {
        if let (Some(_), Some(date)) = (&oidc.client_secret, &oidc.client_secret_expires) {
            all.push(Credential {
                id: "dashboard/oidc.client_secret".into(),
                kind: Kind::OidcClientSecret,
                environment: String::new(),
                subject: oidc.client_id.clone(),
                not_after: date_seconds(date),
                problem: date_seconds(date).is_none().then(|| format!("{date:?} is not a date (YYYY-MM-DD)")),
            });
        }
    }
    all
}

/// Reports `credentials` (read at start) at once and then every hour, to the collector (the
/// dashboard and the alert engine read the newest report, counting the days left themselves) and
/// to `/metrics`.
async fn check_credentials(
    canaries: Arc<canaries::Canaries>,
    credentials: Arc<Vec<canaries::expiry::Credential>>,
    metrics: Option<canaries::metrics::CanaryMetrics>,
) {
    if let Some(m) = &metrics {
        m.record_credentials(&credentials);
    }
    loop {
        let wait = match canaries.report_credentials(&credentials).await {
            Ok(()) => CREDENTIAL_CHECK_EVERY,
            Err(e) => {
                tracing::warn!(error = %e, "the credential check was not exported; trying again shortly");
                CREDENTIAL_RETRY
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// Reads each environment's watched MESH inboxes at once and then every `mesh.backlog_interval_s`,
/// reporting each check to the collector and to `/metrics`. Never returns: nothing watched, it
/// waits; a check that panicked is logged and made again at the next interval.
async fn watch_backlogs(canaries: Arc<canaries::Canaries>, metrics: Option<canaries::metrics::CanaryMetrics>) {
    use futures_util::FutureExt;
    let watchers = canaries.watched_environments().into_iter().map(|env| {
        let (canaries, metrics) = (canaries.clone(), metrics.clone());
        async move {
            let every = env.mesh.as_ref().map_or(std::time::Duration::from_secs(300), |m| m.backlog_interval);
            // Checks start every interval, however long one takes (a late one is not caught up).
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let one = async {
                    let (checks, reported) = canaries.check_backlog(&env).await;
                    if let Some(m) = &metrics {
                        m.record_backlog(&checks);
                    }
                    if let Err(e) = reported {
                        tracing::warn!(environment = %env.name, error = %e, "the MESH inbox check was not exported");
                    }
                };
                if std::panic::AssertUnwindSafe(one).catch_unwind().await.is_err() {
                    tracing::error!(environment = %env.name, "the MESH inbox check panicked");
                }
            }
        }
    });
    futures_util::future::join_all(watchers).await;
    std::future::pending::<()>().await
}

/// Counts each finished canary run for `/metrics`.
async fn record_canary_runs(
    mut runs: tokio::sync::broadcast::Receiver<Arc<canaries::CanaryRun>>,
    metrics: Option<canaries::metrics::CanaryMetrics>,
) {
    loop {
        match runs.recv().await {
            Ok(run) => {
                if let Some(m) = &metrics {
                    m.record(&run)
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "canary metrics fell behind; some runs not counted");
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}
