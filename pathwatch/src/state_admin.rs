//! `pathwatch state migrate --from sqlite:DIR --to postgres://…`: moves a standalone deployment's
//! state (accounts, sessions, API tokens, alerts, report deliveries …) into PostgreSQL, verified
//! table by table (rows and a SHA-256 on both sides). The destination is migrated first and must
//! hold no state yet, and the source's Pathwatch must be stopped; every table of every file is
//! copied in one transaction, so nothing is written unless everything copies.

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

/// One set of tables: its SQLite file in a data directory, its migrations, how to copy it.
struct Part {
    file: &'static str,
    schema: &'static state::Schema,
    tables: &'static [state::copy::Table],
}

const PARTS: [Part; 3] = [
    Part { file: "dashboard.db", schema: &state::STATE, tables: state::copy::STATE_TABLES },
    Part { file: "hazards.db", schema: &hazard_log::store::SCHEMA, tables: hazard_log::store::TABLES },
    Part { file: "audit-review.db", schema: &audit_review::schema::SCHEMA, tables: audit_review::schema::TABLES },
];

/// Where `--from` (a data directory) or `--to` (a PostgreSQL URL) points.
enum Place {
    Directory(PathBuf),
    Postgres(String),
}

impl Place {
    fn parse(text: &str, flag: &str) -> anyhow::Result<Place> {
        if let Some(path) = text.strip_prefix("sqlite:") {
            return Ok(Place::Directory(PathBuf::from(path.trim_start_matches("//"))));
        }
        match url::Url::parse(text) {
            Ok(url) if matches!(url.scheme(), "postgres" | "postgresql") => Ok(Place::Postgres(text.to_string())),
            _ => bail!("{flag}: give sqlite:DIR (a data directory) or postgres://user@host:port/database"),
        }
    }

    fn location(&self, part: &Part) -> state::Location {
        match self {
            Place::Directory(dir) => state::Location::Sqlite(dir.join(part.file)),
            Place::Postgres(url) => state::Location::Postgres(url.clone()),
        }
    }
}

pub async fn run(command: StateCommand) -> anyhow::Result<ExitCode> {
    let StateCommand::Migrate { from, to } = command;
    let (source, destination) = (Place::parse(&from, "--from")?, Place::parse(&to, "--to")?);
    let Place::Directory(dir) = &source else { bail!("--from: give sqlite:DIR, the data directory to move from") };
    // A source file that does not exist is never created: the state was never there.
    let parts: Vec<&Part> = PARTS.iter().filter(|p| dir.join(p.file).is_file()).collect();
    if parts.is_empty() {
        bail!("--from: no state database in {} (dashboard.db, hazards.db, audit-review.db)", dir.display());
    }
    if let Place::Directory(to_dir) = &destination {
        if to_dir == dir {
            bail!("--from and --to are the same data directory");
        }
    }
    let Place::Postgres(_) = &destination else { bail!("--to: give postgres://user@host:port/database") };
    // Every destination table is checked before anything is written.
    let mut pools = Vec::new();
    for part in parts {
        let from_pool = state::connect_schema(&source.location(part), part.schema)
            .await
            .with_context(|| format!("opening --from ({})", part.file))?;
        let to_pool = state::connect_schema(&destination.location(part), part.schema).await.context("opening --to")?;
        state::copy::ensure_empty(&to_pool, part.tables).await?;
        pools.push((part, from_pool, to_pool));
    }
    // A running Pathwatch would go on writing to the files after the copy: refused while its
    // monitor lease has not expired.
    if let Some((_, from_state, _)) = pools.iter().find(|(p, _, _)| p.file == "dashboard.db") {
        let now = domain::Clock::System.now_ns_i64();
        if let Some((holder, _, expires_ns)) = state::lease::holder(from_state, "monitor").await? {
            if expires_ns > now {
                bail!("--from: Pathwatch is running on this data directory ({holder} holds its monitor lease): stop it first");
            }
        }
    }
    // One destination, one transaction: all three files move, or nothing does.
    let (_, _, to_pool) = &pools[0];
    let mut tx = to_pool.begin().await?;
    for (part, from_pool, _) in &pools {
        state::copy::copy_into(from_pool, &mut tx, state::Backend::Postgres, part.tables)
            .await
            .with_context(|| format!("copying {}", part.file))?;
    }
    tx.commit().await?;
    let mut report = Vec::new();
    for (part, from_pool, to_pool) in &pools {
        report.extend(state::copy::verify(from_pool, to_pool, part.tables).await?);
    }
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
