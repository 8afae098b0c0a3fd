//! Chaos on loopback: two collectors (the load alternates), two dashboards and two monitors on
//! PostgreSQL and a two-node ClickHouse cluster, all started by this test. Mid-load it kills a
//! collector with SIGKILL (and starts it again), then the leading monitor, then a ClickHouse node
//! (started again later), then restarts PostgreSQL. Afterwards: every acknowledged span and audit
//! event is stored, every chain verifies, the alert that should fire was notified exactly once,
//! the lease moved to the other monitor, and the dashboards answered throughout: 503 with
//! Retry-After while a store was away, never a 500.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use audit_store::{chain, AuditFilter, AuditLog, ClickHouseConfig, ClickHouseStore, SpanStore};

use crate::roles::{sign_in, start_with, Running, ADMIN_PASSWORD};
use crate::support::{free_port, temp_dir, TOKEN};

const DASHBOARD_TOKEN: &str = "chaos-dashboard-token-0123456789";
const SLO: &str = "chaos-availability";

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts").join(name)
}

/// Runs one of the project's server scripts on the real clock (the moved-clock run preloads
/// libfaketime, which ClickHouse's allocator and the JVM do not start under); what it printed.
fn run_script(name: &str, args: &[String]) -> String {
    let out = Command::new("bash")
        .arg(script(name))
        .args(args)
        .env_remove("LD_PRELOAD")
        .env_remove("FAKETIME")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{name} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn installed() -> bool {
    let postgres = std::fs::read_dir("/usr/lib/postgresql").is_ok();
    let zookeeper = Path::new("/usr/share/zookeeper/bin/zkServer.sh").exists();
    let clickhouse =
        ["/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"].iter().any(|p| Path::new(p).exists());
    postgres && zookeeper && clickhouse
}

/// The servers this test owns; stopped when dropped, so a failing test leaves none behind.
struct Servers {
    root: PathBuf,
}

impl Drop for Servers {
    fn drop(&mut self) {
        let dir = |d: &str| self.root.join(d).display().to_string();
        let _ = Command::new("bash").arg(script("clickhouse-cluster.sh")).args(["stop", &dir("ch")]).status();
        let _ = Command::new("bash").arg(script("postgres-server.sh")).args(["stop", &dir("pg")]).status();
    }
}

fn config(root: &Path, pg: &str, hook: u16) -> PathBuf {
    let path = root.join("pathwatch.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[state]
backend = "postgres"
url = "{pg}"
[store]
backend = "clickhouse"
[store.clickhouse]
database = "chaos"
cluster = "pathwatch"
[roles]
lease_secs = 3
[alerts]
evaluate_every_secs = 1
webhooks = ["http://127.0.0.1:{hook}/hook"]
[collector.ingest_tokens]
default = "{TOKEN}"
pathwatch-dashboard = "{DASHBOARD_TOKEN}"
[privacy]
pseudonym_key = "chaos-pseudonym-key-0123456789abcdef"
[[slos]]
name = "{SLO}"
spans = {{ service = "chaos-api", name = "POST /book" }}
sli = "availability"
objective = 0.99
"#
        ),
    )
    .unwrap();
    path
}

