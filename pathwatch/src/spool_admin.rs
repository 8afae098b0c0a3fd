//! `pathwatch spool dead-letters|retry|drop`: the batches ClickHouse refused for good, which the
//! drainer set aside in `<data_dir>/spool.db` (see `collector::spool`). Each use is an audit event in
//! the chain (through the spool, as ingest is), so what operators did with accepted data is on record.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use audit_store::{Action, Actor, AuditEvent, Outcome};
use collector::metrics::Metrics;
use collector::spool::{Spool, SpoolBatch};

use crate::config::Config;

#[derive(clap::Subcommand)]
pub enum SpoolCommand {
    /// List the batches ClickHouse refused for good, as JSON lines (id, size, reason).
    DeadLetters,
    /// Put set-aside batches back in the spool for the drainer to try again (after mending what
    /// ClickHouse refused).
    Retry {
        /// One batch; without it, every set-aside batch.
        #[arg(long)]
        id: Option<i64>,
    },
    /// Delete a set-aside batch for good. Its records are lost: say why.
    Drop {
        id: i64,
        /// Why (recorded in the audit trail).
        #[arg(long)]
        reason: String,
    },
}

pub async fn run(config: &Config, command: SpoolCommand) -> anyhow::Result<ExitCode> {
    let path = config.data_dir.join("spool.db");
    if !path.exists() {
        anyhow::bail!("no spool at {} (there is one only with store.backend = \"clickhouse\")", path.display());
    }
    let spool = Spool::open(&path, config.collector.spool_max_bytes, Arc::new(Metrics::new()))
        .await
        .with_context(|| format!("opening spool {}", path.display()))?;
    let (action, what, purpose) = match command {
        SpoolCommand::DeadLetters => {
            for letter in spool.dead_letters().await? {
                println!("{}", serde_json::to_string(&letter)?);
            }
            (Action::Read, "all".to_string(), "spool: list dead letters".to_string())
        }
        SpoolCommand::Retry { id } => {
            let moved = spool.retry_dead_letters(id).await?;
            eprintln!("{moved} batch(es) back in the spool");
            let what = id.map_or("all".to_string(), |i| i.to_string());
            (Action::Update, what, format!("spool: retry dead letters ({moved})"))
        }
        SpoolCommand::Drop { id, reason } => {
            if reason.trim().len() < 5 {
                anyhow::bail!("--reason: say why the batch may be lost (at least a few words)");
            }
            if !spool.drop_dead_letter(id).await? {
                anyhow::bail!("no dead letter {id} (see `pathwatch spool dead-letters`)");
            }
            eprintln!("dead letter {id} deleted");
            (Action::Delete, id.to_string(), format!("spool: drop dead letter: {}", reason.trim()))
        }
    };
    let now = domain::system_now_ns();
    let user = std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "operator".into());
    let event = AuditEvent {
        event_id: format!("pathwatch-cli-{now}-{}", std::process::id()),
        occurred_ns: now,
        actor: Actor { user_id: user, name: String::new(), role: "operator".into(), organisation: String::new() },
        purpose_of_use: purpose,
        action,
        nhs_number: String::new(),
        resource_type: "SpoolBatch".into(),
        resource_id: what,
        outcome: Outcome::Success,
        correlation_id: String::new(),
        request_id: String::new(),
        source_system: "pathwatch-cli".into(),
        client_address: String::new(),
        device: String::new(),
    };
    let batch = SpoolBatch { spans_rowbinary: Vec::new(), span_count: 0, audit: vec![event] };
    spool.commit(now, vec![batch]).await.map_err(|e| anyhow::anyhow!("recording this in the audit trail: {e}"))?;
    Ok(ExitCode::SUCCESS)
}
