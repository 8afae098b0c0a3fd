//! `pathwatch audit scan | context | evaluate`: the anomaly rules from the command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use audit_review::evaluation::{score, sweep, Evaluation};
use audit_review::scenario::{Scenario, ScenarioConfig, World};
use audit_review::{evaluate, RulesConfig, Scanner};
use audit_store::{AnyStore, ClickHouseConfig, ClickHouseStore, SqliteStore};

use crate::config::Config;
use crate::serve::{open_store, Open};
use audit_store::AccessMonitoring;

#[derive(clap::Args)]
pub struct ScanArgs {
    /// Scan a period of history from this day or time (RFC 3339 or 2026-11-23) instead of what
    /// arrived since the last scan.
    #[arg(long, requires = "to")]
    from: Option<String>,
    /// End of the period, exclusive.
    #[arg(long, requires = "from")]
    to: Option<String>,
}

#[derive(clap::Args)]
pub struct ContextArgs {
    /// Staff directory CSV: user_id,surname,address,nhs_number, optionally teams and postcode (replaces
    /// the loaded directory).
    #[arg(long, value_name = "FILE")]
    staff: Option<PathBuf>,
    /// Patient index CSV: nhs_number,surname,address,vip,restricted,deceased, optionally next_of_kin and
    /// postcode (replaces it).
    #[arg(long, value_name = "FILE")]
    patients: Option<PathBuf>,
    /// Care relationships CSV: organisation,nhs_number,kind,from,to (added to those loaded).
    #[arg(long, value_name = "FILE")]
    relationships: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct EvaluateArgs {
    /// About how many events the synthetic log holds.
    #[arg(long, default_value_t = 300_000)]
    events: u64,
    /// Seed of the generator: the same seed gives the same log and labels.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Misuse scenarios injected per rule.
    #[arg(long, default_value_t = 8)]
    scenarios: u32,
    /// Run on the ClickHouse server at this URL (in a new database) instead of a temporary SQLite file.
    #[arg(long, value_name = "URL")]
    clickhouse: Option<String>,
    /// Also print up to this many false findings (raised on legitimate access), to tune thresholds.
    #[arg(long, default_value_t = 0, value_name = "N")]
    show_false: usize,
    /// Keep the SQLite store in this new directory for inspection, instead of a temporary one.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
    /// The world: `classic` (four like organisations, every rule's misuse at every magnitude; sized
    /// by --events and --scenarios) or `realistic` (an acute trust with wards and a GP practice,
    /// surnames as a city holds them, care data that lag, clerks whose job is bulk, and 27 cases
    /// just past the thresholds; a fixed size).
    #[arg(long, value_enum, default_value_t = WorldArg::Classic)]
    world: WorldArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WorldArg {
    Classic,
    Realistic,
}

pub async fn scan(config: &Config, args: ScanArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(config, Open::ExistingOnly).await?;
    let findings = config.open_reviews().await?;
    let scanner = Scanner { store, findings, config: config.audit.rules.clone() };
    let now = domain::system_now_ns();
    let outcome = match (args.from, args.to) {
        (Some(from), Some(to)) => {
            let (from, to) = (crate::commands::parse_time("from", &from)?, crate::commands::parse_time("to", &to)?);
            anyhow::ensure!(from < to, "--from must be before --to");
            scanner.full(from, to, now).await?
        }
        _ => scanner.incremental(now).await?,
    };
    for f in &outcome.raised {
        println!("#{} {} {}: {}", f.id, f.severity.as_str(), f.rule.as_str(), f.explanation);
    }
    eprintln!(
        "{} new events; {} findings raised, {} seen again",
        outcome.new_events,
        outcome.raised.len(),
        outcome.refreshed
    );
    Ok(ExitCode::SUCCESS)
}

fn read_csv<T>(path: &Path, parse: impl Fn(&str, std::fs::File) -> Result<T, String>) -> anyhow::Result<T> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    parse(&path.display().to_string(), file).map_err(anyhow::Error::msg)
}

/// Says how many postcodes were not UK postcodes (loaded as unknown), when any were.
fn unusable<'a>(postcodes: impl Iterator<Item = &'a str>) -> String {
    match audit_review::context_csv::unusable_postcodes(postcodes) {
        0 => String::new(),
        n => format!(" ({n} postcode{} not a UK postcode, taken as unknown)", if n == 1 { " is" } else { "s are" }),
    }
}

pub async fn context(config: &Config, args: ContextArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.staff.is_some() || args.patients.is_some() || args.relationships.is_some(),
        "give at least one of --staff, --patients, --relationships"
    );
    // Every file is read and checked before anything is loaded.
    let staff = args.staff.as_deref().map(|p| read_csv(p, audit_review::context_csv::staff)).transpose()?;
    let patients = args.patients.as_deref().map(|p| read_csv(p, audit_review::context_csv::patients)).transpose()?;
    let relationships =
        args.relationships.as_deref().map(|p| read_csv(p, audit_review::context_csv::relationships)).transpose()?;
    let store = open_store(config, Open::CreateIfMissing).await?;
    if let Some(staff) = staff {
        store.replace_staff_directory(&staff).await.context("loading the staff directory")?;
        eprintln!("staff directory: {} people{}", staff.len(), unusable(staff.iter().map(|s| s.postcode.as_str())));
    }
    if let Some(patients) = patients {
        store.replace_patient_index(&patients).await.context("loading the patient index")?;
        eprintln!(
            "patient index: {} patients{}",
            patients.len(),
            unusable(patients.iter().map(|p| p.postcode.as_str()))
        );
    }
    if let Some(relationships) = relationships {
        store.add_care_relationships(&relationships).await.context("loading care relationships")?;
        eprintln!("care relationships: {} added", relationships.len());
    }
    Ok(ExitCode::SUCCESS)
}

