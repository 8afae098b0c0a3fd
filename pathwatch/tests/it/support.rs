use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "e2e-token-0123456789abcdef";

/// A port free now, for a process the test starts to listen on. Drawn below the kernel's ephemeral
/// range (32768 and up), where every `bind(0)` and outgoing connection takes its port: a port the
/// kernel handed out (and took back) could be handed out again before the process binds it, and the
/// test's own collectors bind their OTLP/gRPC port with port 0.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static DRAWS: AtomicU64 = AtomicU64::new(0);
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
        ^ (u64::from(std::process::id()) << 32)
        ^ DRAWS.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut x = seed | 1;
    for _ in 0..200 {
        // xorshift: a different port on every draw.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let port = 15_000 + (x % 17_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A `pathwatch` command with a clean PATHWATCH_* environment and the given data directory.
pub fn pathwatch(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pathwatch"));
    for (key, _) in std::env::vars() {
        if key.starts_with("PATHWATCH_") {
            cmd.env_remove(key);
        }
    }
    // OTLP/gRPC on any free port, so collectors of tests run side by side do not fight over 4317.
    cmd.arg("--data-dir")
        .arg(data_dir)
        .env("PATHWATCH_LOG", "warn")
        .env("PATHWATCH_COLLECTOR__GRPC_LISTEN", "127.0.0.1:0");
    cmd
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().unwrap()
}

/// A running collector; killed with SIGKILL when dropped.
pub struct Collector {
    pub child: Child,
    pub url: String,
    pub metrics_url: String,
}

impl Collector {
    pub fn start(data_dir: &Path, port: u16, extra_env: &[(&str, String)]) -> Collector {
        std::fs::create_dir_all(data_dir).unwrap();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(data_dir.join("collector.log")).unwrap();
        let mut cmd = pathwatch(data_dir);
        cmd.arg("collector")
            .env("PATHWATCH_INGEST_TOKEN", TOKEN)
            .env("PATHWATCH_COLLECTOR__LISTEN", format!("127.0.0.1:{port}"))
            // Not inherited: a collector that outlived a failed test must not hold the test
            // runner's output pipe open. Its log is kept beside its data.
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "collector did not open port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Collector { child, metrics_url: format!("{url}/metrics"), url }
    }

    pub fn kill(&mut self) {
        // SIGKILL: no shutdown handler runs, nothing is flushed.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.kill();
    }
}

/// When the fixtures happened: an hour before the test started, so they sit inside every retention
/// window and skew check whatever today's date is (and whatever faketime makes it).
pub fn fixture_ns() -> u64 {
    static AT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *AT.get_or_init(|| domain::system_now_ns() - 3_600 * 1_000_000_000)
}

/// `fixture_ns` as the RFC 3339 time audit events carry.
pub fn fixture_time() -> String {
    let at = chrono::DateTime::from_timestamp_nanos(i64::try_from(fixture_ns()).unwrap());
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// The calendar day `days` after the fixtures' (negative: before), as `--from`/`--to` take it.
pub fn fixture_day(days: i64) -> String {
    let at = chrono::DateTime::from_timestamp_nanos(i64::try_from(fixture_ns()).unwrap());
    (at.date_naive() + chrono::Duration::days(days)).to_string()
}

/// A span of a trace, started at the fixtures' time and lasting 100 ms, in OTLP/JSON.
pub fn otlp_span(trace_id: &str, span_id: &str) -> serde_json::Value {
    serde_json::json!({"traceId": trace_id, "spanId": span_id, "name": "GET /Patient",
        "startTimeUnixNano": fixture_ns().to_string(), "endTimeUnixNano": (fixture_ns() + 100_000_000).to_string()})
}

pub fn audit_event(id: &str) -> serde_json::Value {
    serde_json::json!({
        "event_id": id, "time": fixture_time(),
        "actor": {"user_id": format!("user-{}", id.len() % 7), "role": "R8000", "organisation": "A81001"},
        "action": "read", "outcome": "success", "patient_nhs_number": "9000000009",
        "correlation_id": format!("corr-{id}")
    })
}

pub fn temp_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    (dir, path)
}
