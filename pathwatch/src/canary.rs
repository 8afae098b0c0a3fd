//! `pathwatch canary run FLOW` and `pathwatch sandbox`: what an operator runs to check a fix, and
//! the sandboxes on their own.

use std::io::Write;
use std::process::ExitCode;

use crate::config::Config;

/// Runs one flow once, printing each step as a JSON line as it finishes and the run as the last
/// line. Exit 0 when the run passes (healthy or degraded), 1 when it does not.
pub async fn run(config: &Config, flow: &str) -> anyhow::Result<ExitCode> {
    let mut config = config.clone();
    crate::demo::add_demo_environment(&mut config)?;
    let canaries = canaries::Canaries::new(&config.canaries)?;
    let print = |step: &canaries::StepResult| {
        let mut out = std::io::stdout().lock();
        if let Ok(line) = serde_json::to_string(step) {
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    };
    let run = canaries.run_named(flow, Some(&print)).await?;
    let summary = serde_json::json!({
        "flow": run.flow, "environment": run.environment, "status": run.status,
        "error_class": run.error_class, "correlation_id": run.correlation_id, "trace_id": run.trace_id,
        "duration_ms": run.duration_ms, "passed": run.status.passes(),
    });
    println!("{summary}");
    Ok(if run.status.passes() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Runs our sandboxes alone until interrupted, printing each API's base URL.
pub async fn sandbox(config: &Config) -> anyhow::Result<ExitCode> {
    let sandbox = crate::demo::start_sandbox(config).await?;
    let urls = sandbox.urls();
    for (name, url) in [
        ("token", &urls.token),
        ("pds", &urls.pds),
        ("gpconnect", &urls.gpconnect),
        ("nrl_producer", &urls.nrl_producer),
        ("nrl_consumer", &urls.nrl_consumer),
        ("mesh", &urls.mesh),
        ("cis2", &urls.cis2),
        ("nhslogin", &urls.nhslogin),
        ("admin", &urls.admin),
    ] {
        println!("{name}: {url}");
    }
    println!(
        "demo credentials: api key {}, kid {}, private key {}",
        crate::demo::DEMO_API_KEY,
        crate::demo::DEMO_KID,
        config.data_dir.join("demo-canary-key.pem").display()
    );
    println!("ready");
    crate::serve::shutdown_signal().await;
    sandbox.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct PatientsArgs {
    /// How many patients.
    #[arg(long, default_value_t = 10)]
    count: usize,
    /// The same seed gives the same patients (our sandboxes use seed 1, 50 patients).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Make each record awkward: malformed-birth-date, missing-identifier, unexpected-coding,
    /// superseded, restricted, deceased, invalid-nhs-number, invalid-gender.
    #[arg(long)]
    morph: Option<String>,
}

fn kebab(morph: sandboxes::patients::Morph) -> String {
    let mut out = String::new();
    for (i, c) in format!("{morph:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Prints synthetic patients as FHIR Patient JSON lines (999-range NHS numbers with valid check
/// digits), optionally morphed into the awkward cases sandboxes and canaries are tested with.
pub fn patients(args: &PatientsArgs) -> anyhow::Result<ExitCode> {
    use sandboxes::patients::{generate, Morph};
    let morph = match &args.morph {
        None => None,
        Some(name) => Some(Morph::ALL.into_iter().find(|m| kebab(*m) == *name).ok_or_else(|| {
            let known: Vec<String> = Morph::ALL.into_iter().map(kebab).collect();
            anyhow::anyhow!("unknown --morph {name:?}; one of: {}", known.join(", "))
        })?),
    };
    let mut out = std::io::stdout().lock();
    for patient in generate(args.seed, args.count) {
        let record = match morph {
            Some(m) => m.apply_to_patient(&patient),
            None => patient.to_fhir(),
        };
        writeln!(out, "{record}")?;
    }
    Ok(ExitCode::SUCCESS)
}