/// One instance of a role with its own data directory and ports (through the environment).
struct Instance {
    data: PathBuf,
    env: Vec<(&'static str, String)>,
    role: &'static str,
}

impl Instance {
    fn start(&self, config: &Path) -> Running {
        std::fs::create_dir_all(&self.data).unwrap();
        start_with(&self.data, config, self.role, &self.env).0
    }
}

fn kill9(running: &mut Running) {
    unsafe {
        libc::kill(running.0.id() as i32, libc::SIGKILL);
    }
    let _ = running.0.wait();
}

#[derive(Default)]
struct Acked {
    traces: Vec<String>,
    events: Vec<String>,
}

/// Sends, alternating between the collectors, a trace of failing bookings and a few audit events
/// per request, until told to stop; what was acknowledged.
async fn load(collectors: [String; 2], stop: Arc<AtomicBool>, acked: Arc<Mutex<Acked>>) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let url = &collectors[(n % 2) as usize];
        let trace = format!("{:032x}", 0xc4a0_0000_0000u64 + n);
        let now = domain::system_now_ns();
        let spans: Vec<_> = (0..5u64)
            .map(|i| {
                serde_json::json!({"traceId": trace, "spanId": format!("{:016x}", n * 8 + i + 1), "name": "POST /book",
                    "kind": 2, "startTimeUnixNano": (now - 1_000_000_000 + i).to_string(),
                    "endTimeUnixNano": now.to_string(), "status": {"code": 2}})
            })
            .collect();
        let otlp = serde_json::json!({"resourceSpans": [{"resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "chaos-api"}}]}, "scopeSpans": [{"spans": spans}]}]});
        let sent = client.post(format!("{url}/v1/traces")).bearer_auth(TOKEN).json(&otlp).send().await;
        if sent.is_ok_and(|r| r.status() == 200) {
            acked.lock().unwrap().traces.push(trace);
        }
        let ids: Vec<String> = (0..3).map(|i| format!("chaos-{n}-{i}")).collect();
        let events: Vec<_> = ids.iter().map(|id| crate::support::audit_event(id)).collect();
        let sent = client.post(format!("{url}/v1/audit")).bearer_auth(TOKEN).json(&events).send().await;
        if sent.is_ok_and(|r| r.status() == 200) {
            acked.lock().unwrap().events.extend(ids);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What each dashboard answered, polled until told to stop.
async fn watch(dashboard: String, session: String, stop: Arc<AtomicBool>, seen: Arc<Mutex<Vec<(u16, bool)>>>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    while !stop.load(Ordering::Relaxed) {
        for path in ["/", "/slos", "/alerts"] {
            // No answer within the timeout (or a dropped connection) is recorded as 0: a failure too.
            let answer = match client.get(format!("{dashboard}{path}")).header("cookie", &session).send().await {
                Ok(reply) => (reply.status().as_u16(), reply.headers().contains_key("retry-after")),
                Err(_) => (0, false),
            };
            seen.lock().unwrap().push(answer);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A GET that gives up after 5 s, so no probe can hang the test.
async fn get(url: String) -> Option<String> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().ok()?;
    client.get(url).send().await.ok()?.text().await.ok()
}

/// Whether the monitor whose health port is `port` says it holds the `monitor` lease.
async fn leads(port: u16) -> bool {
    let metrics = get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap_or_default();
    metrics.lines().any(|l| l == "pathwatch_lease_held{lease=\"monitor\"} 1")
}

async fn until<F: AsyncFnMut() -> bool>(what: &str, within: Duration, mut check: F) {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < within, "{what}: not within {} s", within.as_secs());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collectors_a_leader_a_clickhouse_node_and_postgresql_die_and_nothing_acknowledged_is_lost() {
    if !installed() {
        if domain::testing::services_required() {
            panic!("the chaos test needs Debian's postgresql, zookeeper and clickhouse-server");
        }
        domain::testing::skip("the chaos test", "postgresql, zookeeper or clickhouse-server is not installed");
        return;
    }
    let (_tmp, root) = temp_dir();
    std::fs::create_dir_all(&root).unwrap();
    // PostgreSQL runs as Debian's postgres user when the tests run as root: it must reach its dir.
    for dir in [root.parent().unwrap(), root.as_path()] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let servers = Servers { root: root.clone() };
    let pg_port = free_port();
    let pg = run_script("postgres-server.sh", &[root.join("pg").display().to_string(), pg_port.to_string()]);
    let ports: Vec<String> = (0..7).map(|_| free_port().to_string()).collect();
    let ch_args: Vec<String> = std::iter::once(root.join("ch").display().to_string()).chain(ports.clone()).collect();
    let nodes: Vec<String> =
        run_script("clickhouse-cluster.sh", &ch_args).split_whitespace().map(String::from).collect();

    // The webhook receiver: every notification's transition and SLO.
    let notified: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let hook = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_port = hook.local_addr().unwrap().port();
    let received = notified.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::Json<serde_json::Value>| {
            let received = received.clone();
            async move {
                let field = |k: &str| body[k].as_str().unwrap_or_default().to_string();
                received.lock().unwrap().push((field("transition"), field("slo")));
                "ok"
            }
        }),
    );
    tokio::spawn(async move { axum::serve(hook, app).await });

    let config = config(&root, &pg, hook_port);
    let (collector_ports, dashboard_ports, monitor_ports) =
        ([free_port(), free_port()], [free_port(), free_port()], [free_port(), free_port()]);
    // Instance i of each role talks to ClickHouse node i.
    let instance = |role: &'static str, i: usize, mut env: Vec<(&'static str, String)>| {
        env.push(("PATHWATCH_STORE__CLICKHOUSE__URL", nodes[i].clone()));
        Instance { data: root.join(format!("{role}-{i}")), env, role }
    };
    let at = |port: u16| format!("127.0.0.1:{port}");
    let collector = |i: usize| instance("collector", i, vec![("PATHWATCH_COLLECTOR__LISTEN", at(collector_ports[i]))]);
    let dashboard = |i: usize| {
        let collector_url = format!("http://{}", at(collector_ports[i]));
        instance(
            "dashboard",
            i,
            vec![
                ("PATHWATCH_DASHBOARD__LISTEN", at(dashboard_ports[i])),
                ("PATHWATCH_ROLES__COLLECTOR_URL", collector_url),
            ],
        )
    };
    let monitor = |i: usize| instance("monitor", i, vec![("PATHWATCH_ROLES__MONITOR_LISTEN", at(monitor_ports[i]))]);
    let mut collectors = [collector(0).start(&config), collector(1).start(&config)];
    let _dashboards = [dashboard(0).start(&config), dashboard(1).start(&config)];
    let mut monitors = [Some(monitor(0).start(&config)), Some(monitor(1).start(&config))];

    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let dashboard_urls = dashboard_ports.map(|p| format!("http://127.0.0.1:{p}"));
    let sessions = [
        sign_in(&client, &dashboard_urls[0], "admin", ADMIN_PASSWORD).await,
        sign_in(&client, &dashboard_urls[1], "admin", ADMIN_PASSWORD).await,
    ];
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Acked>> = Arc::default();
    let seen: Arc<Mutex<Vec<(u16, bool)>>> = Arc::default();
    let load_task =
        tokio::spawn(load(collector_ports.map(|p| format!("http://127.0.0.1:{p}")), stop.clone(), acked.clone()));
    let watchers: Vec<_> = (0..2)
        .map(|i| tokio::spawn(watch(dashboard_urls[i].clone(), sessions[i].clone(), stop.clone(), seen.clone())))
        .collect();
    let pause = |secs| tokio::time::sleep(Duration::from_secs(secs));

    // The alert fires on the failing bookings before the chaos begins.
    until("the alert fires", Duration::from_secs(60), async || {
        notified.lock().unwrap().iter().any(|(t, s)| t == "firing" && s == SLO)
    })
    .await;
    pause(2).await;
    // 1. A collector, killed mid-load, then started again on its own spool.
    kill9(&mut collectors[0]);
    pause(2).await;
    collectors[0] = collector(0).start(&config);
    // 2. The leading monitor.
    let mut leader = None;
    until("one monitor leads", Duration::from_secs(30), async || {
        leader = match (leads(monitor_ports[0]).await, leads(monitor_ports[1]).await) {
            (true, false) => Some(0),
            (false, true) => Some(1),
            _ => None,
        };
        leader.is_some()
    })
    .await;
    let leader = leader.unwrap_or_default();
    if let Some(mut killed) = monitors[leader].take() {
        kill9(&mut killed);
    }
    until("the other monitor takes the lease", Duration::from_secs(30), async || {
        leads(monitor_ports[1 - leader]).await
    })
    .await;
    // 3. The second ClickHouse node (collector 1's, dashboard 1's), then back.
    let node2 = root.join("ch/node2");
    let pid: i32 = std::fs::read_to_string(node2.join("clickhouse.pid")).unwrap().trim().parse().unwrap();
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    pause(4).await;
    let restarted = Command::new(
        ["/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"].iter().find(|p| Path::new(p).exists()).unwrap(),
    )
    .arg(format!("--config-file={}", node2.join("config.xml").display()))
    .arg(format!("--pid-file={}", node2.join("clickhouse.pid").display()))
    .arg("--daemon")
    .env_remove("LD_PRELOAD")
    .env_remove("FAKETIME")
    .status()
    .unwrap();
    assert!(restarted.success());
    until("the node is back", Duration::from_secs(30), async || get(format!("{}/ping", nodes[1])).await.is_some())
        .await;
    // 4. PostgreSQL, restarted.
    let pg_dir = root.join("pg").display().to_string();
    run_script("postgres-server.sh", &["stop".to_string(), pg_dir.clone()]);
    pause(2).await;
    run_script("postgres-server.sh", &[pg_dir, pg_port.to_string()]);
    pause(3).await;
    stop.store(true, Ordering::Relaxed);
    load_task.await.unwrap();
    for w in watchers {
        w.await.unwrap();
    }

    // Both spools hand everything to ClickHouse.
    for port in collector_ports {
        until("the spool drains", Duration::from_secs(60), async || {
            let text = get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap_or_default();
            text.lines().any(|l| l == "pathwatch_spool_batches 0")
        })
        .await;
    }
    let store = ClickHouseStore::connect(&ClickHouseConfig {
        url: nodes[0].clone(),
        database: "chaos".into(),
        cluster: Some("pathwatch".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(acked.traces.len() > 20 && acked.events.len() > 60, "too little load went through to mean anything");
    // Replicas catch up in the background: every acknowledged record, within a while.
    until("every acknowledged audit event is stored", Duration::from_secs(30), async || {
        let stored = store.audit_events(&AuditFilter { limit: u32::MAX, ..Default::default() }).await.unwrap();
        let ids: HashSet<String> = stored.into_iter().map(|e| e.event.event_id).collect();
        acked.events.iter().all(|id| ids.contains(id))
    })
    .await;
    for trace in &acked.traces {
        assert_eq!(store.trace(trace).await.unwrap().len(), 5, "acknowledged trace {trace}");
    }
    let reports = chain::verify_all(&store, 10_000).await.unwrap();
    assert_eq!(reports.len(), 2, "a chain per collector: {reports:?}");
    assert!(reports.iter().all(|r| r.first_break.is_none()), "{reports:?}");
    // Fired once, across the failover; the lease moved.
    pause(3).await;
    let firing = notified.lock().unwrap().iter().filter(|(t, s)| t == "firing" && s == SLO).count();
    assert_eq!(firing, 1, "notified: {:?}", notified.lock().unwrap());
    assert!(leads(monitor_ports[1 - leader]).await);
    // The dashboards answered throughout: never a 500, and every 503 said when to come back.
    let seen = seen.lock().unwrap().clone();
    let mut statuses: std::collections::BTreeMap<u16, usize> = std::collections::BTreeMap::new();
    for (status, _) in &seen {
        *statuses.entry(*status).or_default() += 1;
    }
    eprintln!(
        "chaos: {} traces and {} audit events acknowledged and stored; chains {:?}; notified {:?}; dashboard answers {statuses:?}",
        acked.traces.len(),
        acked.events.len(),
        reports.iter().map(|r| (r.chain, r.records_checked)).collect::<Vec<_>>(),
        notified.lock().unwrap()
    );
    let failed: Vec<String> = (0..2)
        .flat_map(|i| {
            std::fs::read_to_string(root.join(format!("dashboard-{i}/dashboard.log")))
                .unwrap_or_default()
                .lines()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .filter(|l| l.contains("dashboard request failed") || l.contains("panicked"))
        .collect();
    assert!(seen.iter().all(|(status, _)| *status != 500), "a 500; the dashboards logged: {failed:#?}");
    assert!(seen.iter().all(|(status, _)| *status != 0), "a dashboard did not answer within 10 s: {statuses:?}");
    assert!(seen.iter().filter(|(status, _)| *status == 503).all(|(_, retry)| *retry), "a 503 without Retry-After");
    assert!(statuses.contains_key(&503), "no store was ever seen away: the chaos did not reach the dashboards");
    assert!(seen.iter().filter(|(status, _)| *status == 200).count() > 10, "the dashboards answered: {seen:?}");
    drop(servers);
}
