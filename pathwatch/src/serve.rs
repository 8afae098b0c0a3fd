//! Wiring for the long-running modes: open the store, start the collector (and, standalone, the
//! dashboard), run retention, stop cleanly on SIGINT/SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use audit_store::{AnyStore, ClickHouseStore, DataKind, SqliteStore, TelemetryStore, NANOS_PER_DAY};
use collector::metrics::Metrics;
use collector::spool::Spool;
use collector::{CollectorState, IngestTokens, Sink};

use crate::config::{persistent_secret, Backend, Config};
use crate::supervisor::Supervisor;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `pathwatch up`: everything, zero configuration.
    Standalone,
    /// `pathwatch collector`: ingest only; refuses to start without configured tokens.
    Collector,
}

/// Whether opening a store may create it: the services may, one-shot commands may not (a typo in
/// `--data-dir` must say "no data here", not show an empty store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    CreateIfMissing,
    ExistingOnly,
}

/// Opens the configured telemetry store (creating SQLite file or ClickHouse schema as needed).
pub async fn open_store(config: &Config, open: Open) -> anyhow::Result<AnyStore> {
    let sqlite_path = config.data_dir.join("telemetry.db");
    if open == Open::ExistingOnly && config.store.backend == Backend::Sqlite && !sqlite_path.exists() {
        anyhow::bail!(
            "no Pathwatch data in {}: {} does not exist (pass --data-dir, or set key `data_dir`)",
            config.data_dir.display(),
            sqlite_path.display()
        );
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    Ok(match config.store.backend {
        Backend::Sqlite => {
            let path = sqlite_path;
            AnyStore::Sqlite(SqliteStore::open(&path).await.with_context(|| format!("opening {}", path.display()))?)
        }
        Backend::Clickhouse => {
            let store = ClickHouseStore::connect(&config.store.clickhouse).await.with_context(|| {
                format!("connecting to ClickHouse at {} (key `store.clickhouse.url`)", config.store.clickhouse.url)
            })?;
            AnyStore::ClickHouse(Box::new(store))
        }
    })
}

/// The ingest token `pathwatch up` made for itself, and whether it was made just now.
struct GeneratedToken {
    token: String,
    new: bool,
}

/// The configured tokens (and, for `pathwatch up` without any, one generated and kept in the data
/// directory), plus the token the built-in canaries export with: only a token of source
/// `pathwatch-canary` may write canary spans, and `pathwatch up` makes one in memory when none is
/// configured.
fn ingest_tokens(
    config: &Config,
    mode: Mode,
) -> anyhow::Result<(IngestTokens, Option<GeneratedToken>, Option<String>)> {
    let mut tokens: Vec<(String, String)> =
        config.collector.ingest_tokens.iter().map(|(s, t)| (s.clone(), t.clone())).collect();
    let canary = collector::auth::CANARY_SOURCE;
    let mut canary_token = config.collector.ingest_tokens.get(canary).cloned();
    if let Some(token) = &config.ingest_token {
        tokens.push(("default".into(), token.clone()));
    }
    let mut generated = None;
    if tokens.is_empty() {
        match mode {
            Mode::Standalone => {
                let (token, new) = persistent_secret(&config.data_dir, "ingest.token")?;
                tokens.push(("default".into(), token.clone()));
                generated = Some(GeneratedToken { token, new });
            }
            Mode::Collector => anyhow::bail!(
                "no ingest token configured: set PATHWATCH_INGEST_TOKEN or key `collector.ingest_tokens.<source>`"
            ),
        }
    }
    if mode == Mode::Standalone && canary_token.is_none() {
        let token = collector::auth::generate_token().map_err(|e| anyhow::anyhow!("no randomness for a token: {e}"))?;
        tokens.push((canary.into(), token.clone()));
        canary_token = Some(token);
    }
    Ok((IngestTokens::new(tokens), generated, canary_token))
}

pub async fn run(config: Config, mode: Mode) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let (tokens, generated_token, canary_token) = ingest_tokens(&config, mode)?;
    let pseudonym_key = match &config.privacy.pseudonym_key {
        Some(key) => key.clone(),
        None => persistent_secret(&config.data_dir, "pseudonym.key")?.0,
    };
    // Canary results on the collector's /metrics (`probe_success`, `probe_duration_seconds`,
    // `pathwatch_canary_runs_total`), read by `pathwatch slo rules`' rules.
    // Only where canaries run: a bare collector has no canary results to report.
    let canary_metrics = (mode == Mode::Standalone).then(|| crate::slo::canary_metrics(&config));
    let metrics = Arc::new(Metrics::with_more(|registry| {
        if let Some(m) = &canary_metrics {
            m.register(registry)
        }
    }));
    let store = open_store(&config, Open::CreateIfMissing).await?;
    // Owns every background loop until the servers stop (see `supervisor`).
    let mut loops = Supervisor::new(config.supervisor.exit_after_failures);
    let mut lines = Vec::new();
    let mut spool_for_health = None;
    // What is left in the spool is handed to ClickHouse at shutdown, for a while.
    let mut drain_on_exit = None;
    let sink = match &store {
        AnyStore::Sqlite(sqlite) => {
            lines.push(format!("store: SQLite at {}", config.data_dir.join("telemetry.db").display()));
            Sink::Sqlite(sqlite.clone())
        }
        AnyStore::ClickHouse(ch) => {
            let path = config.data_dir.join("spool.db");
            let spool = Arc::new(
                Spool::open(&path, config.collector.spool_max_bytes, metrics.clone())
                    .await
                    .with_context(|| format!("opening spool {}", path.display()))?,
            );
            let (batches, bytes) = spool.depth();
            lines.push(format!(
                "store: ClickHouse {} at {} (spool {}: {batches} batches, {bytes} bytes waiting)",
                ch.server_version(),
                config.store.clickhouse.url,
                path.display()
            ));
            let (drained, clickhouse) = (spool.clone(), (**ch).clone());
            loops.spawn_critical("spool drainer", move || drained.clone().drain_forever(clickhouse.clone()));
            spool_for_health = Some(spool.clone());
            drain_on_exit = Some((spool.clone(), (**ch).clone()));
            Sink::Spool(spool)
        }
    };
    let health = crate::health::ProcessHealth::new(
        loops.states(),
        store.clone(),
        spool_for_health,
        config.supervisor.unhealthy_after_failures,
    );
    let collector_listen = config.collector.listen;
    // The built-in canaries write as their own source, the only one whose canary spans count.
    let export_token = canary_token;
    let state = CollectorState::new(
        config.collector.clone(),
        tokens,
        sink,
        pseudonym_key.into_bytes(),
        metrics,
        domain::Clock::System,
    );
    // What dashboard users do with audit data goes into the chain through this process's writer.
    let writer = state.writer.clone();
    let recorder: dashboard::audit_trail::Recorder = std::sync::Arc::new(move |event| {
        let writer = writer.clone();
        Box::pin(async move {
            let batch = audit_store::IngestBatch { spans: Vec::new(), audit: vec![event] };
            writer.write(batch, Default::default()).await.map(|_| ()).map_err(|e| e.to_string())
        })
    });
    let collector_listener = tokio::net::TcpListener::bind(collector_listen)
        .await
        .with_context(|| format!("binding collector to {collector_listen} (key `collector.listen`)"))?;
    lines.push(format!(
        "collector: http://{collector_listen} (POST /v1/traces OTLP/HTTP, POST /v1/audit, GET /metrics, /healthz, /readyz)"
    ));
    // The token is printed once, when it is made: after that the log (often a system journal
    // others can read) says only where it is kept.
    let token_file = config.data_dir.join("ingest.token");
    match &generated_token {
        Some(GeneratedToken { token, new: true }) => lines
            .push(format!("ingest token (generated now, kept in {}; not shown again): {token}", token_file.display())),
        Some(GeneratedToken { new: false, .. }) => lines.push(format!("ingest token: in {}", token_file.display())),
        None => {}
    }
    let mut servers = tokio::task::JoinSet::new();
    let limits = crate::listener::Limits {
        header_timeout: Duration::from_secs(config.collector.header_timeout_secs),
        max_connections: config.collector.max_connections,
    };
    let app = collector::router(state).merge(health.routes());
    servers.spawn(crate::listener::serve(collector_listener, app, limits, shutdown_signal()));
    // Held until the servers stop: dropping it stops the sandboxes.
    let mut _sandbox = None;
    if mode == Mode::Standalone {
        if config.sandbox.enabled {
            let sandbox = crate::demo::start_sandbox(&config).await?;
            lines.push(crate::demo::describe_sandbox(&sandbox.urls()));
            _sandbox = Some(sandbox);
            lines.push(crate::demo::load_starter_hazards(&config.data_dir).await?);
        }
        if let Some(line) = start_canaries(&config, export_token, canary_metrics.clone(), &mut loops)? {
            lines.push(line);
        }
        let listen = config.dashboard.listen;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding dashboard to {listen} (key `dashboard.listen`)"))?;
        lines.push(format!("dashboard: http://{listen} (sign in)"));
        // The page shows what runs, never a secret.
        let parts = dashboard::RunningParts {
            lines: lines.iter().filter(|l| !l.starts_with("ingest token")).cloned().collect(),
        };
        let (state, admin_line) = open_dashboard(&config, parts, store.clone(), recorder, &mut loops, &health).await?;
        lines.extend(admin_line);
        let app = dashboard::web::router(state).merge(health.routes());
        servers.spawn(crate::listener::serve(listener, app, limits, shutdown_signal()));
    }
    let (spans_days, audit_days) = (config.retention.spans_days, config.retention.audit_days);
    loops.spawn("retention", move || retention(store.clone(), spans_days, audit_days));
    for line in &lines {
        println!("{line}");
    }
    println!("ready");
    let gave_up = loops.gave_up();
    tokio::select! {
        result = async {
            while let Some(result) = servers.join_next().await {
                result.context("server task")?;
            }
            anyhow::Ok(())
        } => result?,
        why = gave_up => anyhow::bail!("{why}"),
    }
    // The servers have answered every request they took; every batch acknowledged is durable.
    // Stop the loops, then give the spool a last chance to reach ClickHouse.
    drop(loops);
    if let Some((spool, clickhouse)) = drain_on_exit {
        drain_before_exit(&spool, &clickhouse, Duration::from_secs(config.supervisor.shutdown_drain_secs)).await;
    }
    Ok(())
}

