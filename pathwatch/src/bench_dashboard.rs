//! `pathwatch bench dashboard`: server-side time of the overview (for on-call, and for a safety
//! officer, whose overview also flags hazards from the starter log), a pathway page and the SLO page
//! with 30 days of canary runs (one a minute per pathway) and millions of real-traffic spans in the
//! store, on SQLite and on ClickHouse. Requests go through the real router (sign-in, templates)
//! with `oneshot`, so the time is what the server spends, without the network. Prints p50/p95 per
//! page and backend beside the 150 ms target, then one JSON line.
//!
//! A benchmark measures; it asserts nothing. Build with `--release` for figures worth quoting.

use std::time::Instant;

use anyhow::Context;
use audit_store::SpanStore;
use audit_store::{
    AnyStore, ClickHouseConfig, ClickHouseStore, Span, SpanKind, SpanStatus, SqliteStore, WireCompression,
    NANOS_PER_SEC,
};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use dashboard::auth::accounts::{Accounts, Role};
use dashboard::state::{DashboardState, WebConfig};
use dashboard::web::router;
use engine::pathways::{default_pathway, PathwayConfig, SpanSelector};
use engine::slo::SloConfig;
use tower::ServiceExt;

#[derive(clap::Args, Clone)]
pub struct DashboardBench {
    /// Real-traffic spans stored (spread over the days).
    #[arg(long, default_value_t = 10_000_000)]
    spans: u64,
    /// Days of canary runs, one a minute per pathway.
    #[arg(long, default_value_t = 30)]
    days: u64,
    /// Timed requests per page (after a few untimed ones).
    #[arg(long, default_value_t = 50)]
    requests: usize,
    /// ClickHouse HTTP URL; without it only SQLite is measured.
    #[arg(long, env = "PATHWATCH_TEST_CLICKHOUSE_URL")]
    clickhouse_url: Option<String>,
    /// With --clickhouse-url: a cluster of the servers' remote_servers, laid out as
    /// `store.clickhouse.cluster` does (replicated tables behind distributed ones).
    #[arg(long)]
    cluster: Option<String>,
    /// Leave SQLite out (at 100 million spans it takes hours to fill).
    #[arg(long)]
    no_sqlite: bool,
}

const FLOWS: [&str; 4] = ["pds", "gpconnect", "nrl", "mesh"];
/// Real traffic: (service, route, pathway flow it measures).
const ROUTES: [(&str, &str, &str); 5] = [
    ("pds-gateway", "GET /Patient/{id}", "pds"),
    ("gp-booking-api", "GET /Slot", "gpconnect"),
    ("gp-booking-api", "POST /Appointment", "gpconnect"),
    ("nrl-consumer", "GET /DocumentReference", "nrl"),
    ("mesh-client", "POST /messageexchange/{mailbox}/outbox", "mesh"),
];
const STEPS: [&str; 4] = ["token", "read", "search", "check"];
const BATCH: u64 = 50_000;
const MINUTE: u64 = 60 * NANOS_PER_SEC;

fn pathways() -> Vec<PathwayConfig> {
    FLOWS
        .iter()
        .map(|flow| {
            let mut p = default_pathway(flow);
            p.spans = ROUTES
                .iter()
                .filter(|(_, _, f)| f == flow)
                .map(|(service, route, _)| SpanSelector { service: (*service).into(), name: Some((*route).into()) })
                .collect();
            p
        })
        .collect()
}

fn span(trace: u64, id: u64, parent: u64, service: &str, name: &str, start_ns: u64, duration_ns: u64) -> Span {
    Span {
        trace_id: format!("{trace:032x}"),
        span_id: format!("{id:016x}"),
        parent_span_id: if parent == 0 { String::new() } else { format!("{parent:016x}") },
        name: name.into(),
        kind: SpanKind::Internal,
        service_name: service.into(),
        start_ns,
        duration_ns,
        attributes: Vec::new(),
        resource: Vec::new(),
        events: Vec::new(),
        links: Vec::new(),
        ..Span::default()
    }
}

