//! `pathwatch bench ingest`: drives a real collector process over loopback HTTP with OTLP protobuf
//! batches and prints, side by side, spans/s and peak RSS into SQLite, spans/s into ClickHouse end
//! to end (until the spool has drained), and the ClickHouse ceiling measured in the same run (the same
//! rows bulk-inserted straight into ClickHouse as RowBinary), with their ratio. Then a hostile mix
//! against a fresh collector (`bench_hostile`): its peak RSS beside the target, and how much
//! ordinary data still went in. Ends with one JSON line.
//!
//! A benchmark measures; it asserts nothing. Build with `--release` for figures worth quoting.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use audit_store::{ClickHouseConfig, ClickHouseStore, WireCompression};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;

#[derive(clap::Args, Clone)]
pub struct IngestBench {
    /// Spans sent to each backend.
    #[arg(long, default_value_t = 1_000_000)]
    spans: usize,
    /// Spans per OTLP request.
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Concurrent HTTP connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Compression between Pathwatch and ClickHouse: lz4 or none.
    #[arg(long, default_value = "lz4")]
    compression: String,
    /// Seconds of hostile requests (0: skip that part).
    #[arg(long, default_value_t = 15)]
    hostile_secs: u64,
    /// ClickHouse HTTP URL; without it only SQLite is measured.
    #[arg(long, env = "PATHWATCH_TEST_CLICKHOUSE_URL")]
    clickhouse_url: Option<String>,
    /// Two nodes of a ClickHouse cluster (HTTP URLs, space-separated): two collectors, one per
    /// node, are measured against one collector into `--clickhouse-url`.
    #[arg(long, env = "PATHWATCH_TEST_CLICKHOUSE_CLUSTER_URLS")]
    cluster_urls: Option<String>,
    /// The cluster's name in the servers' remote_servers.
    #[arg(long, default_value = "pathwatch")]
    cluster: String,
}

pub(crate) const TOKEN: &str = "bench-token-0123456789abcdef";

pub(crate) fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