/// Hands what the spool holds to ClickHouse for at most `within`; what is left stays on disk and
/// drains at the next start.
async fn drain_before_exit(spool: &Spool, clickhouse: &ClickHouseStore, within: Duration) {
    let (batches, _) = spool.depth();
    if batches == 0 {
        return;
    }
    let drained = tokio::time::timeout(within, async {
        let mut moved = 0;
        loop {
            match spool.drain_step(clickhouse, 64).await {
                Ok(0) => return Ok(moved),
                Ok(n) => moved += n,
                Err(e) => return Err(e),
            }
        }
    })
    .await;
    let (left, bytes) = spool.depth();
    match drained {
        Ok(Ok(moved)) => tracing::info!(moved, "spool drained to ClickHouse before exit"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, left, bytes, "spool not drained before exit; it drains at the next start")
        }
        Err(_) => tracing::warn!(
            left,
            bytes,
            "spool not drained within key `supervisor.shutdown_drain_secs`; the rest drains at the next start"
        ),
    }
}

/// Where people reach the dashboard, for links in notifications.
pub fn public_url(d: &crate::config::DashboardConfig) -> String {
    if !d.public_url.is_empty() {
        return d.public_url.trim_end_matches('/').to_string();
    }
    let mut addr = d.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    format!("http://{addr}")
}