/// A cheap deterministic spread: xorshift on the index.
fn noise(n: u64) -> u64 {
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// The canary runs: each a root span with the run's status and four step spans.
fn canary_batch(first: u64, count: u64, start_ns: u64) -> Vec<Span> {
    let mut spans = Vec::with_capacity(count as usize * 5);
    for n in first..first + count {
        let (minute, flow) = (n / FLOWS.len() as u64, FLOWS[(n % FLOWS.len() as u64) as usize]);
        let t = start_ns + minute * MINUTE;
        let failing = noise(n).is_multiple_of(100);
        let trace = 0x1_0000_0000 + n;
        let mut root =
            span(trace, 1, 0, "pathwatch-canary", &format!("canary {flow}"), t, 300_000_000 + noise(n) % 200_000_000);
        root.attributes = vec![
            ("pathwatch.canary.flow".into(), flow.into()),
            ("pathwatch.canary.status".into(), if failing { "outage" } else { "healthy" }.into()),
        ];
        if failing {
            root.status = SpanStatus::Error;
            root.attributes.push(("pathwatch.canary.error_class".into(), "5xx".into()));
            root.attributes.push(("pathwatch.canary.failed_step".into(), "read".into()));
        }
        spans.push(root);
        for (i, step) in STEPS.iter().enumerate() {
            let mut s = span(
                trace,
                i as u64 + 2,
                1,
                "pathwatch-canary",
                &format!("GET /{step}"),
                t + i as u64 * 60_000_000,
                50_000_000,
            );
            s.attributes =
                vec![("pathwatch.canary.flow".into(), flow.into()), ("pathwatch.canary.step".into(), (*step).into())];
            spans.push(s);
        }
    }
    spans
}

fn traffic_batch(first: u64, count: u64, start_ns: u64, spacing_ns: u64) -> Vec<Span> {
    (first..first + count)
        .map(|n| {
            let (service, route, _) = ROUTES[(n % ROUTES.len() as u64) as usize];
            let r = noise(n);
            let mut s =
                span(n + 1, 1, 0, service, route, start_ns + n * spacing_ns, 20_000_000 + (r % 400) * 1_000_000);
            s.kind = SpanKind::Server;
            if r.is_multiple_of(97) {
                s.status = SpanStatus::Error;
            }
            s
        })
        .collect()
}

async fn fill(store: &AnyStore, args: &DashboardBench, now: u64) -> anyhow::Result<f64> {
    let started = Instant::now();
    let from = now - args.days * 86_400 * NANOS_PER_SEC;
    let runs = args.days * 1440 * FLOWS.len() as u64;
    let mut n = 0;
    while n < runs {
        let count = (BATCH / 5).min(runs - n);
        store.insert_spans(&canary_batch(n, count, from)).await.context("storing canary runs")?;
        n += count;
    }
    let spacing = (now - from) / args.spans.max(1);
    let mut n = 0;
    while n < args.spans {
        let count = BATCH.min(args.spans - n);
        store.insert_spans(&traffic_batch(n, count, from, spacing)).await.context("storing traffic")?;
        n += count;
        if n % 1_000_000 < BATCH {
            eprintln!("  … {n} spans of traffic stored ({:.0} s)", started.elapsed().as_secs_f64());
        }
    }
    Ok(started.elapsed().as_secs_f64())
}

struct Timing {
    page: String,
    p50_ms: f64,
    p95_ms: f64,
    max_ms: f64,
}

async fn time_pages(store: AnyStore, requests: usize, dir: &std::path::Path) -> anyhow::Result<Vec<Timing>> {
    let accounts = Accounts::open(&dir.join("dashboard.db")).await?;
    accounts.create("bench", Role::Oncall, &[], "bench password 12345", false).await?;
    accounts.create("bench-cso", Role::SafetyOfficer, &[], "bench password 12345", false).await?;
    let slos: Vec<SloConfig> = FLOWS.iter().map(|f| SloConfig::availability(f)).collect();
    // The starter hazard log, as `pathwatch up` loads in demo mode: a safety officer's overview
    // also flags hazards whose controls' evidence fails.
    let log = hazard_log::HazardLog::open(&dir.join("hazards.db")).await?;
    log.import(&hazard_log::io::from_yaml(hazard_log::STARTER_LOG)?, "bench", "starter", 1).await?;
    let evidence = engine::evidence_monitor::EvidenceConfig::default();
    let state = DashboardState::builder(accounts, dashboard::RunningParts { lines: vec![] }, WebConfig::default())
        .with_data(store, slos, pathways())
        .with_hazards(log.clone())
        .with_evidence_monitor(std::time::Duration::from_secs(evidence.check_every_minutes * 60))
        .build();
    // One round of the evidence monitor, as `pathwatch up` runs every few minutes (untimed).
    engine::evidence_monitor::EvidenceMonitor::new(state.sources().clone(), log, evidence, None, String::new())
        .round(domain::Clock::System.now_ns_i64())
        .await
        .map_err(anyhow::Error::msg)?;
    let oncall = state.sessions().start("bench", domain::Clock::System.now_ns_i64()).await?;
    let cso = state.sessions().start("bench-cso", domain::Clock::System.now_ns_i64()).await?;
    let app = router(state);
    let mut out = Vec::new();
    for (label, page, token) in [
        ("/", "/", &oncall),
        ("/pathways/gp-record-and-booking", "/pathways/gp-record-and-booking", &oncall),
        ("/slos", "/slos", &oncall),
        ("/ (safety officer: hazard flags)", "/", &cso),
    ] {
        let mut times = Vec::with_capacity(requests);
        for i in 0..requests + 3 {
            let cookie = format!("{}={token}", dashboard::auth::extract::session_cookie_name(&WebConfig::default()));
            let request = Request::get(page).header(header::COOKIE, cookie).body(Body::empty())?;
            let started = Instant::now();
            let response = app.clone().oneshot(request).await?;
            let status = response.status();
            let _ = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
            let ms = started.elapsed().as_secs_f64() * 1e3;
            anyhow::ensure!(status == StatusCode::OK, "{page} answered {status}");
            if i >= 3 {
                times.push(ms);
            }
        }
        times.sort_by(f64::total_cmp);
        let at = |q: f64| times[((q * times.len() as f64) as usize).min(times.len() - 1)];
        out.push(Timing { page: label.into(), p50_ms: at(0.5), p95_ms: at(0.95), max_ms: at(1.0) });
    }
    Ok(out)
}

pub async fn dashboard(args: DashboardBench) -> anyhow::Result<std::process::ExitCode> {
    let dir = tempfile::tempdir()?;
    let now = domain::system_now_ns();
    let runs = args.days * 1440 * FLOWS.len() as u64;
    println!(
        "Dashboard pages with {runs} canary runs ({} spans) over {} days and {} real-traffic spans; {} timed requests per page",
        runs * 5,
        args.days,
        args.spans,
        args.requests
    );
    let mut results: Vec<(String, f64, Vec<Timing>)> = Vec::new();
    if !args.no_sqlite {
        let sqlite = AnyStore::Sqlite(SqliteStore::open(&dir.path().join("telemetry.db")).await?);
        eprintln!("filling SQLite …");
        let fill_s = fill(&sqlite, &args, now).await?;
        results.push(("SQLite".into(), fill_s, time_pages(sqlite, args.requests, dir.path()).await?));
    }
    if let Some(url) = &args.clickhouse_url {
        let database = format!("pathwatch_bench_dashboard_{}", std::process::id());
        let config = ClickHouseConfig {
            url: url.clone(),
            database,
            compression: WireCompression::Lz4,
            cluster: args.cluster.clone(),
            ..ClickHouseConfig::default()
        };
        let ch = AnyStore::ClickHouse(Box::new(ClickHouseStore::connect(&config).await?));
        eprintln!("filling ClickHouse{} …", args.cluster.as_ref().map(|c| format!(" cluster {c}")).unwrap_or_default());
        let fill_s = fill(&ch, &args, now).await?;
        let ch_dir = dir.path().join("ch");
        std::fs::create_dir_all(&ch_dir)?;
        results.push(("ClickHouse".into(), fill_s, time_pages(ch, args.requests, &ch_dir).await?));
    } else {
        println!("(ClickHouse not measured: give --clickhouse-url or PATHWATCH_TEST_CLICKHOUSE_URL)");
    }
    println!();
    println!(
        "{:<11} {:<34} {:>9} {:>9} {:>9} {:>8} {:>10}",
        "backend", "page", "p50 ms", "p95 ms", "max ms", "target", "p95/target"
    );
    let mut json = serde_json::Map::new();
    for (backend, fill_s, timings) in &results {
        for t in timings {
            println!(
                "{backend:<11} {:<34} {:>9.1} {:>9.1} {:>9.1} {:>8} {:>10.2}",
                t.page,
                t.p50_ms,
                t.p95_ms,
                t.max_ms,
                "150",
                t.p95_ms / 150.0
            );
            let key = format!(
                "{}_{}",
                backend.to_lowercase(),
                if t.page == "/" {
                    "overview"
                } else if t.page.starts_with("/ (") {
                    "overview_cso"
                } else if t.page == "/slos" {
                    "slos"
                } else {
                    "pathway"
                }
            );
            json.insert(format!("{key}_p50_ms"), serde_json::json!((t.p50_ms * 10.0).round() / 10.0));
            json.insert(format!("{key}_p95_ms"), serde_json::json!((t.p95_ms * 10.0).round() / 10.0));
        }
        println!("{backend:<11} (filled in {fill_s:.0} s)");
        json.insert(format!("{}_fill_s", backend.to_lowercase()), serde_json::json!(fill_s.round()));
    }
    if let Some((_, _, ch)) = results.get(1) {
        println!();
        for (s, c) in results[0].2.iter().zip(ch) {
            println!("{:<34} ClickHouse p95 / SQLite p95 = {:.2}", s.page, c.p95_ms / s.p95_ms.max(1e-9));
        }
    }
    println!("{}", serde_json::Value::Object(json));
    Ok(std::process::ExitCode::SUCCESS)
}
