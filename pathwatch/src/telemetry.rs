//! Pathwatch's own logs and traces. Logs go to stderr (filter: `PATHWATCH_LOG`); when
//! `self_telemetry.otlp_endpoint` is set, the spans of Pathwatch's own work (each ingest request,
//! each group commit, each spool drain) are also exported over OTLP/HTTP, so a deployment can watch
//! its watcher.

use std::collections::HashMap;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use serde::{Deserialize, Serialize};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer as _;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SelfTelemetryConfig {
    /// Full OTLP/HTTP traces URL, e.g. `http://otel-collector:4318/v1/traces`. Unset: no export.
    pub otlp_endpoint: Option<String>,
    /// `service.name` of Pathwatch's own spans.
    pub service_name: String,
    /// Extra HTTP headers for the exporter, e.g. `{ Authorization = "Bearer …" }`.
    pub headers: HashMap<String, String>,
}

impl Default for SelfTelemetryConfig {
    fn default() -> Self {
        SelfTelemetryConfig { otlp_endpoint: None, service_name: "pathwatch".into(), headers: HashMap::new() }
    }
}

/// Keeps the exporter alive; dropping it flushes what is buffered.
pub struct Guard(Option<SdkTracerProvider>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(provider) = self.0.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Installs the global subscriber: stderr logs, plus OTLP export when configured.
pub fn init(config: Option<&SelfTelemetryConfig>) -> anyhow::Result<Guard> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PATHWATCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // The log filter applies to the stderr log only: `PATHWATCH_LOG=warn` must not silence the
    // spans exported over OTLP, which are always INFO and above.
    // Colour only on a terminal: escape codes in journald or a log file hide the words operators grep for.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi).with_filter(filter);
    let provider = match config.and_then(|c| c.otlp_endpoint.as_ref().map(|e| (c, e))) {
        Some((config, endpoint)) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(endpoint)
                .with_headers(config.headers.clone())
                .build()
                .map_err(|e| anyhow::anyhow!("key `self_telemetry.otlp_endpoint` {endpoint:?}: {e}"))?;
            Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(Resource::builder().with_service_name(config.service_name.clone()).build())
                    .build(),
            )
        }
        None => None,
    };
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("pathwatch"))
            .with_filter(tracing_subscriber::filter::LevelFilter::INFO)
    });
    tracing_subscriber::registry().with(fmt).with(otel).init();
    if let Some(endpoint) = config.and_then(|c| c.otlp_endpoint.as_ref()) {
        tracing::info!(%endpoint, "exporting Pathwatch's own spans over OTLP/HTTP");
    }
    Ok(Guard(provider))
}