/// Opens the dashboard's accounts and sessions; on a first start creates the `admin` account and
/// returns the line that says how to sign in (a generated one-time password is shown only there).
async fn open_dashboard(
    config: &Config,
    parts: dashboard::RunningParts,
    store: AnyStore,
    recorder: dashboard::audit_trail::Recorder,
    loops: &mut Supervisor,
    health: &crate::health::ProcessHealth,
) -> anyhow::Result<(dashboard::state::DashboardState, Option<String>)> {
    use dashboard::auth::accounts::{Accounts, FirstAdmin};
    let path = config.data_dir.join("dashboard.db");
    let accounts = Accounts::open(&path).await.with_context(|| format!("opening {}", path.display()))?;
    let env_password = std::env::var("PATHWATCH_ADMIN_PASSWORD").ok().filter(|p| !p.is_empty());
    let first = accounts.ensure_first_admin(env_password.as_deref()).await.context("PATHWATCH_ADMIN_PASSWORD")?;
    let line = match first {
        FirstAdmin::AlreadySetUp => None,
        FirstAdmin::FromEnvironment => {
            Some("dashboard admin: account `admin` created with PATHWATCH_ADMIN_PASSWORD".into())
        }
        FirstAdmin::Generated(password) => Some(format!(
            "dashboard admin: account `admin`, one-time password {password} (shown once; change it at first sign-in, within 24 hours)"
        )),
    };
    let d = &config.dashboard;
    let web = dashboard::state::WebConfig {
        idle_timeout: Duration::from_secs(d.idle_timeout_minutes * 60),
        max_session: Duration::from_secs(d.max_session_hours * 3600),
        cookie_secure: d.cookie_secure,
        max_failures: d.max_failed_sign_ins,
        failure_window: Duration::from_secs(d.failed_sign_in_window_minutes * 60),
        trusted_proxies: d.trusted_proxies.iter().filter_map(|c| crate::config_check::parse_cidr(c)).collect(),
    };
    if config.alerts.enabled {
        let a = &config.alerts;
        let notifier = engine::notify::Notifier::new(a.email.clone(), a.webhooks.clone())
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        let (pool, repeat) = (accounts.pool().clone(), Duration::from_secs(a.repeat_interval_minutes * 60));
        let (runbooks, url) = (d.runbook_base_url.clone(), public_url(d));
        let (store, slos, pathways) = (store.clone(), config.effective_slos(), config.effective_pathways());
        let every = Duration::from_secs(a.evaluate_every_secs);
        loops.spawn("alert engine", move || {
            let engine = engine::alerts::AlertEngine::new(pool.clone(), notifier.clone(), repeat, &runbooks, &url);
            engine.run(store.clone(), slos.clone(), pathways.clone(), every)
        });
    }
    let hazards_path = config.data_dir.join("hazards.db");
    let hazards = hazard_log::HazardLog::open(&hazards_path)
        .await
        .with_context(|| format!("opening the hazard log {}", hazards_path.display()))?;
    let audit_store_for_monitor = store.clone();
    let findings_path = crate::audit_review::findings_path(config);
    let findings = audit_review::ReviewStore::open(&findings_path)
        .await
        .with_context(|| format!("opening the audit findings {}", findings_path.display()))?;
    // What the pages and the monitors read, built once and shared.
    let sources = engine::Sources {
        telemetry: Some(store),
        slos: config.effective_slos().into(),
        pathways: config.effective_pathways().into(),
        hazards: Some(hazards.clone()),
        findings: Some(findings.clone()),
        evidence_every: Some(Duration::from_secs(config.evidence.check_every_minutes.max(1) * 60)),
        clock: domain::Clock::System,
    };
    let state_db = accounts.pool().clone();
    let mut builder = dashboard::state::DashboardState::builder(accounts, parts, web)
        .with_sources(sources.clone())
        .with_reports(config.deployment())
        .with_audit_recorder(recorder)
        .with_health(health.source());
    health.read_chain_from(hazards.clone());
    if let Some(oidc) = &d.oidc {
        builder = builder.with_oidc(crate::oidc_config::provider(oidc, &public_url(d))?);
    }
    let state = builder.build();
    let mailer = config.mailer()?;
    if let (Some(mailer), false) = (&mailer, config.reports.schedules.is_empty()) {
        let (sources, state_db, hazards, deployment, mailer) =
            (sources.clone(), state_db.clone(), hazards.clone(), config.deployment(), mailer.clone());
        let schedules = config.reports.schedules.clone();
        loops.spawn("report delivery", move || {
            let delivery = engine::report_delivery::ReportDelivery::new(
                sources.clone(),
                state_db.clone(),
                hazards.clone(),
                deployment.clone(),
                mailer.clone(),
            );
            delivery.run(schedules.clone())
        });
    }
    let (audit_config, audit_mailer, url) = (config.audit.clone(), mailer.clone(), public_url(d));
    loops.spawn("audit monitor", move || {
        let store = audit_store_for_monitor.clone();
        let monitor = engine::audit_monitor::AuditMonitor::new(
            store,
            findings.clone(),
            audit_config.clone(),
            audit_mailer.clone(),
            url.clone(),
        );
        monitor.run()
    });
    let (evidence_sources, evidence_config, url) = (sources.clone(), config.evidence.clone(), public_url(d));
    loops.spawn("evidence monitor", move || {
        let monitor = engine::evidence_monitor::EvidenceMonitor::new(
            evidence_sources.clone(),
            hazards.clone(),
            evidence_config.clone(),
            mailer.clone(),
            url.clone(),
        );
        monitor.run()
    });
    if d.oidc.is_some() {
        // Fetches the provider's discovery document now so a mistake shows in the log at start-up;
        // sign-ins fetch it again if this fails.
        tokio::spawn(state.clone().check_oidc());
    }
    Ok((state, line))
}

