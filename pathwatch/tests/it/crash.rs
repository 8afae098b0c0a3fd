//! Nothing acknowledged is lost: a collector killed with SIGKILL mid-load, and ClickHouse stopped
//! mid-load, both end with every acknowledged record stored exactly once and the chain intact.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use audit_store::{chain, AuditFilter, ClickHouseConfig, ClickHouseStore, SqliteStore, TelemetryStore};

use crate::support::*;

#[derive(Default)]
struct Acked {
    events: Mutex<Vec<String>>,
    traces: Mutex<Vec<String>>,
    pushed_back: AtomicUsize,
    stop: AtomicBool,
}

const SPANS_PER_TRACE: usize = 10;

/// Workers that post audit batches and span batches as fast as the collector takes them, recording
/// exactly what was acknowledged with a 2xx.
fn load(url: &str, workers: usize, acked: Arc<Acked>) -> Vec<tokio::task::JoinHandle<()>> {
    (0..workers)
        .map(|w| {
            let url = url.to_string();
            let acked = acked.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
                let mut n = 0u64;
                while !acked.stop.load(Ordering::Relaxed) {
                    n += 1;
                    let ids: Vec<String> = (0..20).map(|k| format!("w{w}-b{n}-e{k}")).collect();
                    let body: Vec<_> = ids.iter().map(|id| audit_event(id)).collect();
                    match client.post(format!("{url}/v1/audit")).bearer_auth(TOKEN).json(&body).send().await {
                        Ok(r) if r.status() == 200 => acked.events.lock().unwrap().extend(ids),
                        Ok(r) if r.status() == 503 || r.status() == 429 => {
                            assert!(r.headers().contains_key("retry-after"), "push-back without Retry-After");
                            acked.pushed_back.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        Ok(r) => panic!("unexpected status {}", r.status()),
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                    let trace_id = format!("{:08x}{:024x}", w + 1, n);
                    let spans: Vec<_> = (0..SPANS_PER_TRACE)
                        .map(|s| otlp_span(&trace_id, &format!("{:016x}", s + 1)))
                        .collect();
                    let otlp = serde_json::json!({"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "load"}}]},
                        "scopeSpans": [{"spans": spans}]}]});
                    match client.post(format!("{url}/v1/traces")).bearer_auth(TOKEN).json(&otlp).send().await {
                        Ok(r) if r.status() == 200 => acked.traces.lock().unwrap().push(trace_id),
                        Ok(r) if r.status() == 503 || r.status() == 429 => {
                            acked.pushed_back.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        Ok(r) => panic!("unexpected status {}", r.status()),
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
            })
        })
        .collect()
}

async fn wait_for_acks(acked: &Acked, at_least: usize) {
    let started = Instant::now();
    while acked.events.lock().unwrap().len() < at_least {
        assert!(started.elapsed() < Duration::from_secs(120), "load did not reach {at_least} acknowledged events");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stop(acked: &Acked, workers: Vec<tokio::task::JoinHandle<()>>) {
    acked.stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
}

async fn assert_all_stored<S: TelemetryStore>(store: &S, acked: &Acked) {
    let stored = store.audit_events(&AuditFilter { limit: u32::MAX, ..Default::default() }).await.unwrap();
    let stored_ids: Vec<String> = stored.iter().map(|e| e.event.event_id.clone()).collect();
    let unique: HashSet<&String> = stored_ids.iter().collect();
    assert_eq!(unique.len(), stored_ids.len(), "an audit event was stored twice");
    let acked_events = acked.events.lock().unwrap().clone();
    let missing: Vec<&String> = acked_events.iter().filter(|id| !unique.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged audit events lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let traces = acked.traces.lock().unwrap().clone();
    assert!(!traces.is_empty());
    for trace in &traces {
        assert_eq!(store.trace(trace).await.unwrap().len(), SPANS_PER_TRACE, "acknowledged trace {trace} incomplete");
    }
    // One chain: the embedded store's, or the one the collector's spool claimed.
    let reports = chain::verify_all(store, 10_000).await.unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].first_break, None);
    assert_eq!(reports[0].records_checked as usize, stored.len());
}

async fn probe(url: &str) -> (u16, serde_json::Value) {
    let reply = reqwest::get(url).await.unwrap();
    let status = reply.status().as_u16();
    let text = reply.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

/// Polls `/readyz` until `wanted` holds (a minute at most); returns the report.
async fn probe_until(collector: &Collector, wanted: impl Fn(u16, &serde_json::Value) -> bool) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let (status, ready) = probe(&format!("{}/readyz", collector.url)).await;
        if wanted(status, &ready) {
            return ready;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "/readyz never said so: {status} {ready}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_stopped_with_sigterm_mid_load_answers_what_it_took_and_exits_cleanly() {
    let (_tmp, data) = temp_dir();
    let mut collector = Collector::start(&data, free_port(), &[]);
    let (status, live) = probe(&format!("{}/healthz", collector.url)).await;
    assert_eq!((status, live.as_str()), (200, Some("ok\n")));
    let (status, ready) = probe(&format!("{}/readyz", collector.url)).await;
    assert_eq!(status, 200, "{ready}");
    // Open to anyone, so counts only: the reasons are for people signed in to the dashboard.
    assert_eq!(
        (ready["ready"].as_bool(), ready["problems"].as_u64(), ready["warnings"].as_u64()),
        (Some(true), Some(0), Some(0))
    );
    assert!(ready.get("store").is_none() && ready.get("loops").is_none(), "{ready}");

    let acked = Arc::new(Acked::default());
    let workers = load(&collector.url, 4, acked.clone());
    wait_for_acks(&acked, 1_000).await;
    unsafe {
        libc::kill(collector.child.id() as i32, libc::SIGTERM);
    }
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = collector.child.try_wait().unwrap() {
            break exit;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the collector did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "SIGTERM is a clean stop: {exit:?}");
    stop(&acked, workers).await;
    let store = SqliteStore::open(&data.join("telemetry.db")).await.unwrap();
    assert_all_stored(&store, &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_killed_with_sigkill_mid_load_keeps_every_acknowledged_record() {
    let (_tmp, data) = temp_dir();
    let port = free_port();
    let mut collector = Collector::start(&data, port, &[]);
    let acked = Arc::new(Acked::default());
    let workers = load(&collector.url, 4, acked.clone());
    wait_for_acks(&acked, 2_000).await;
    collector.kill();
    stop(&acked, workers).await;

    // A restart opens the same files and carries on the chain.
    let mut restarted = Collector::start(&data, port, &[]);
    let reply = reqwest::Client::new()
        .post(format!("{}/v1/audit", restarted.url))
        .bearer_auth(TOKEN)
        .json(&vec![audit_event("after-restart")])
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    acked.events.lock().unwrap().push("after-restart".into());
    restarted.kill();

    let store = SqliteStore::open(&data.join("telemetry.db")).await.unwrap();
    assert_all_stored(&store, &acked).await;
}

fn clickhouse_server() -> Option<String> {
    ["/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"]
        .iter()
        .find(|p| Path::new(p).exists())
        .map(|p| p.to_string())
}

/// clickhouse-server as this test's child; killed when dropped, so a failing test leaves no server.
struct ClickHouseChild(Child);

impl Drop for ClickHouseChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs clickhouse-server as this test's own child process (killed with SIGKILL to simulate a crash).
fn start_clickhouse(dir: &Path, http: u16, tcp: u16) -> ClickHouseChild {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/clickhouse-server.sh");
    let child = Command::new("bash")
        .arg(script)
        .arg(dir)
        .arg(http.to_string())
        .arg(tcp.to_string())
        .env("CLICKHOUSE_FOREGROUND", "1")
        // On the real clock, like the suite's shared server: ClickHouse's allocator cannot start
        // under libfaketime, which the moved-clock run of this suite preloads.
        .env_remove("LD_PRELOAD")
        .env_remove("FAKETIME")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = ClickHouseChild(child);
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", http)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "clickhouse-server did not open port {http}");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn stop_clickhouse(server: ClickHouseChild) {
    drop(server);
}

async fn metric(client: &reqwest::Client, url: &str, name: &str) -> f64 {
    let text = client.get(url).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1.0)
}

/// A collector in ClickHouse mode with its own ClickHouse server, which the test may stop and start.
struct SpooledRig {
    _tmp: tempfile::TempDir,
    data: std::path::PathBuf,
    ch_dir: std::path::PathBuf,
    ports: (u16, u16),
    url: String,
    database: &'static str,
}

impl SpooledRig {
    /// `None` (after saying so) when clickhouse-server is not installed and services are optional.
    fn new(test: &str, database: &'static str) -> Option<SpooledRig> {
        if clickhouse_server().is_none() {
            domain::testing::skip(test, "clickhouse-server is not installed");
            return None;
        }
        let (tmp, data) = temp_dir();
        let ch_dir = data.parent().unwrap().join("clickhouse");
        let ports = (free_port(), free_port());
        let url = format!("http://127.0.0.1:{}", ports.0);
        Some(SpooledRig { _tmp: tmp, data, ch_dir, ports, url, database })
    }

    fn start_clickhouse(&self) -> ClickHouseChild {
        start_clickhouse(&self.ch_dir, self.ports.0, self.ports.1)
    }

    fn collector(&self, port: u16, extra: &[(&'static str, String)]) -> Collector {
        let mut env = vec![
            ("PATHWATCH_STORE__BACKEND", "clickhouse".to_string()),
            ("PATHWATCH_STORE__CLICKHOUSE__URL", self.url.clone()),
            ("PATHWATCH_STORE__CLICKHOUSE__DATABASE", self.database.to_string()),
        ];
        env.extend_from_slice(extra);
        Collector::start(&self.data, port, &env)
    }

    async fn store(&self) -> ClickHouseStore {
        let config = ClickHouseConfig { url: self.url.clone(), database: self.database.into(), ..Default::default() };
        ClickHouseStore::connect(&config).await.unwrap()
    }
}

async fn spool_batches(collector: &Collector) -> f64 {
    metric(&reqwest::Client::new(), &collector.metrics_url, "pathwatch_spool_batches").await
}

async fn wait_until_drained(collector: &Collector) {
    let started = Instant::now();
    while spool_batches(collector).await != 0.0 {
        assert!(started.elapsed() < Duration::from_secs(120), "the spool did not drain once ClickHouse was back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_stopped_mid_load_then_restarted_loses_nothing() {
    let Some(rig) = SpooledRig::new("clickhouse outage test", "pw_outage") else { return };
    let server = rig.start_clickhouse();
    // A small spool, so the outage fills it and ingest must push back.
    let small_spool = [
        ("PATHWATCH_COLLECTOR__SPOOL_MAX_BYTES", "600000".to_string()),
        ("PATHWATCH_COLLECTOR__RETRY_AFTER_SECS", "1".to_string()),
    ];
    let collector = rig.collector(free_port(), &small_spool);
    let acked = Arc::new(Acked::default());
    let workers = load(&collector.url, 3, acked.clone());
    wait_for_acks(&acked, 600).await;

    stop_clickhouse(server);
    let during = acked.events.lock().unwrap().len();
    wait_for_acks(&acked, during + 100).await;
    assert!(spool_batches(&collector).await > 0.0, "the spool holds the outage's batches");
    // Still ready: the spool takes what ClickHouse cannot, and the health report says so (once the
    // server's last connections have gone).
    // (The report is gathered at most every 2 s, and a fast load can fill the spool within that:
    // then it is already 503 for the full spool, still with the warning.)
    probe_until(&collector, |_, ready| ready["warnings"].as_u64() >= Some(1)).await;
    // Keep loading until the spool is full and ingest pushes back with 503.
    let started = Instant::now();
    while acked.pushed_back.load(Ordering::Relaxed) == 0 {
        assert!(started.elapsed() < Duration::from_secs(120), "a full spool never pushed back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Full: not ready, and the report says why.
    let ready = probe_until(&collector, |status, _| status == 503).await;
    assert_eq!(ready["ready"], false, "{ready}");

    let _server = rig.start_clickhouse();
    let after = acked.events.lock().unwrap().len();
    wait_for_acks(&acked, after + 200).await;
    stop(&acked, workers).await;
    wait_until_drained(&collector).await;
    drop(collector);
    assert_all_stored(&rig.store().await, &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spooled_collector_killed_with_sigkill_drains_everything_after_restart() {
    let Some(rig) = SpooledRig::new("spool SIGKILL test", "pw_spool_kill") else { return };
    let server = rig.start_clickhouse();
    let port = free_port();
    let mut collector = rig.collector(port, &[]);
    let acked = Arc::new(Acked::default());
    let workers = load(&collector.url, 3, acked.clone());
    wait_for_acks(&acked, 400).await;
    // ClickHouse goes away, so what is acknowledged next exists only in the spool…
    stop_clickhouse(server);
    let during = acked.events.lock().unwrap().len();
    wait_for_acks(&acked, during + 300).await;
    assert!(spool_batches(&collector).await > 0.0, "acknowledged batches wait in the spool");
    // …and then the collector dies without any chance to flush.
    collector.kill();
    stop(&acked, workers).await;

    let _server = rig.start_clickhouse();
    let restarted = rig.collector(port, &[]);
    // The chain carries on from the spool's head after the restart.
    let reply = reqwest::Client::new()
        .post(format!("{}/v1/audit", restarted.url))
        .bearer_auth(TOKEN)
        .json(&vec![audit_event("after-restart")])
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    acked.events.lock().unwrap().push("after-restart".into());
    wait_until_drained(&restarted).await;
    drop(restarted);
    assert_all_stored(&rig.store().await, &acked).await;
}
