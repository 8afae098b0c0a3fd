//! `pathwatch`: parses the command line and wires the parts together. No domain logic lives here.

mod audit_export;
mod audit_review;
mod bench;
mod bench_audit;
mod bench_canary;
mod bench_cluster;
mod bench_dashboard;
mod bench_hostile;
mod canary;
mod commands;
mod config;
mod config_check;
mod demo;
mod demo_access;
mod hazards;
mod health;
mod listener;
mod memory;
mod oidc_config;
mod report;
mod serve;
mod slo;
mod spool_admin;
mod state_admin;
mod state_config;
mod supervisor;
mod telemetry;
mod users;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "pathwatch",
    version,
    about = "Watches NHS API integrations: pathway health, audit trails, clinical safety evidence"
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
pub struct Common {
    /// TOML configuration file (keys: deploy/configuration.md).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where data and generated secrets live [default: ./data].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run everything in one process: collector on 127.0.0.1:4318 (OTLP/gRPC on 127.0.0.1:4317),
    /// dashboard on 127.0.0.1:8080, our
    /// sandboxes on 127.0.0.1:4380 and the canaries against them.
    Up,
    /// Run our PDS, GP Connect, NRL and MESH sandboxes alone and print each one's base URL.
    Sandbox,
    /// Print synthetic patients as FHIR Patient JSON lines (999-range NHS numbers), optionally morphed.
    Patients(canary::PatientsArgs),
    /// Dashboard accounts (new and reset accounts get a one-time password, printed once).
    User {
        #[command(subcommand)]
        command: users::UserCommand,
    },
    /// Service level objectives.
    Slo {
        #[command(subcommand)]
        command: SloCommand,
    },
    /// Canary tools.
    Canary {
        #[command(subcommand)]
        command: CanaryCommand,
    },
    /// Run the collector alone (OTLP/HTTP traces and audit events in, retention, the spool).
    Collector,
    /// Run the dashboard alone (pages and the JSON API), reading the same stores as the collector.
    Dashboard,
    /// Run the monitor alone: the alert engine, the evidence monitor and audit chain verification,
    /// the audit rules, scheduled report delivery.
    Monitor,
    /// Run the canary scheduler alone, exporting each run to the collector (keeps no store).
    Canaries,
    /// Audit trail tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The DCB0129 hazard log: import and export as YAML or CSV.
    Hazard {
        #[command(subcommand)]
        command: hazards::HazardCommand,
    },
    /// Assurance reports: `report dcb0129|dtac|dspt --from DAY --to DAY --out DIR|FILE.zip` builds a
    /// pack (HTML, PDF, JSON and a SHA-256 manifest); `report verify PACK` checks one.
    Report(report::ReportArgs),
    /// Benchmarks (they measure and print; they assert nothing).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// The spool in front of ClickHouse: batches ClickHouse refused for good (list, retry, drop).
    Spool {
        #[command(subcommand)]
        command: spool_admin::SpoolCommand,
    },
    /// The state database: `state migrate --from sqlite:DIR --to postgres://…` moves a standalone
    /// deployment's accounts, sessions, alerts … into PostgreSQL, verified table by table.
    State {
        #[command(subcommand)]
        command: state_admin::StateCommand,
    },
    /// Check the configuration (file, environment, flags) without starting anything: exit 2 naming
    /// every key that is wrong, else say what the roles would use and warn of what a role run apart
    /// would lack.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Print a trace's spans as JSON, by trace id or correlation id.
    Trace {
        /// A 32-hex-digit trace id, or a correlation id (X-Correlation-ID / X-Request-ID).
        id: String,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Load and validate the configuration; print a summary and what a role run apart would lack.
    Check,
}

#[derive(Subcommand)]
enum SloCommand {
    /// Write Prometheus recording and alerting rules equivalent to Pathwatch's SLO evaluation
    /// (check them with `promtool check rules`).
    Rules {
        /// File to write; default: standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Write the configured SLOs as OpenSLO v1 YAML (SLO documents with their SLI, and an
    /// AlertPolicy per burn-rate condition).
    Export {
        /// File to write; default: standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Read OpenSLO v1 YAML and write the SLOs as `[[slos]]` configuration to add to yours; what
    /// does not map is refused, naming the document and field.
    Import {
        /// The OpenSLO file.
        file: PathBuf,
        /// File to write; default: standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum CanaryCommand {
    /// Run one flow once against its configured environment; print each step as a JSON line; exit 1
    /// unless the flow passes.
    Run {
        /// Flow name (built-in: pds, gpconnect, nrl, mesh).
        flow: String,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// OTLP ingest over loopback HTTP into SQLite and ClickHouse, against the ClickHouse ceiling.
    Ingest(bench::IngestBench),
    /// Canary overhead per step (Pathwatch vs wire) and flows per second on one core, against our sandboxes.
    Canary(bench_canary::CanaryBench),
    /// Server-side time of the overview, a pathway page and the SLO page over 30 days of canary
    /// runs and millions of spans, on SQLite and ClickHouse.
    Dashboard(bench_dashboard::DashboardBench),
    /// A full scan of every audit anomaly rule over millions of events, on SQLite and ClickHouse,
    /// with peak memory.
    AuditRules(bench_audit::AuditRulesBench),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chain; report the first altered, missing or reordered record and exit 1 if any.
    Verify,
    /// Print matching audit events as JSON lines, oldest first.
    Search(commands::AuditSearch),
    /// Export a period's audit events for another audit repository or SIEM:
    /// `--format fhir-ndjson` writes FHIR R4 AuditEvent resources (IHE BALP shapes), one per line,
    /// each with its place in the hash chain.
    Export(audit_export::AuditExport),
    /// Run the anomaly rules now: over what arrived since the last scan, or `--from`/`--to` history.
    Scan(audit_review::ScanArgs),
    /// Load what explains accesses: the staff directory, the patient index, care relationships (CSV).
    Context(audit_review::ContextArgs),
    /// Measure the rules on a labelled synthetic access log: precision and recall per rule and
    /// overall; the last line is the overall figures as JSON.
    Evaluate(audit_review::EvaluateArgs),
}

fn main() -> ExitCode {
    memory::bound_the_allocator();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let config = config::load(cli.common.config.as_deref(), cli.common.data_dir.as_deref());
        // Only the long-running roles export their own spans; one-shot commands just log.
        let long_running = matches!(
            cli.command,
            Command::Up
                | Command::Collector
                | Command::Dashboard
                | Command::Monitor
                | Command::Canaries
                | Command::Sandbox
        );
        let self_telemetry = config.as_ref().ok().filter(|_| long_running).map(|c| &c.self_telemetry);
        let _telemetry = telemetry::init(self_telemetry)?;
        let config = config?;
        match cli.command {
            Command::Up => serve::run(config, serve::Mode::Standalone).await.map(|()| ExitCode::SUCCESS),
            Command::Collector => {
                serve::run(config, serve::Mode::Only(serve::Role::Collector)).await.map(|()| ExitCode::SUCCESS)
            }
            Command::Dashboard => {
                serve::run(config, serve::Mode::Only(serve::Role::Dashboard)).await.map(|()| ExitCode::SUCCESS)
            }
            Command::Monitor => {
                serve::run(config, serve::Mode::Only(serve::Role::Monitor)).await.map(|()| ExitCode::SUCCESS)
            }
            Command::Canaries => {
                serve::run(config, serve::Mode::Only(serve::Role::Canaries)).await.map(|()| ExitCode::SUCCESS)
            }
            Command::Sandbox => canary::sandbox(&config).await,
            Command::Patients(args) => canary::patients(&args),
            Command::User { command } => users::run(&config, command).await,
            Command::Slo { command: SloCommand::Rules { out } } => slo::rules(&config, out.as_deref()),
            Command::Slo { command: SloCommand::Export { out } } => slo::export(&config, out.as_deref()),
            Command::Slo { command: SloCommand::Import { file, out } } => slo::import(&file, out.as_deref()),
            Command::Canary { command: CanaryCommand::Run { flow } } => canary::run(&config, &flow).await,
            Command::Audit { command: AuditCommand::Verify } => commands::audit_verify(&config).await,
            Command::Audit { command: AuditCommand::Search(search) } => commands::audit_search(&config, search).await,
            Command::Audit { command: AuditCommand::Export(args) } => audit_export::audit_export(&config, args).await,
            Command::Audit { command: AuditCommand::Scan(args) } => audit_review::scan(&config, args).await,
            Command::Audit { command: AuditCommand::Context(args) } => audit_review::context(&config, args).await,
            Command::Audit { command: AuditCommand::Evaluate(args) } => audit_review::evaluate_command(args).await,
            Command::Trace { id } => commands::trace(&config, &id).await,
            Command::Config { command: ConfigCommand::Check } => commands::config_check(&config),
            Command::Spool { command } => spool_admin::run(&config, command).await,
            Command::State { command } => state_admin::run(command).await,
            Command::Hazard { command } => hazards::run(&config, command).await,
            Command::Report(args) => report::run(&config, args).await,
            Command::Bench { command: BenchCommand::Ingest(args) } => bench::ingest(args).await,
            Command::Bench { command: BenchCommand::Canary(args) } => bench_canary::canary(args).await,
            Command::Bench { command: BenchCommand::Dashboard(args) } => bench_dashboard::dashboard(args).await,
            Command::Bench { command: BenchCommand::AuditRules(args) } => bench_audit::audit_rules(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