fn figure(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.2}"))
}

fn print_evaluation(e: &Evaluation) {
    println!(
        "{:<22} {:>8} {:>6} {:>9} {:>9} {:>8} {:>6}",
        "rule", "findings", "true", "precision", "scenarios", "detected", "recall"
    );
    for r in &e.rules {
        println!(
            "{:<22} {:>8} {:>6} {:>9} {:>9} {:>8} {:>6}",
            r.rule.as_str(),
            r.findings,
            r.true_findings,
            figure(r.precision),
            r.scenarios,
            r.detected,
            figure(r.recall)
        );
    }
    println!(
        "{:<22} {:>8} {:>6} {:>9} {:>9} {:>8} {:>6}",
        "overall",
        e.findings,
        e.true_findings,
        figure(e.precision),
        e.scenarios,
        e.detected,
        figure(e.recall)
    );
    for l in &e.missed {
        println!("missed: #{} {} {}: {}", l.id, l.rule.as_str(), l.user_id, l.description);
    }
}

pub async fn evaluate_command(args: EvaluateArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.events >= 10_000, "--events must be at least 10000 (the world needs staff in every role)");
    let scenario = match args.world {
        WorldArg::Classic => {
            let mut scenario_config = ScenarioConfig::for_events(args.events, args.seed);
            scenario_config.scenarios_per_kind = args.scenarios;
            eprintln!(
                "generating: {} organisations × {} staff, {} patients, {} days, {} scenarios per rule, seed {}",
                scenario_config.organisations,
                scenario_config.staff_per_organisation,
                scenario_config.patients,
                scenario_config.days,
                scenario_config.scenarios_per_kind,
                scenario_config.seed
            );
            Scenario::new(scenario_config)
        }
        WorldArg::Realistic => {
            let config = ScenarioConfig { seed: args.seed, world: World::Realistic, ..ScenarioConfig::default() };
            let scenario = Scenario::new(config);
            eprintln!(
                "generating the realistic world: an acute trust and a GP practice, {} staff, {} patients, {} days, \
                 {} labelled cases, seed {}",
                scenario.staff.len(),
                scenario.patients.len(),
                scenario.config.days,
                scenario.labels.len(),
                args.seed
            );
            scenario
        }
    };
    let _temp;
    let (store, kind) = match &args.clickhouse {
        Some(url) => {
            let database = format!("pathwatch_eval_{}_{}", args.seed, std::process::id());
            let config = ClickHouseConfig { url: url.clone(), database: database.clone(), ..Default::default() };
            let store = ClickHouseStore::connect(&config).await.with_context(|| format!("connecting to {url}"))?;
            eprintln!("store: ClickHouse {} at {url}, database {database}", store.server_version());
            (AnyStore::ClickHouse(Box::new(store)), "clickhouse")
        }
        None => {
            let dir = match &args.keep {
                Some(dir) => {
                    anyhow::ensure!(!dir.exists(), "--keep {}: already exists; give a new directory", dir.display());
                    std::fs::create_dir_all(dir)?;
                    dir.clone()
                }
                None => {
                    _temp = tempfile::tempdir()?;
                    _temp.path().to_path_buf()
                }
            };
            let path = dir.join("telemetry.db");
            eprintln!("store: SQLite {}", path.display());
            (AnyStore::Sqlite(SqliteStore::open(&path).await?), "sqlite")
        }
    };
    let started = Instant::now();
    let written = scenario
        .load(&store, |day, written| {
            if day % 7 == 6 {
                eprintln!("  day {}: {written} events", day + 1);
            }
        })
        .await
        .context("writing the synthetic log")?;
    let load_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    // Every finding whatever its score, so the figures can be given at several floors; the
    // headline figures are at the default floors.
    let rules = RulesConfig { min_score: 0, ..RulesConfig::default() };
    let every = evaluate(&store, &rules, scenario.config.start_ns, scenario.config.end_ns())
        .await
        .context("running the rules")?;
    let scan_secs = started.elapsed().as_secs_f64();
    let defaults = RulesConfig::default();
    let found: Vec<_> = every.iter().filter(|f| f.score >= defaults.floor(f.rule)).cloned().collect();
    let e = score(&scenario.labels, &found);
    eprintln!("{written} events loaded in {load_secs:.1} s; every rule over all of them in {scan_secs:.1} s");
    print_evaluation(&e);
    let false_findings =
        found.iter().filter(|f| !scenario.labels.iter().any(|l| audit_review::evaluation::matches(f, l)));
    for f in false_findings.take(args.show_false) {
        println!("false: {} (score {}): {}", f.rule.as_str(), f.score, f.explanation);
    }
    let floors = sweep(&scenario.labels, &every, &[20, 25, 30, 35, 40, 45, 50, 60]);
    println!("{:>5} {:>8} {:>6} {:>9} {:>6}", "floor", "findings", "true", "precision", "recall");
    for a in &floors {
        println!(
            "{:>5} {:>8} {:>6} {:>9} {:>6}",
            a.floor,
            a.findings,
            a.true_findings,
            figure(a.precision),
            figure(a.recall)
        );
    }
    let summary = serde_json::json!({
        "store": kind,
        "world": if args.world == WorldArg::Realistic { "realistic" } else { "classic" },
        "seed": args.seed,
        "events": written,
        "scenarios": e.scenarios,
        "detected": e.detected,
        "findings": e.findings,
        "true_findings": e.true_findings,
        "precision": e.precision,
        "recall": e.recall,
        "scan_seconds": (scan_secs * 100.0).round() / 100.0,
        "floor": defaults.min_score,
        "sweep": floors,
    });
    println!("{summary}");
    Ok(ExitCode::SUCCESS)
}
