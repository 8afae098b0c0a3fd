//! Wiring for the long-running roles. `pathwatch up` runs every role in one process; each role
//! subcommand runs one: the collector (ingest, retention, the spool), the dashboard (pages and the
//! API), the monitor (alerts, evidence, audit rules, report delivery) and the canaries (the
//! scheduler). The same code starts a role either way; only how the roles reach each other differs:
//! in one process the dashboard records auditors' actions through the collector's writer and the
//! canaries' results are counted on the collector's `/metrics`; apart, they go over HTTP to
//! `roles.collector_url` with the tokens `collector.ingest_tokens.pathwatch-dashboard` and
//! `collector.ingest_tokens.pathwatch-canary`.
//!
//! Every role answers `/healthz`, `/readyz` and `/metrics`, owns its loops through one
//! [`Supervisor`], and stops cleanly on SIGINT/SIGTERM.

mod canaries;
mod collector;
mod dashboard;
mod leader;
mod monitor;
mod role_metrics;

use std::time::Duration;

use anyhow::Context;
use audit_store::{AnyStore, ClickHouseStore, SqliteStore};
use tokio::task::JoinSet;

use crate::config::{Backend, Config};
use crate::supervisor::Supervisor;

pub use self::dashboard::public_url;

/// What would stop a role run apart from starting, or start it with less than it could do: for
/// `pathwatch config check`, which runs none of them.
pub(crate) fn apart_warnings(config: &Config) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Err(e) = canaries::export_token(config, Mode::Only(Role::Canaries)) {
        warnings.push(format!("`pathwatch canaries` would not start: {e}"));
    }
    if dashboard::auditors_token(config).is_none() {
        warnings.push(format!(
            "`pathwatch dashboard` would run with the audit pages off: it records what auditors do through the \
             collector, with key `roles.dashboard_token` or `collector.ingest_tokens.{}`",
            ::collector::auth::AUDITOR_SOURCE
        ));
    }
    warnings
}

/// One part of Pathwatch that can run as its own process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Collector,
    Dashboard,
    Monitor,
    Canaries,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `pathwatch up`: every role in one process, zero configuration, with the demo sandboxes.
    Standalone,
    /// One role alone, configured to reach the others.
    Only(Role),
}

impl Mode {
    pub fn runs(self, role: Role) -> bool {
        self == Mode::Standalone || self == Mode::Only(role)
    }
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

/// What a running process is made of, shared by the roles it runs while they start.
pub(crate) struct Process<'a> {
    pub config: &'a Config,
    pub mode: Mode,
    pub loops: Supervisor,
    pub servers: JoinSet<()>,
    /// What is printed at start-up, one line per part.
    pub lines: Vec<String>,
    pub limits: crate::listener::Limits,
    /// Leases this process may hold, given up at shutdown.
    pub leases: Vec<(&'static str, state::Pool, tokio::sync::watch::Receiver<Option<state::lease::Fence>>)>,
}

impl Process<'_> {
    /// The leases this process may hold, for its `/metrics`.
    fn lease_views(&self) -> Vec<role_metrics::LeaseView> {
        self.leases.iter().map(|(name, _, leading)| (*name, leading.clone())).collect()
    }

    /// Serves `app` on `addr` (named by `key` in errors) until shutdown.
    async fn serve(&mut self, addr: std::net::SocketAddr, key: &str, app: axum::Router) -> anyhow::Result<()> {
        let listener = bind(addr, key).await?;
        self.serve_on(listener, app);
        Ok(())
    }

    /// Serves gRPC (`app`) over HTTP/2 on `addr` until shutdown; the address it took (`addr` may ask
    /// for port 0).
    async fn serve_grpc(
        &mut self,
        addr: std::net::SocketAddr,
        key: &str,
        app: axum::Router,
    ) -> anyhow::Result<std::net::SocketAddr> {
        let listener = bind(addr, key).await?;
        let bound = listener.local_addr().unwrap_or(addr);
        let protocol = crate::listener::Protocol::Http2;
        self.servers.spawn(crate::listener::serve(listener, app, self.limits, protocol, shutdown_signal()));
        Ok(bound)
    }

    /// Serves `app` on a listener already bound (a role that must know its port is its own before
    /// it does anything else binds first).
    fn serve_on(&mut self, listener: tokio::net::TcpListener, app: axum::Router) {
        let protocol = crate::listener::Protocol::Http1;
        self.servers.spawn(crate::listener::serve(listener, app, self.limits, protocol, shutdown_signal()));
    }
}

async fn bind(addr: std::net::SocketAddr, key: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr} (key `{key}`)"))
}