/// Request bodies shaped like canary and real-traffic spans: HTTP client spans with the usual
/// attributes, one NHS number in the URL (so pseudonymisation is part of the cost).
fn requests(total: usize, batch: usize, t0_ns: u64) -> Vec<Vec<u8>> {
    let routes = ["GET /Patient/{id}", "GET /Patient", "POST /Appointment", "GET /Slot", "POST /DocumentReference"];
    (0..total.div_ceil(batch))
        .map(|b| {
            let spans = (0..batch.min(total - b * batch))
                .map(|i| {
                    let n = (b * batch + i) as u64;
                    let mut trace_id = [0u8; 16];
                    trace_id[..8].copy_from_slice(&(n / 8 + 1).to_be_bytes());
                    trace_id[8..].copy_from_slice(&0x5eed_u64.to_be_bytes());
                    Span {
                        trace_id: trace_id.to_vec(),
                        span_id: (n + 1).to_be_bytes().to_vec(),
                        parent_span_id: if n.is_multiple_of(8) {
                            vec![]
                        } else {
                            (n - n % 8 + 1).to_be_bytes().to_vec()
                        },
                        name: routes[(n % 5) as usize].into(),
                        kind: span::SpanKind::Client as i32,
                        start_time_unix_nano: t0_ns + n * 1_000,
                        end_time_unix_nano: t0_ns + n * 1_000 + 20_000_000 + (n % 97) * 1_000_000,
                        attributes: vec![
                            kv("http.request.method", "GET"),
                            kv(
                                "url.full",
                                "https://int.api.service.nhs.uk/personal-demographics/FHIR/R4/Patient/9000000009",
                            ),
                            kv("server.address", "int.api.service.nhs.uk"),
                            kv("http.response.status_code", "200"),
                            kv("pathwatch.correlation_id", &format!("corr-{}", n / 8)),
                            kv("pathwatch.pathway", "look-up-a-patient"),
                        ],
                        status: Some(Status { message: String::new(), code: status::StatusCode::Ok as i32 }),
                        ..Default::default()
                    }
                })
                .collect();
            ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    resource: Some(Resource {
                        attributes: vec![kv("service.name", "bench"), kv("deployment.environment", "int")],
                        ..Default::default()
                    }),
                    scope_spans: vec![ScopeSpans {
                        scope: Some(InstrumentationScope { name: "pathwatch-bench".into(), ..Default::default() }),
                        spans,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            }
            .encode_to_vec()
        })
        .collect()
}

pub(crate) struct CollectorProcess {
    pub(crate) child: Child,
    pub(crate) url: String,
}

impl Drop for CollectorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub(crate) fn start_collector(data_dir: &Path, env: &[(&str, String)]) -> anyhow::Result<CollectorProcess> {
    let port = free_port()?;
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("--data-dir")
        .arg(data_dir)
        .arg("collector")
        .env("PATHWATCH_INGEST_TOKEN", TOKEN)
        .env("PATHWATCH_COLLECTOR__LISTEN", format!("127.0.0.1:{port}"))
        .env("PATHWATCH_COLLECTOR__GRPC_LISTEN", "127.0.0.1:0")
        .env("PATHWATCH_LOG", "warn")
        .stdout(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().context("starting the collector")?;
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the collector did not open port {port}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(CollectorProcess { child, url: format!("http://127.0.0.1:{port}") })
}

/// Peak resident set size of a process, from /proc (Linux).
pub(crate) fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Sends every body, `connections` at a time; returns when all were acknowledged.
pub(crate) async fn drive(url: &str, bodies: Arc<Vec<Vec<u8>>>, connections: usize) -> anyhow::Result<Duration> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (client, bodies, next, url) = (client.clone(), bodies.clone(), next.clone(), format!("{url}/v1/traces"));
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { return Ok::<_, anyhow::Error>(()) };
                let mut tries = 0;
                loop {
                    tries += 1;
                    let sent = client
                        .post(&url)
                        .bearer_auth(TOKEN)
                        .header("content-type", "application/x-protobuf")
                        .body(body.clone())
                        .send()
                        .await;
                    // A push-back answered before the body was read closes the connection under
                    // the body still being sent: an exporter retries that too.
                    let reply = match sent {
                        Ok(reply) => reply,
                        Err(e) if tries < 100 => {
                            tracing::debug!(error = %e, "retrying a request the collector cut short");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                        Err(e) => return Err(e.into()),
                    };
                    match reply.status().as_u16() {
                        200 => break,
                        429 | 503 => tokio::time::sleep(Duration::from_millis(50)).await,
                        other => bail!("collector answered {other}: {}", reply.text().await.unwrap_or_default()),
                    }
                }
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok(started.elapsed())
}

pub(crate) async fn metric(client: &reqwest::Client, url: &str, name: &str) -> anyhow::Result<f64> {
    let text = client.get(format!("{url}/metrics")).send().await?.text().await?;
    Ok(text
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN))
}

struct Figures {
    spans_per_s: f64,
    peak_rss_mib: f64,
    /// Share of the wall time the writer spent in commits, and the mean rows per commit: where the
    /// time went.
    commit_share: f64,
    rows_per_commit: f64,
}

async fn figures(collector: &CollectorProcess, spans: usize, elapsed: Duration) -> anyhow::Result<Figures> {
    let client = reqwest::Client::new();
    let commit_secs = metric(&client, &collector.url, "pathwatch_store_commit_seconds_sum").await?;
    let commits = metric(&client, &collector.url, "pathwatch_store_commit_seconds_count").await?;
    let rows = metric(&client, &collector.url, "pathwatch_ingest_batch_rows_sum").await?;
    Ok(Figures {
        spans_per_s: spans as f64 / elapsed.as_secs_f64(),
        peak_rss_mib: peak_rss_mib(collector.child.id()),
        commit_share: commit_secs / elapsed.as_secs_f64(),
        rows_per_commit: rows / commits,
    })
}

async fn measure_sqlite(
    bodies: Arc<Vec<Vec<u8>>>,
    spans: usize,
    connections: usize,
    dir: &Path,
) -> anyhow::Result<Figures> {
    let collector = start_collector(&dir.join("sqlite"), &[])?;
    let elapsed = drive(&collector.url, bodies, connections).await?;
    figures(&collector, spans, elapsed).await
}

async fn measure_clickhouse(
    bodies: Arc<Vec<Vec<u8>>>,
    spans: usize,
    connections: usize,
    dir: &Path,
    url: &str,
    database: &str,
    compression: &str,
) -> anyhow::Result<Figures> {
    let env = [
        ("PATHWATCH_STORE__BACKEND", "clickhouse".to_string()),
        ("PATHWATCH_STORE__CLICKHOUSE__URL", url.to_string()),
        ("PATHWATCH_STORE__CLICKHOUSE__DATABASE", database.to_string()),
        ("PATHWATCH_STORE__CLICKHOUSE__COMPRESSION", compression.to_string()),
    ];
    let collector = start_collector(&dir.join("clickhouse"), &env)?;
    let started = Instant::now();
    drive(&collector.url, bodies, connections).await?;
    // End to end means in ClickHouse, not merely in the spool.
    let client = reqwest::Client::new();
    while metric(&client, &collector.url, "pathwatch_spool_batches").await? != 0.0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    figures(&collector, spans, started.elapsed()).await
}

/// The same spans, encoded as RowBinary up front, inserted straight into ClickHouse in batches of
/// 100,000 rows: what ClickHouse itself takes on this machine, with no collector in the way.
async fn measure_ceiling(
    bodies: &[Vec<u8>],
    url: &str,
    database: &str,
    compression: WireCompression,
) -> anyhow::Result<f64> {
    let config = ClickHouseConfig { url: url.into(), database: database.into(), compression, ..Default::default() };
    let store = ClickHouseStore::connect(&config).await?;
    let mut rows = Vec::new();
    let limits = collector::otlp::SpanLimits::at(domain::system_now_ns(), &Default::default());
    for body in bodies {
        let request = ExportTraceServiceRequest::decode(&body[..])?;
        rows.extend(collector::otlp::flatten(request, None, limits).spans);
    }
    let encoded: Vec<Vec<u8>> = rows
        .chunks(100_000)
        .map(|chunk| {
            let mut out = Vec::new();
            audit_store::clickhouse_rowbinary::encode_spans(chunk, &mut out);
            out
        })
        .collect();
    let started = Instant::now();
    for chunk in encoded {
        store.insert_span_rowbinary(chunk).await?;
    }
    Ok(rows.len() as f64 / started.elapsed().as_secs_f64())
}

/// Drops `database` (if given) and waits until ClickHouse has no merges running, so one
/// measurement does not pay for the previous one's background work.
pub(crate) async fn quiesce(url: &str, database: Option<&str>) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    if let Some(db) = database {
        client.post(url).body(format!("DROP DATABASE IF EXISTS {db}")).send().await?.error_for_status()?;
    }
    let started = Instant::now();
    loop {
        let merges = client.post(url).body("SELECT count() FROM system.merges").send().await?.text().await?;
        if merges.trim() == "0" || started.elapsed() > Duration::from_secs(120) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The memory target of issue 14 at 32 connections of ordinary load.
const LOAD_TARGET_MIB: f64 = 160.0;

fn row(path: &str, f: &Figures) {
    println!(
        "{path:<44} {:>12.0} {:>15.1} {:>14.0}% {:>12.0}",
        f.spans_per_s,
        f.peak_rss_mib,
        f.commit_share * 100.0,
        f.rows_per_commit
    );
}

pub async fn ingest(args: IngestBench) -> anyhow::Result<std::process::ExitCode> {
    if args.spans == 0 || args.batch == 0 || args.connections == 0 {
        bail!("--spans, --batch and --connections must be at least 1");
    }
    let tmp = TempDir::new()?;
    let t0 = domain::system_now_ns() - 3_600_000_000_000;
    let bodies = Arc::new(requests(args.spans, args.batch, t0));
    let wire_mib = bodies.iter().map(Vec::len).sum::<usize>() as f64 / (1024.0 * 1024.0);
    eprintln!(
        "{} spans in {} OTLP protobuf requests ({wire_mib:.1} MiB), {} connections{}",
        args.spans,
        bodies.len(),
        args.connections,
        if cfg!(debug_assertions) { " — DEBUG BUILD: use --release for real figures" } else { "" }
    );

    let sqlite = measure_sqlite(bodies.clone(), args.spans, args.connections, &tmp.0).await?;
    let mut json = serde_json::json!({
        "spans": args.spans,
        "batch": args.batch,
        "connections": args.connections,
        "clickhouse_compression": args.compression,
        "sqlite_spans_per_s": sqlite.spans_per_s.round(),
        "sqlite_collector_peak_rss_mib": (sqlite.peak_rss_mib * 10.0).round() / 10.0,
    });
    println!(
        "{:<44} {:>12} {:>15} {:>15} {:>12}",
        "path", "spans/s", "peak RSS (MiB)", "time in commit", "rows/commit"
    );
    row("collector -> SQLite (acknowledged = durable)", &sqlite);

    if args.connections >= 32 {
        println!(
            "{:<44} {:>12} {:>15.1} {:>15}",
            format!("  target at {} connections", args.connections),
            "",
            LOAD_TARGET_MIB,
            format!("{:.2}x", sqlite.peak_rss_mib / LOAD_TARGET_MIB)
        );
    }

    if args.hostile_secs > 0 {
        let hostile = crate::bench_hostile::measure_hostile(
            &tmp.0,
            bodies.clone(),
            args.batch,
            32,
            args.hostile_secs,
            t0 + 1_800_000_000_000,
        )
        .await?;
        println!();
        println!("{:<44} {:>12} {:>15} {:>15}", "hostile mix (32 connections)", "requests", "RSS (MiB)", "of target");
        println!("{:<44} {:>12} {:>15.1}", "  collector at start", "", hostile.baseline_mib);
        println!(
            "{:<44} {:>12} {:>15.1} {:>15}",
            "  collector peak under the hostile mix",
            hostile.hostile_requests,
            hostile.peak_rss_mib,
            format!("{:.2}x", hostile.peak_rss_mib / crate::bench_hostile::HOSTILE_TARGET_MIB)
        );
        println!("{:<44} {:>12.0}", "  ordinary spans/s acknowledged meanwhile", hostile.ordinary_spans_per_s);
        println!("  answers to hostile requests by status (0: the client gave up): {:?}", hostile.answers);
        json["hostile_peak_rss_mib"] = serde_json::json!((hostile.peak_rss_mib * 10.0).round() / 10.0);
        json["hostile_requests"] = serde_json::json!(hostile.hostile_requests);
        json["hostile_ordinary_spans_per_s"] = serde_json::json!(hostile.ordinary_spans_per_s.round());
    }

    match &args.clickhouse_url {
        Some(url) => {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.subsec_nanos();
            let (db_e2e, db_ceiling) = (format!("pw_bench_e2e_{nanos}"), format!("pw_bench_ceiling_{nanos}"));
            let compression = match args.compression.as_str() {
                "lz4" => WireCompression::Lz4,
                "none" => WireCompression::None,
                other => bail!("--compression {other:?}: expected lz4 or none"),
            };
            // The ceiling first, on a quiet server; then the end-to-end run, once the ceiling's
            // rows are dropped and their merges have stopped.
            quiesce(url, None).await?;
            let ceiling = measure_ceiling(&bodies, url, &db_ceiling, compression).await?;
            quiesce(url, Some(&db_ceiling)).await?;
            let ch = measure_clickhouse(
                bodies.clone(),
                args.spans,
                args.connections,
                &tmp.0,
                url,
                &db_e2e,
                &args.compression,
            )
            .await?;
            let ratio = ch.spans_per_s / ceiling;
            row("collector -> spool -> ClickHouse (drained)", &ch);
            println!("{:<44} {:>12.0}", "ClickHouse ceiling (RowBinary bulk insert)", ceiling);
            println!("{:<44} {:>12.2}", "ratio end-to-end / ceiling", ratio);
            json["clickhouse_spans_per_s"] = serde_json::json!(ch.spans_per_s.round());
            json["clickhouse_collector_peak_rss_mib"] = serde_json::json!((ch.peak_rss_mib * 10.0).round() / 10.0);
            json["clickhouse_ceiling_spans_per_s"] = serde_json::json!(ceiling.round());
            json["clickhouse_ratio_to_ceiling"] = serde_json::json!((ratio * 100.0).round() / 100.0);
            if let Some(urls) = &args.cluster_urls {
                let urls: Vec<String> = urls.split_whitespace().map(String::from).collect();
                let cluster = crate::bench_cluster::measure(
                    &bodies,
                    args.spans,
                    args.connections,
                    &tmp.0,
                    &urls,
                    &args.cluster,
                    &args.compression,
                )
                .await?;
                let rss: Vec<String> = cluster.peak_rss_mib.iter().map(|m| format!("{m:.1}")).collect();
                println!(
                    "{:<44} {:>12.0} {:>15}",
                    "2 collectors -> 2-node cluster (drained)",
                    cluster.spans_per_s,
                    rss.join(" / ")
                );
                println!(
                    "{:<44} {:>12.2}",
                    "ratio cluster / one collector, one node",
                    cluster.spans_per_s / ch.spans_per_s
                );
                json["cluster_spans_per_s"] = serde_json::json!(cluster.spans_per_s.round());
                json["cluster_collector_peak_rss_mib"] = serde_json::json!(cluster.peak_rss_mib);
                json["cluster_ratio_to_single"] =
                    serde_json::json!((cluster.spans_per_s / ch.spans_per_s * 100.0).round() / 100.0);
            }
            for db in [db_e2e, db_ceiling] {
                let _ = reqwest::Client::new()
                    .post(url.as_str())
                    .body(format!("DROP DATABASE IF EXISTS {db}"))
                    .send()
                    .await;
            }
        }
        None => eprintln!("ClickHouse not measured: pass --clickhouse-url or set PATHWATCH_TEST_CLICKHOUSE_URL"),
    }
    println!("{json}");
    Ok(std::process::ExitCode::SUCCESS)
}

/// A temporary directory removed on drop (the binary has no tempfile dependency).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<TempDir> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
        let dir = std::env::temp_dir().join(format!("pathwatch-bench-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
