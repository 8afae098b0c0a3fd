//! The collector role: OTLP traces (HTTP and gRPC), audit events and audit logs in, through the writer (SQLite) or the
//! spool (ClickHouse), retention, and the spool's last drain at shutdown.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use audit_store::{AnyStore, ClickHouseStore, DataKind, TelemetryStore, NANOS_PER_DAY};
use collector::metrics::Metrics;
use collector::spool::Spool;
use collector::{CollectorState, IngestTokens, Sink};

use super::{Mode, Process};
use crate::config::{persistent_secret, Config};

/// A started collector: its router (served by the caller, with the health routes), its writer
/// and spool.
pub(crate) struct Collector {
    pub app: axum::Router,
    /// OTLP/gRPC, served over HTTP/2 on `collector.grpc_listen`.
    pub grpc: axum::Router,
    pub spool: Option<Arc<Spool>>,
    writer: collector::writer::Writer,
    clickhouse: Option<ClickHouseStore>,
}

impl Collector {
    /// Records the dashboard's auditors' actions through this process's writer: sequenced and
    /// made durable like any other audit event.
    pub fn recorder(&self) -> dashboard::audit_trail::Recorder {
        let writer = self.writer.clone();
        Arc::new(move |event| {
            let writer = writer.clone();
            Box::pin(async move {
                let batch = audit_store::IngestBatch { spans: Vec::new(), audit: vec![event] };
                writer.write(batch, Default::default()).await.map(|_| ()).map_err(|e| e.to_string())
            })
        })
    }

    /// This process's writer: what it is given is sequenced and made durable as if it had arrived.
    pub fn writer(&self) -> collector::writer::Writer {
        self.writer.clone()
    }

    /// Hands what the spool holds to ClickHouse for at most `within`; what is left stays on disk
    /// and drains at the next start.
    pub async fn drain_before_exit(self, within: Duration) {
        let (Some(spool), Some(clickhouse)) = (self.spool, self.clickhouse) else { return };
        let (batches, _) = spool.depth();
        if batches == 0 {
            return;
        }
        let drained = tokio::time::timeout(within, async {
            let mut moved = 0;
            loop {
                match spool.drain_step(&clickhouse, 64).await {
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
}

/// The ingest token `pathwatch up` made for itself, and whether it was made just now.
struct GeneratedToken {
    token: String,
    new: bool,
}

/// The configured tokens (and, for `pathwatch up` without any, one generated and kept in the data
/// directory), plus the canaries' token when `pathwatch up` made one in memory.
fn ingest_tokens(
    config: &Config,
    mode: Mode,
    canary_token: Option<String>,
) -> anyhow::Result<(IngestTokens, Option<GeneratedToken>)> {
    let mut tokens: Vec<(String, String)> =
        config.collector.ingest_tokens.iter().map(|(s, t)| (s.clone(), t.clone())).collect();
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
            Mode::Only(_) => anyhow::bail!(
                "no ingest token configured: set PATHWATCH_INGEST_TOKEN or key `collector.ingest_tokens.<source>`"
            ),
        }
    }
    let canary = collector::auth::CANARY_SOURCE;
    if let (Some(token), false) = (canary_token, config.collector.ingest_tokens.contains_key(canary)) {
        tokens.push((canary.into(), token));
    }
    Ok((IngestTokens::new(tokens), generated))
}

/// Starts the collector: its writer or spool (and the spool's drainer), its router.
pub(crate) async fn start(
    process: &mut Process<'_>,
    store: Option<AnyStore>,
    canary_token: Option<String>,
    canary_metrics: Option<canaries::metrics::CanaryMetrics>,
) -> anyhow::Result<Collector> {
    let config = process.config;
    let store = store.context("the collector needs a telemetry store")?;
    let (tokens, generated_token) = ingest_tokens(config, process.mode, canary_token)?;
    let pseudonym_key = match &config.privacy.pseudonym_key {
        Some(key) => key.clone(),
        None => persistent_secret(&config.data_dir, "pseudonym.key")?.0,
    };
    let metrics = Arc::new(Metrics::with_more(|registry| {
        if let Some(m) = &canary_metrics {
            m.register(registry)
        }
    }));
    let (mut spool, mut clickhouse) = (None, None);
    let sink = match &store {
        AnyStore::Sqlite(sqlite) => {
            process.lines.push(format!("store: SQLite at {}", config.data_dir.join("telemetry.db").display()));
            Sink::Sqlite(sqlite.clone())
        }
        AnyStore::ClickHouse(ch) => {
            let path = config.data_dir.join("spool.db");
            let opened = Arc::new(
                Spool::open(&path, config.collector.spool_max_bytes, metrics.clone())
                    .await
                    .with_context(|| format!("opening spool {}", path.display()))?,
            );
            let chain = opened.claim_chain(&**ch, config.collector.audit_chain).await?;
            let (batches, bytes) = opened.depth();
            process.lines.push(format!(
                "store: ClickHouse {} at {} (spool {}: {batches} batches, {bytes} bytes waiting; audit chain {chain})",
                ch.server_version(),
                config.store.clickhouse.url,
                path.display()
            ));
            let (drained, target) = (opened.clone(), (**ch).clone());
            process.loops.spawn_critical("spool drainer", move || drained.clone().drain_forever(target.clone()));
            spool = Some(opened.clone());
            clickhouse = Some((**ch).clone());
            Sink::Spool(opened)
        }
    };
    let state = CollectorState::new(
        config.collector.clone(),
        tokens,
        sink,
        pseudonym_key.into_bytes(),
        metrics,
        domain::Clock::System,
    );
    let writer = state.writer.clone();
    let listen = config.collector.listen;
    process.lines.push(format!(
        "collector: http://{listen} (POST /v1/traces and /v1/logs OTLP/HTTP, POST /v1/audit, GET /metrics, /healthz, /readyz)"
    ));
    // The token is printed once, when it is made: after that the log (often a system journal
    // others can read) says only where it is kept.
    let token_file = config.data_dir.join("ingest.token");
    match &generated_token {
        Some(GeneratedToken { token, new: true }) => process
            .lines
            .push(format!("ingest token (generated now, kept in {}; not shown again): {token}", token_file.display())),
        Some(GeneratedToken { new: false, .. }) => {
            process.lines.push(format!("ingest token: in {}", token_file.display()))
        }
        None => {}
    }
    Ok(Collector {
        app: collector::router(state.clone()),
        grpc: collector::grpc::router(state),
        spool,
        writer,
        clickhouse,
    })
}

/// Drops whole days past their retention period, once at start and then hourly.
pub(crate) async fn retention(store: AnyStore, spans_days: u32, audit_days: u32) {
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
