//! `pathwatch report dcb0129|dtac|dspt --from --to --out` and `pathwatch report verify PATH`: the
//! assurance packs from the command line, built from the hazard log, the evidence history the
//! running service recorded, and the telemetry store.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use reports::{pack, Period, ReportKind};

use crate::config::Config;
use crate::serve::{open_store, Open};

#[derive(clap::Args)]
pub struct ReportArgs {
    /// dcb0129, dtac or dspt; or `verify` to check a pack.
    pub report: String,
    /// With `verify`: the pack's folder or zip.
    pub path: Option<PathBuf>,
    /// First day covered, YYYY-MM-DD (UTC).
    #[arg(long)]
    pub from: Option<String>,
    /// First day NOT covered, YYYY-MM-DD (UTC).
    #[arg(long)]
    pub to: Option<String>,
    /// Where to write the pack: a new or empty folder, or a file ending in .zip.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
}

pub async fn run(config: &Config, args: ReportArgs) -> anyhow::Result<ExitCode> {
    if args.report == "verify" {
        let Some(path) = args.path else {
            bail!("report verify: name the pack's folder or zip (pathwatch report verify PACK)")
        };
        let v = pack::verify(&path)?;
        if let Some(m) = &v.manifest {
            eprintln!(
                "{}: {} for {}, {} to {}, made by {}",
                path.display(),
                m.title,
                m.system,
                m.period.from,
                m.period.to,
                m.generator
            );
        }
        if v.ok() {
            eprintln!("pack intact: {} files match the manifest", v.files_matched);
            return Ok(ExitCode::SUCCESS);
        }
        for problem in &v.problems {
            eprintln!("PROBLEM: {problem}");
        }
        return Ok(ExitCode::FAILURE);
    }
    let Some(kind) = ReportKind::parse(&args.report) else {
        bail!("report {:?}: use dcb0129, dtac, dspt or verify", args.report);
    };
    if args.path.is_some() {
        bail!(
            "report {}: unexpected argument {:?}; the pack goes to --out",
            args.report,
            args.path.unwrap_or_default()
        );
    }
    let (Some(from), Some(to), Some(out)) = (args.from, args.to, args.out) else {
        bail!(
            "report {}: --from, --to and --out are all needed (e.g. --from 2026-10-01 --to 2026-11-01 --out pack.zip)",
            args.report
        );
    };
    let period = Period::from_dates(&from, &to).map_err(anyhow::Error::msg)?;
    if !config.keeps("hazards.db") {
        bail!(
            "no hazard log at {} (pass --data-dir, or set key `data_dir`)",
            config.data_dir.join("hazards.db").display()
        );
    }
    let log = config.open_hazard_log().await?;
    let store = open_store(config, Open::ExistingOnly).await?;
    let slos = config.effective_slos();
    let pathways = config.effective_pathways();
    // Reviews are read when the deployment has kept any (the file is never created here).
    let reviews = if config.keeps("audit-review.db") { Some(config.open_reviews().await?) } else { None };
    // Incidents live in the dashboard's state, read when there is one (never created here).
    let state = if config.keeps("dashboard.db") { Some(config.open_state().await?) } else { None };
    let telemetry = engine::report_inputs::Telemetry {
        store: Some(&store),
        slos: &slos,
        pathways: &pathways,
        reviews: reviews.as_ref(),
        state: state.as_ref(),
        clock: domain::Clock::System,
    };
    let inputs = engine::report_inputs::gather(&telemetry, &log, &config.deployment(), period)
        .await
        .map_err(anyhow::Error::msg)?;
    let built = pack::build(kind, &inputs)?;
    if out.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip")) {
        if out.exists() {
            bail!("{} already exists: a pack never overwrites a file", out.display());
        }
        std::fs::write(&out, built.zip()?).with_context(|| format!("writing {}", out.display()))?;
    } else {
        built.write_dir(&out)?;
    }
    eprintln!("{} for {} written to {}", kind.title(), inputs.period.describe(), out.display());
    for f in &built.manifest.files {
        println!("{}  {}", f.sha256, f.path);
    }
    Ok(ExitCode::SUCCESS)
}