/// Starts the scheduled canaries (standalone mode): the configured flows, or the built-in four
/// against our sandboxes, exporting their traces to this process's collector unless configured
/// otherwise. Returns the line to print, or None when there is nothing to run.
fn start_canaries(
    config: &Config,
    export_token: Option<String>,
    metrics: Option<canaries::metrics::CanaryMetrics>,
    loops: &mut Supervisor,
) -> anyhow::Result<Option<String>> {
    if !config.canaries.enabled || (!config.sandbox.enabled && config.canaries.flows.is_empty()) {
        return Ok(None);
    }
    let mut with_demo = config.clone();
    crate::demo::add_demo_environment(&mut with_demo)?;
    let mut canary_config = with_demo.canaries;
    if canary_config.export.otlp_endpoint.is_none() {
        let mut addr = config.collector.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        canary_config.export.otlp_endpoint = Some(format!("http://{addr}/v1/traces"));
        canary_config.export.token = export_token.map(canaries::SecretRef::inline);
    }
    let canaries = Arc::new(canaries::Canaries::new(&canary_config)?);
    let flows: Vec<String> =
        canaries.flows().iter().map(|f| format!("{} ({})", f.config.name, f.config.schedule)).collect();
    let line = format!(
        "canaries: {} → {}",
        flows.join(", "),
        canary_config.export.otlp_endpoint.as_deref().unwrap_or("not exported")
    );
    let recorded = canaries.clone();
    // Subscribed now, before the scheduler starts: a first run that finished before the recording
    // loop got going would not be counted. A restarted loop subscribes afresh.
    let first = std::sync::Mutex::new(Some(canaries.subscribe()));
    loops.spawn("canary metrics", move || {
        let runs = first.lock().ok().and_then(|mut f| f.take()).unwrap_or_else(|| recorded.subscribe());
        record_canary_runs(runs, metrics.clone())
    });
    let scheduled = canaries.clone();
    loops.spawn("canary scheduler", move || {
        let scheduled = scheduled.clone();
        async move {
            scheduled.run_scheduled(shutdown_signal()).await;
            // Stopped for the shutdown: nothing to restart while the servers drain.
            std::future::pending::<()>().await
        }
    });
    Ok(Some(line))
}

