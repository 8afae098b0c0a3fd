//! `pathwatch state migrate --from sqlite:DIR --to postgres://…`: moves a standalone deployment's
//! state (accounts, sessions, API tokens, alerts, report deliveries …) into PostgreSQL, verified
//! table by table (rows and a SHA-256 on both sides). The destination is migrated first and must
//! hold no state yet; nothing is written unless every table copies.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};

#[derive(clap::Subcommand)]
pub enum StateCommand {
    /// Copy the state into another database and verify it (then set `state.backend` and `state.url`).
    Migrate {
        /// `sqlite:DIR` (the data directory holding dashboard.db) or `sqlite:FILE.db`.
        #[arg(long, value_name = "sqlite:DIR")]
        from: String,
        /// `postgres://user@host:port/database` (an empty database, or one Pathwatch made and never used).
        #[arg(long, value_name = "postgres://…")]
        to: String,
    },
}

/// Where `--from` or `--to` points; a SQLite source must exist (it is never created here).
fn location(text: &str, flag: &str, must_exist: bool) -> anyhow::Result<state::Location> {
    if let Some(path) = text.strip_prefix("sqlite:") {
        let path = PathBuf::from(path.trim_start_matches("//"));
        let file = if path.extension().is_some_and(|e| e == "db") { path } else { path.join("dashboard.db") };
        if must_exist && !file.is_file() {
            bail!("{flag}: no state database at {}", file.display());
        }
        return Ok(state::Location::Sqlite(file));
    }
    match url::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "postgres" | "postgresql") => Ok(state::Location::Postgres(text.to_string())),
        _ => bail!("{flag}: give sqlite:DIR or postgres://user@host:port/database"),
    }
}

pub async fn run(command: StateCommand) -> anyhow::Result<ExitCode> {
    let StateCommand::Migrate { from, to } = command;
    let (source, destination) = (location(&from, "--from", true)?, location(&to, "--to", false)?);
    if source == destination {
        bail!("--from and --to are the same database");
    }
    let from_pool = state::connect(&source).await.context("opening --from")?;
    let to_pool = state::connect(&destination).await.context("opening --to")?;
    let report = state::copy::copy(&from_pool, &to_pool).await?;
    println!("{:<20} {:>10} {:>10}  {:<16}  verified", "table", "rows from", "rows to", "sha256");
    for t in &report {
        let mark = if t.verified() { "yes" } else { "NO" };
        println!("{:<20} {:>10} {:>10}  {:<16}  {mark}", t.table, t.rows_from, t.rows_to, &t.sha256_to[..16]);
    }
    if report.iter().all(|t| t.verified()) {
        println!("state copied and verified: set state.backend = \"postgres\" and state.url, then restart");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("error: the copy does not match its source (the rows above marked NO)");
        Ok(ExitCode::FAILURE)
    }
}