/// Opens a store, trying again a few times: roles started together open (and on a first start or
/// an upgrade, migrate) the same SQLite files, and the one that loses the race to create a table
/// finds it made on the next try.
async fn open_retrying<T, F>(what: &str, mut open: impl FnMut() -> F) -> anyhow::Result<T>
where
    F: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut attempt = 1;
    loop {
        match open().await {
            Ok(opened) => return Ok(opened),
            Err(e) if attempt < OPEN_ATTEMPTS => {
                tracing::warn!(error = %format!("{e:#}"), attempt, "opening {what}; trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

const OPEN_ATTEMPTS: u32 = 5;

pub async fn run(config: Config, mode: Mode) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let mut process = Process {
        config: &config,
        mode,
        loops: Supervisor::new(config.supervisor.exit_after_failures),
        servers: JoinSet::new(),
        lines: Vec::new(),
        limits: crate::listener::Limits {
            header_timeout: Duration::from_secs(config.collector.header_timeout_secs),
            max_connections: config.collector.max_connections,
        },
        leases: Vec::new(),
    };
    // The canaries' results, counted on the collector's /metrics in one process and on the
    // canaries' own apart (`probe_success`, `probe_duration_seconds`, `pathwatch_canary_runs_total`).
    let canary_metrics = mode.runs(Role::Canaries).then(|| crate::slo::canary_metrics(&config));
    // The canaries' export token: configured, or (in one process) made now and known only here.
    let canary_token = canaries::export_token(&config, mode)?;
    let store = match mode {
        Mode::Only(Role::Canaries) => None,
        _ => Some(open_retrying("the telemetry store", || open_store(&config, Open::CreateIfMissing)).await?),
    };
    if let Mode::Only(role) = mode {
        if role != Role::Collector {
            warn_if_plain_http(&config.collector_url());
        }
    }
    let collector = match mode.runs(Role::Collector) {
        true => {
            Some(collector::start(&mut process, store.clone(), canary_token.clone(), canary_metrics.clone()).await?)
        }
        false => None,
    };
    let health = crate::health::ProcessHealth::new(
        process.loops.states(),
        store.clone(),
        collector.as_ref().and_then(|c| c.spool.clone()),
        config.supervisor.unhealthy_after_failures,
    );
    if let Some(c) = &collector {
        process.serve(config.collector.listen, "collector.listen", c.app.clone().merge(health.routes())).await?;
        let grpc = process.serve_grpc(config.collector.grpc_listen, "collector.grpc_listen", c.grpc.clone()).await?;
        process.lines.push(format!("collector: OTLP/gRPC on {grpc} (TraceService/Export, LogsService/Export)"));
    }
    // Held until the servers stop: dropping it stops the sandboxes.
    let mut _sandbox = None;
    if mode == Mode::Standalone && config.sandbox.enabled {
        let sandbox = crate::demo::start_sandbox(&config).await?;
        process.lines.push(crate::demo::describe_sandbox(&sandbox.urls()));
        _sandbox = Some(sandbox);
        process.lines.push(crate::demo::load_starter_hazards(&config).await?);
        // Only a demo: no system of the deployment's own is connected (no ingest token configured).
        let demo =
            config.sandbox.synthetic_ehr && config.collector.ingest_tokens.is_empty() && config.ingest_token.is_none();
        if let (true, Some(c), Some(store)) = (demo, &collector, &store) {
            let (data_dir, writer, store) = (config.data_dir.clone(), c.writer(), store.clone());
            process.loops.spawn("demo access log", move || {
                crate::demo_access::feed(data_dir.clone(), writer.clone(), store.clone(), domain::Clock::System)
            });
            process.lines.push(
                "demo access log: a synthetic EHR's accesses, misuse included, as source synthetic-ehr \
                 (key `sandbox.synthetic_ehr`)"
                    .into(),
            );
        }
    }
    if mode.runs(Role::Canaries) {
        canaries::start(&mut process, canary_token, canary_metrics.clone(), &health).await?;
    }
    // What the dashboard and the monitor read, opened once and shared when both run here.
    let shared = match (mode.runs(Role::Dashboard) || mode.runs(Role::Monitor), &store) {
        (true, Some(store)) => Some(
            open_retrying("the state, hazard log and findings", || monitor::Shared::open(&config, store.clone()))
                .await?,
        ),
        _ => None,
    };
    if let Some(shared) = &shared {
        health.read_chain_from(shared.hazards.clone());
        if mode.runs(Role::Monitor) {
            monitor::start(&mut process, shared, &health).await?;
        }
        if mode.runs(Role::Dashboard) {
            let recorder = match &collector {
                Some(c) => Some(c.recorder()),
                None => {
                    let line = dashboard::check_recorder(&config).await;
                    process.lines.extend(Some(line).filter(|l| !l.is_empty()));
                    dashboard::http_recorder(&config)?
                }
            };
            dashboard::start(&mut process, shared, recorder, &health).await?;
        }
    }
    if let (Some(store), true) = (&store, mode.runs(Role::Collector)) {
        let (spans_days, audit_days) = (config.retention.spans_days, config.retention.audit_days);
        let store = store.clone();
        process.loops.spawn("retention", move || collector::retention(store.clone(), spans_days, audit_days));
    }
    for line in &process.lines {
        println!("{line}");
    }
    println!("ready");
    let Process { loops, mut servers, leases, .. } = process;
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
    for (_, pool, leading) in &leases {
        leader::give_up(pool, leading).await;
    }
    if let Some(c) = collector {
        c.drain_before_exit(Duration::from_secs(config.supervisor.shutdown_drain_secs)).await;
    }
    Ok(())
}

/// Tokens cross the network to the collector: say so when they would go in clear to another host.
fn warn_if_plain_http(url: &str) {
    let Ok(parsed) = url::Url::parse(url) else { return };
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    };
    if parsed.scheme() == "http" && !loopback {
        tracing::warn!(
            url,
            "roles.collector_url is plain HTTP to another host: tokens and auditors' records cross the network \
             unencrypted; put TLS in front of the collector and use https"
        );
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