/// Counts each finished canary run on the collector's /metrics.
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

/// Drops whole days past their retention period, once at start and then hourly.
async fn retention(store: AnyStore, spans_days: u32, audit_days: u32) {
    loop {
        let today = (domain::system_now_ns() / NANOS_PER_DAY) as i64;
        for (kind, days) in [(DataKind::Spans, spans_days), (DataKind::AuditEvents, audit_days)] {
            if let Err(e) = store.drop_days_before(kind, today - i64::from(days)).await {
                tracing::warn!(error = %e, ?kind, "retention could not drop old data; will retry in an hour");
            }
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    /// The report delivery and the evidence monitor keep clones of the dashboard state, and a
    /// shared state cannot change: single sign-on and the audit pages set after them were lost
    /// (a debug build panics on it). Everything is set first now.
    #[tokio::test]
    async fn the_dashboard_keeps_single_sign_on_and_the_audit_pages_alongside_report_schedules() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("oidc-secret");
        std::fs::write(&secret, "s3cret").unwrap();
        let file = dir.path().join("pathwatch.toml");
        std::fs::write(
            &file,
            format!(
                r#"
[dashboard]
public_url = "http://127.0.0.1:8080"

[dashboard.oidc]
display_name = "Test provider"
issuer = "http://127.0.0.1:9"
client_id = "pathwatch"
client_secret = {{ file = "{}" }}
roles = {{ "pathwatch-oncall" = "oncall" }}

[alerts.email]
smtp_host = "127.0.0.1"
smtp_port = 9
security = "none"
from = "pathwatch@example.org"
to = ["oncall@example.org"]

[[reports.schedules]]
report = "dtac"
cron = "0 0 6 * * Mon"
period_days = 7
to = ["cso@example.org"]
"#,
                secret.display()
            ),
        )
        .unwrap();
        let config = crate::config::load(Some(&file), Some(dir.path())).unwrap();
        let store = AnyStore::Sqlite(audit_store::SqliteStore::open(&dir.path().join("telemetry.db")).await.unwrap());
        let recorder: dashboard::audit_trail::Recorder = std::sync::Arc::new(|_| Box::pin(async { Ok(()) }));
        let parts = dashboard::RunningParts { lines: vec![] };
        let mut loops = Supervisor::default();
        let health = crate::health::ProcessHealth::new(loops.states(), store.clone(), None, 3);
        let (state, _) = open_dashboard(&config, parts, store, recorder, &mut loops, &health).await.unwrap();
        let page = |path: &'static str| {
            let app = dashboard::web::router(state.clone());
            async move {
                let request = axum::http::Request::get(path).body(axum::body::Body::empty()).unwrap();
                let body = app.oneshot(request).await.unwrap().into_body();
                String::from_utf8_lossy(&axum::body::to_bytes(body, usize::MAX).await.unwrap()).to_string()
            }
        };
        assert!(page("/login").await.contains("Sign in with Test provider"), "single sign-on is offered");
        assert!(state.has_audit_pages(), "findings and the recorder of auditors' actions are there");
    }
}
