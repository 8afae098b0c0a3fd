//! `pathwatch bench audit-rules`: a full scan of every anomaly rule over millions of audit events
//! (the labelled synthetic log of `audit evaluate`), on SQLite and on ClickHouse. Prints the scan
//! time beside the targets (60 s on ClickHouse, 5 minutes on SQLite) with the ratio, and
//! peak memory: Pathwatch's own (which holds SQLite), and the ClickHouse server's when its process
//! id is given. Peaks are reset just before the scan (`/proc/<pid>/clear_refs`), so loading the
//! log does not count. Ends with one JSON line.
//!
//! A benchmark measures; it asserts nothing.

use std::time::Instant;

use anyhow::Context;
use audit_review::scenario::{Scenario, ScenarioConfig};
use audit_review::{evaluate, RulesConfig};
use audit_store::{AnyStore, ClickHouseConfig, ClickHouseStore, SqliteStore};

#[derive(clap::Args, Clone)]
pub struct AuditRulesBench {
    /// About how many audit events the log holds.
    #[arg(long, default_value_t = 10_000_000)]
    events: u64,
    /// Timed full scans per backend (the fastest and the median are reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// ClickHouse HTTP URL; without it only SQLite is measured.
    #[arg(long, env = "PATHWATCH_TEST_CLICKHOUSE_URL")]
    clickhouse_url: Option<String>,
    /// Process id of that ClickHouse server (same machine), to report its peak memory.
    #[arg(long)]
    clickhouse_pid: Option<u32>,
    /// Skip SQLite (measure ClickHouse only).
    #[arg(long)]
    no_sqlite: bool,
}

/// Peak resident memory of a process, in MiB, from `/proc/<pid>/status` (VmHWM).
fn peak_mib(pid: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Resets a process's peak resident memory to its current size (Linux 4.0+).
fn reset_peak(pid: &str) {
    if let Err(e) = std::fs::write(format!("/proc/{pid}/clear_refs"), "5") {
        eprintln!("  (cannot reset the peak memory of process {pid}: {e}; its peak includes the load)");
    }
}

struct Measured {
    backend: &'static str,
    events: u64,
    load_secs: f64,
    scans: Vec<f64>,
    findings: usize,
    pathwatch_peak_mib: Option<f64>,
    server_peak_mib: Option<f64>,
    target_secs: f64,
}

async fn measure(
    backend: &'static str,
    store: &AnyStore,
    scenario: &Scenario,
    runs: usize,
    server_pid: Option<u32>,
    target_secs: f64,
) -> anyhow::Result<Measured> {
    eprintln!("{backend}: writing the log");
    let started = Instant::now();
    let events = scenario
        .load(store, |day, written| {
            if day % 7 == 6 {
                eprintln!("  day {}: {written} events", day + 1);
            }
        })
        .await
        .context("writing the synthetic log")?;
    let load_secs = started.elapsed().as_secs_f64();
    let server = server_pid.map(|p| p.to_string());
    reset_peak("self");
    if let Some(pid) = &server {
        reset_peak(pid);
    }
    let rules = RulesConfig::default();
    let mut scans = Vec::new();
    let mut findings = 0;
    for run in 0..runs.max(1) {
        let started = Instant::now();
        let found = evaluate(store, &rules, scenario.config.start_ns, scenario.config.end_ns())
            .await
            .context("running the rules")?;
        let secs = started.elapsed().as_secs_f64();
        eprintln!("  scan {}: {secs:.1} s, {} findings", run + 1, found.len());
        findings = found.len();
        scans.push(secs);
    }
    scans.sort_by(f64::total_cmp);
    Ok(Measured {
        backend,
        events,
        load_secs,
        scans,
        findings,
        pathwatch_peak_mib: peak_mib("self"),
        server_peak_mib: server.as_deref().and_then(peak_mib),
        target_secs,
    })
}

/// A fictional postcode (outward codes `ZZ1` to `ZZ8`, which no real postcode uses) at the end of
/// an address, the same for the same address.
fn with_postcode(address: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    address.hash(&mut hasher);
    let x = hasher.finish();
    let letter = |shift: u32| char::from(b"ABDEFGHJLNPQRSTUWXYZ"[((x >> shift) % 20) as usize]);
    format!("{address}, ZZ{} {}{}{}", 1 + x % 8, (x >> 8) % 10, letter(16), letter(24))
}

pub async fn audit_rules(args: AuditRulesBench) -> anyhow::Result<std::process::ExitCode> {
    let config = ScenarioConfig::for_events(args.events, 1);
    eprintln!(
        "log: {} organisations × {} staff, {} patients, {} days (about {} events)",
        config.organisations, config.staff_per_organisation, config.patients, config.days, args.events
    );
    let mut scenario = Scenario::new(config);
    // Every home with a postcode, so the scan joins everyone's place as it would on real files.
    scenario.staff.iter_mut().for_each(|s| s.address = with_postcode(&s.address));
    scenario.patients.iter_mut().for_each(|p| p.address = with_postcode(&p.address));
    let mut results = Vec::new();
    let dir = tempfile::tempdir()?;
    if !args.no_sqlite {
        let store = AnyStore::Sqlite(SqliteStore::open(&dir.path().join("telemetry.db")).await?);
        results.push(measure("sqlite", &store, &scenario, args.runs, None, 300.0).await?);
    }
    if let Some(url) = &args.clickhouse_url {
        let database = format!("pathwatch_bench_audit_{}", std::process::id());
        let config = ClickHouseConfig { url: url.clone(), database, ..Default::default() };
        let store = ClickHouseStore::connect(&config).await.with_context(|| format!("connecting to {url}"))?;
        eprintln!("ClickHouse {}", store.server_version());
        let store = AnyStore::ClickHouse(Box::new(store));
        results.push(measure("clickhouse", &store, &scenario, args.runs, args.clickhouse_pid, 60.0).await?);
    }
    let mib = |v: Option<f64>| v.map_or("–".to_string(), |m| format!("{m:.0}"));
    println!(
        "{:<11} {:>10} {:>9} {:>10} {:>11} {:>8} {:>7} {:>9} {:>14} {:>12}",
        "backend",
        "events",
        "load s",
        "scan s min",
        "scan s med",
        "target",
        "ratio",
        "findings",
        "pathwatch MiB",
        "server MiB"
    );
    let mut json = Vec::new();
    for m in &results {
        let (min, median) = (m.scans[0], m.scans[m.scans.len() / 2]);
        println!(
            "{:<11} {:>10} {:>9.1} {:>10.1} {:>11.1} {:>8.0} {:>7.2} {:>9} {:>14} {:>12}",
            m.backend,
            m.events,
            m.load_secs,
            min,
            median,
            m.target_secs,
            median / m.target_secs,
            m.findings,
            mib(m.pathwatch_peak_mib),
            mib(m.server_peak_mib)
        );
        json.push(serde_json::json!({
            "backend": m.backend,
            "events": m.events,
            "scan_seconds_min": (min * 100.0).round() / 100.0,
            "scan_seconds_median": (median * 100.0).round() / 100.0,
            "target_seconds": m.target_secs,
            "findings": m.findings,
            "pathwatch_peak_mib": m.pathwatch_peak_mib.map(f64::round),
            "server_peak_mib": m.server_peak_mib.map(f64::round),
        }));
    }
    if let [sqlite, clickhouse] = &results[..] {
        println!("SQLite / ClickHouse scan time: {:.1}×", sqlite.scans[0] / clickhouse.scans[0].max(1e-9));
    }
    println!("{}", serde_json::Value::Array(json));
    Ok(std::process::ExitCode::SUCCESS)
}
