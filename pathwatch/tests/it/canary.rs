//! Canaries through the binary: scheduled runs in `pathwatch up` reach the store through the
//! collector as one trace per run; `pathwatch sandbox` + `pathwatch canary run` is what an operator
//! runs to check a fix; unsafe canary configuration is refused.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::{free_port, pathwatch, run, temp_dir};
use audit_store::SpanStore;

/// A child killed when dropped.
struct Running(Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns `pathwatch … <args>` and waits for it to print `ready`.
fn start(cmd: &mut std::process::Command, log: &std::path::Path) -> Running {
    let log = std::fs::File::create(log).unwrap();
    let mut child = Running(cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(log).spawn().unwrap());
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line == "ready" => return child,
            Some(Ok(_)) => {}
            _ => panic!("pathwatch exited before printing ready"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduled_canary_runs_arrive_in_the_store_as_one_trace_per_run() {
    let (_tmp, data) = temp_dir();
    std::fs::create_dir_all(&data).unwrap();
    let config = data.join("pathwatch.toml");
    std::fs::write(
        &config,
        r#"
[[canaries.flows]]
name = "pds"
kind = "pds"
environment = "demo"
schedule = "*/2 * * * * *"
jitter_s = 0
patient = "9000000009"
search = { family = "Smith", gender = "female", birthdate = "2010-10-22" }
"#,
    )
    .unwrap();
    let log = data.join("up.log");
    let collector = format!("127.0.0.1:{}", free_port());
    let up = start(
        pathwatch(&data)
            .arg("--config")
            .arg(&config)
            .arg("up")
            .env("PATHWATCH_LOG", "canaries=info,warn")
            .env("PATHWATCH_COLLECTOR__LISTEN", &collector)
            .env("PATHWATCH_DASHBOARD__LISTEN", format!("127.0.0.1:{}", free_port()))
            .env("PATHWATCH_SANDBOX__LISTEN", format!("127.0.0.1:{}", free_port())),
        &log,
    );
    // Each finished run logs its correlation id; wait for three runs.
    let started = Instant::now();
    let correlation_ids = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let ids: Vec<String> = text
            .lines()
            .filter(|l| l.contains("canary run finished") && l.contains("flow=pds"))
            .filter_map(|l| l.split("correlation_id=").nth(1)?.split_whitespace().next().map(str::to_string))
            .collect();
        if ids.len() >= 3 {
            break ids;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "fewer than 3 canary runs in 60 s:\n{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // The last run may still be in the collector's hands: give it a moment, then stop.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The runs are also on /metrics, for Prometheus.
    let metrics = reqwest::get(format!("http://{collector}/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("probe_success{flow=\"pds\"} 1"), "{metrics}");
    let passes = metrics
        .lines()
        .find(|l| l.starts_with("pathwatch_canary_runs_total{flow=\"pds\",result=\"pass\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(passes >= 3, "{metrics}");
    assert!(metrics.contains("probe_duration_seconds_count{flow=\"pds\",step=\"read_patient\"}"), "{metrics}");
    drop(up);
    let store = audit_store::SqliteStore::open(&data.join("telemetry.db")).await.unwrap();
    let mut trace_ids = std::collections::BTreeSet::new();
    for id in &correlation_ids[..2] {
        let spans = store.spans_by_correlation_id(id).await.unwrap();
        let trace_id = id.replace('-', "");
        assert!(spans.iter().all(|s| s.trace_id == trace_id), "run {id}: spans from more than one trace");
        let roots: Vec<_> = spans.iter().filter(|s| s.parent_span_id.is_empty()).collect();
        assert_eq!(roots.len(), 1, "run {id}: {spans:#?}");
        assert_eq!(roots[0].name, "canary pds");
        let children: Vec<_> = spans.iter().filter(|s| s.parent_span_id == roots[0].span_id).collect();
        let step_of = |s: &audit_store::Span| {
            s.attributes.iter().find(|(k, _)| k == "pathwatch.canary.step").map(|(_, v)| v.clone()).unwrap_or_default()
        };
        let steps: Vec<String> = children.iter().map(|s| step_of(s)).collect();
        assert_eq!(steps, ["token", "read_patient", "search_patient"], "run {id}");
        let names: Vec<&str> = children.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(&names[1..], ["GET /Patient/{id}", "GET /Patient"], "run {id}: HTTP client span names");
        assert_eq!(spans.len(), 1 + children.len(), "run {id}: orphan spans");
        assert!(spans.iter().all(|s| s.service_name == "pathwatch-canary"));
        let read = spans.iter().find(|s| s.name == "GET /Patient/{id}").unwrap();
        let attr = |k: &str| read.attributes.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(attr("http.response.status_code"), Some("200"));
        assert_eq!(attr("pathwatch.canary.step"), Some("read_patient"));
        // The synthetic NHS number in the URL was pseudonymised by the collector like any other.
        let url = attr("url.full").unwrap();
        assert!(!url.contains("9000000009") && url.contains("nhsp_"), "{url}");
        trace_ids.insert(trace_id);
    }
    assert_eq!(trace_ids.len(), 2, "two runs must be two traces");
}

#[tokio::test]
async fn canary_run_checks_a_fix_against_the_sandbox_and_fails_while_a_fault_is_injected() {
    let (_tmp, data) = temp_dir();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let _sandbox =
        start(pathwatch(&data).arg("sandbox").env("PATHWATCH_SANDBOX__LISTEN", &listen), &data.with_extension("log"));
    let canary =
        |flow: &str| run(pathwatch(&data).args(["canary", "run", flow]).env("PATHWATCH_SANDBOX__LISTEN", &listen));

    let ok = canary("pds");
    let stdout = String::from_utf8_lossy(&ok.stdout).to_string();
    assert!(ok.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&ok.stderr));
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let steps: Vec<&str> = lines[..lines.len() - 1].iter().map(|l| l["step"].as_str().unwrap()).collect();
    assert_eq!(steps, ["token", "read_patient", "search_patient", "read_restricted_patient"]);
    let summary = lines.last().unwrap();
    assert_eq!((summary["status"].as_str(), summary["passed"].as_bool()), (Some("healthy"), Some(true)), "{summary}");

    let faults = reqwest::Client::new()
        .put(format!("http://{listen}/_admin/faults/pds"))
        .json(&serde_json::json!({"error_rate": 1.0, "error_status": 500}))
        .send()
        .await
        .unwrap();
    assert!(faults.status().is_success());
    let failing = canary("pds");
    assert_eq!(failing.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&failing.stdout).to_string();
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["status"], "outage", "{stdout}");
    assert_eq!(summary["error_class"], "5xx", "{stdout}");
}

#[test]
fn canary_configuration_naming_a_non_synthetic_patient_is_refused() {
    let (_tmp, data) = temp_dir();
    std::fs::create_dir_all(&data).unwrap();
    let config = data.join("pathwatch.toml");
    // 9434765919 passes Modulus 11 but is not a designated synthetic patient.
    std::fs::write(
        &config,
        "[[canaries.flows]]\nname = \"book\"\nkind = \"gpconnect\"\nenvironment = \"demo\"\npatient = \"9434765919\"\n",
    )
    .unwrap();
    let out = run(pathwatch(&data).arg("--config").arg(&config).args(["canary", "run", "book"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("canaries.flows[0].patient") && stderr.contains("not a designated synthetic patient"),
        "{stderr}"
    );
}

#[test]
fn synthetic_patients_are_printed_reproducibly_and_morphs_are_named() {
    let (_tmp, data) = temp_dir();
    let first = run(pathwatch(&data).args(["patients", "--count", "5", "--seed", "7"]));
    assert!(first.status.success());
    let again = run(pathwatch(&data).args(["patients", "--count", "5", "--seed", "7"]));
    assert_eq!(first.stdout, again.stdout, "same seed, same patients");
    let records: Vec<serde_json::Value> =
        String::from_utf8_lossy(&first.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 5);
    for record in &records {
        assert_eq!(record["resourceType"], "Patient");
        let id = record["id"].as_str().unwrap();
        assert!(id.starts_with("999") && domain::NhsNumber::parse(id).is_ok(), "{id}");
    }
    let morphed = run(pathwatch(&data).args(["patients", "--count", "1", "--morph", "invalid-nhs-number"]));
    let record: serde_json::Value = serde_json::from_slice(&morphed.stdout).unwrap();
    assert!(domain::NhsNumber::parse(record["id"].as_str().unwrap()).is_err());
    let bad = run(pathwatch(&data).args(["patients", "--morph", "grumpy"]));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr.contains("unknown --morph \"grumpy\"") && stderr.contains("superseded"), "{stderr}");
}
