//! One-shot operator commands: `audit verify`, `audit search`, `trace`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use audit_store::{chain, AuditFilter};

use crate::config::Config;
use crate::serve::{open_store, Open};
use audit_store::AuditLog;

#[derive(clap::Args)]
pub struct AuditSearch {
    /// NHS number of the patient whose record was accessed.
    #[arg(long)]
    patient: Option<String>,
    /// User id of the actor.
    #[arg(long)]
    user: Option<String>,
    /// Correlation id the event carried.
    #[arg(long)]
    correlation: Option<String>,
    /// Earliest time, inclusive: RFC 3339 (2026-11-23T09:00:00Z) or a date (2026-11-23, midnight UTC).
    #[arg(long)]
    from: Option<String>,
    /// Latest time, exclusive, in the same forms.
    #[arg(long)]
    to: Option<String>,
    /// Most events printed.
    #[arg(long, default_value_t = 1000)]
    limit: u32,
}

pub fn parse_time(flag: &str, text: &str) -> anyhow::Result<u64> {
    audit_review::context_csv::parse_instant(text).ok_or_else(|| {
        anyhow::anyhow!("--{flag} {text:?}: expected an RFC 3339 time (2026-11-23T09:00:00Z) or a date (2026-11-23)")
    })
}

pub async fn audit_search(config: &Config, search: AuditSearch) -> anyhow::Result<ExitCode> {
    let nhs_number = match &search.patient {
        Some(n) => {
            Some(domain::NhsNumber::parse(n).map_err(|e| anyhow::anyhow!("--patient {n:?}: {e}"))?.as_str().to_string())
        }
        None => None,
    };
    let filter = AuditFilter {
        nhs_number,
        user_id: search.user,
        correlation_id: search.correlation,
        organisation: None,
        source_system: None,
        from_ns: search.from.as_deref().map(|t| parse_time("from", t)).transpose()?,
        to_ns: search.to.as_deref().map(|t| parse_time("to", t)).transpose()?,
        after: None,
        limit: search.limit,
    };
    let store = open_store(config, Open::ExistingOnly).await?;
    let events = store.audit_events(&filter).await.context("searching audit events")?;
    let mut out = std::io::stdout().lock();
    for event in &events {
        serde_json::to_writer(&mut out, event)?;
        writeln!(out)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Walks every audit chain (one per collector in front of ClickHouse, chain 0 alone otherwise):
/// one JSON report per chain on stdout, a line per chain on stderr; fails if any is broken.
pub async fn audit_verify(config: &Config) -> anyhow::Result<ExitCode> {
    let store = open_store(config, Open::ExistingOnly).await?;
    let mut reports = chain::verify_all(&store, 10_000).await.context("walking the audit chains")?;
    if reports.is_empty() {
        reports.push(chain::verify(&store, 10_000).await.context("walking the audit chain")?);
    }
    let mut broken = false;
    for report in &reports {
        println!("{}", serde_json::to_string(report)?);
        let name = match report.chain {
            0 => "audit chain".to_string(),
            n => format!("audit chain {n}"),
        };
        match &report.first_break {
            None => eprintln!("{name} intact: {} records verified", report.records_checked),
            Some(problem) => {
                broken = true;
                eprintln!("{} BROKEN after {} good records: {problem}", name.to_uppercase(), report.records_checked);
            }
        }
    }
    Ok(if broken { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

pub async fn trace(config: &Config, id: &str) -> anyhow::Result<ExitCode> {
    let store = open_store(config, Open::ExistingOnly).await?;
    let spans = audit_store::spans_for_id(&store, id).await?;
    if spans.is_empty() {
        eprintln!("no spans found for trace or correlation id {id}");
        return Ok(ExitCode::FAILURE);
    }
    println!("{}", serde_json::to_string_pretty(&spans)?);
    Ok(ExitCode::SUCCESS)
}

/// The configuration loaded and valid (a problem stopped `load` already, naming the key): what the
/// roles would use, one line each, and a warning for what would stop a role run apart.
pub fn config_check(config: &Config) -> anyhow::Result<ExitCode> {
    let store = match config.store.backend {
        crate::config::Backend::Sqlite => format!("SQLite in {}", config.data_dir.display()),
        crate::config::Backend::Clickhouse => {
            let ch = &config.store.clickhouse;
            match &ch.cluster {
                Some(cluster) => format!("ClickHouse cluster {cluster} through {} (database {})", ch.url, ch.database),
                None => format!("ClickHouse at {} (database {})", ch.url, ch.database),
            }
        }
    };
    println!("configuration OK");
    println!("data directory: {}", config.data_dir.display());
    println!("telemetry store: {store}");
    let state = match config.state_location() {
        state::Location::Sqlite(_) => format!("SQLite files in {}", config.data_dir.display()),
        // Never the password: what follows the user.
        state::Location::Postgres(url) => format!("PostgreSQL at {}", url.rsplit('@').next().unwrap_or_default()),
    };
    println!("state: {state}");
    println!("collector: {} (OTLP/gRPC {})", config.collector.listen, config.collector.grpc_listen);
    println!("dashboard: {}", config.dashboard.listen);
    println!("monitor health: {}", config.roles.monitor_listen);
    println!("canaries health: {}", config.roles.canaries_listen);
    // Not errors: one process (`pathwatch up`) needs neither token.
    for warning in crate::serve::apart_warnings(config) {
        println!("warning: {warning}");
    }
    Ok(ExitCode::SUCCESS)
}
