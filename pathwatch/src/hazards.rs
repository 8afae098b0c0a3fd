//! `pathwatch hazard import|export`: the hazard log (`<data_dir>/hazards.db`) to and from YAML or
//! CSV, chosen by the file's extension (or `--format` for standard output).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use hazard_log::io;

use crate::config::Config;

#[derive(clap::Subcommand)]
pub enum HazardCommand {
    /// Print or write the whole log as YAML or CSV.
    Export {
        /// yaml or csv (default: from --out's extension, else yaml).
        #[arg(long)]
        format: Option<String>,
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Create or update hazards from a YAML or CSV file, all or none, recording who and why.
    Import {
        file: PathBuf,
        /// Who is making the change (kept in each hazard's history).
        #[arg(long)]
        actor: String,
        /// Why (kept in each hazard's history).
        #[arg(long)]
        reason: String,
    },
}

fn format_of(format: Option<&str>, path: Option<&Path>) -> anyhow::Result<&'static str> {
    let by_extension = path.and_then(|p| p.extension()).and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match (format, by_extension.as_deref()) {
        (Some("yaml") | Some("yml"), _) | (None, Some("yaml") | Some("yml") | None) => Ok("yaml"),
        (Some("csv"), _) | (None, Some("csv")) => Ok("csv"),
        (Some(other), _) => bail!("--format {other:?}: use yaml or csv"),
        (None, Some(other)) => bail!("{other:?} files are not read: use .yaml, .yml or .csv"),
    }
}

pub async fn run(config: &Config, command: HazardCommand) -> anyhow::Result<ExitCode> {
    let log = config.open_hazard_log().await?;
    match command {
        HazardCommand::Export { format, out } => {
            let hazards: Vec<_> = log.list().await?.into_iter().map(|(h, _)| h).collect();
            let text = match format_of(format.as_deref(), out.as_deref())? {
                "csv" => io::to_csv(&hazards)?,
                _ => io::to_yaml(&hazards)?,
            };
            match out {
                Some(file) => std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?,
                None => print!("{text}"),
            }
        }
        HazardCommand::Import { file, actor, reason } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let hazards = match format_of(None, Some(&file))? {
                "csv" => io::from_csv(&text),
                _ => io::from_yaml(&text),
            }
            .with_context(|| format!("{}", file.display()))?;
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos() as i64;
            let (created, updated) = log.import(&hazards, &actor, &reason, now).await?;
            println!("{created} created, {updated} updated, {} unchanged", hazards.len() - created - updated);
        }
    }
    Ok(ExitCode::SUCCESS)
}
